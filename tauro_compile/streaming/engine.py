"""The narrow interface between the supervisor and whatever runs queries (Spark, or a fake).

The supervisor only ever talks to a `QueryEngine` and the `QueryHandle`s it returns, so the
state machine and the start-order rules are unit-tested without a JVM, and the Spark
implementation (`streaming.spark_engine`) is tested on real Spark.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tauro_compile.streaming.plan import PlannedNode
from tauro_compile.streaming.state import BatchProgress


class NodeStartError(Exception):
    """A node's query could not be started; `retryable` is False for configuration problems."""

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None,
                 retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.hint = hint
        self.retryable = retryable


class QueryHandle(Protocol):
    """One started query."""

    @property
    def is_active(self) -> bool: ...

    def exception(self) -> str | None:
        """The full error text when the query terminated with an exception, else None."""

    def new_progress(self) -> list[BatchProgress]:
        """Executed batches reported since the last call (may repeat; the caller deduplicates)."""

    def stop(self) -> None:
        """Stop the query and wait until it has stopped."""

    def await_termination(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds; True when the query is no longer active."""

    def activity(self) -> QueryActivity:
        """When the query last reported progress of any kind, and its input backlog then."""


class QueryEngine(Protocol):
    """Starts nodes' queries and answers questions about their outputs.

    `on_batch_result`, set by the supervisor, receives each batch's details that progress
    events do not carry (contract results, dead letters, rows written per output).
    """

    on_batch_result: Callable[[str, dict[str, Any]], None] | None

    def start(self, node: PlannedNode) -> QueryHandle:
        """Start the node's query; raise NodeStartError when it cannot start."""

    def output_exists(self, node: PlannedNode) -> bool:
        """True when a downstream node can start reading this node's output now."""

    def ensure_output(self, node: PlannedNode) -> bool:
        """Make this node's output readable downstream (e.g. an empty Delta table); True if it is."""

    def preview_output(self, node: PlannedNode, limit: int) -> OutputPreview | None:
        """A few rows of the node's output, or None when it cannot be read back."""

    def input_up_to_date(self, node: PlannedNode) -> str | None:
        """Why a bounded node's query would find no new input now (the reason shown), or
        None when it may have some (or the engine cannot tell): then it is started."""

    def driver_exit(self) -> str | None:
        """Why the engine's driver is gone (e.g. the Spark driver JVM exited), else None."""

    def stop_all(self) -> None:
        """Stop every query still running (a last resort when the supervisor itself failed)."""


@dataclass(frozen=True)
class QueryActivity:
    """What a query last said about itself, idle progress events included (stall detection)."""

    last_event_at: float | None = None     # epoch seconds of its latest progress event
    backlog: int | None = None             # input not yet processed then (records or files)


@dataclass(frozen=True)
class OutputPreview:
    """The first rows of a node's output, for the end-of-run summary."""

    location: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    total_rows: int | None = None
