"""Per-node run state: an explicit state machine and the record the runner keeps for each node.

States and the transitions allowed between them:

    pending  -> starting | skipped | stopped | failed (the Spark driver exited)
    starting -> running | failed | pending (restart after a failed start) | stopped
    running  -> succeeded | failed | pending (restart after a failed query) | stopped | stalled
    stalled  -> running (progress again) | succeeded | failed | pending | stopped
    succeeded, failed, skipped, stopped: terminal

`stalled` is a running query that made no progress for its `stall_after` (see the supervisor).

An illegal transition is a bug in the runner, so it raises `IllegalTransition`.
Every record is guarded by one lock per `RunState`, so the supervisor loop, the batch
listener (called from Spark's foreachBatch threads) and the results writer can share it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class NodeState(StrEnum):
    """Where one node is in its life during a run."""

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"
    STALLED = "stalled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def active(self) -> bool:
        """True while the node's query is started (running or stalled)."""
        return self in (NodeState.RUNNING, NodeState.STALLED)


TERMINAL_STATES = frozenset({NodeState.SUCCEEDED, NodeState.FAILED, NodeState.SKIPPED,
                             NodeState.STOPPED})

ALLOWED_TRANSITIONS: dict[NodeState, frozenset[NodeState]] = {
    NodeState.PENDING: frozenset({NodeState.STARTING, NodeState.SKIPPED, NodeState.STOPPED,
                                  NodeState.FAILED}),
    NodeState.STARTING: frozenset({NodeState.RUNNING, NodeState.FAILED, NodeState.PENDING,
                                   NodeState.STOPPED}),
    NodeState.RUNNING: frozenset({NodeState.SUCCEEDED, NodeState.FAILED, NodeState.PENDING,
                                  NodeState.STOPPED, NodeState.STALLED}),
    NodeState.STALLED: frozenset({NodeState.RUNNING, NodeState.SUCCEEDED, NodeState.FAILED,
                                  NodeState.PENDING, NodeState.STOPPED}),
    NodeState.SUCCEEDED: frozenset(),
    NodeState.FAILED: frozenset(),
    NodeState.SKIPPED: frozenset(),
    NodeState.STOPPED: frozenset(),
}

BATCH_RESULTS_KEPT = 50


# Numbers in a batch result that identify something rather than count it.
_NOT_COUNTS = frozenset({"batch_id", "version", "txn_version"})


def _numeric_leaves(data: dict[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    """(`a.b.c`, number) for every count nested in a batch result (no bools, no ids)."""
    leaves: list[tuple[str, float]] = []
    for key, value in data.items():
        if key in _NOT_COUNTS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves += _numeric_leaves(value, name + ".")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            leaves.append((name, value))
    return leaves


def _add_totals(record: NodeRecord, counts: Iterable[tuple[str, float]]) -> None:
    for key, value in counts:
        record.batch_totals[key] = record.batch_totals.get(key, 0) + value


class IllegalTransition(RuntimeError):
    """The runner tried a state change the state machine forbids (a bug, not a user error)."""


@dataclass(frozen=True)
class BatchProgress:
    """One executed micro-batch as Spark reported it."""

    batch_id: int
    input_rows: int
    input_rows_per_second: float | None = None
    processed_rows_per_second: float | None = None
    duration_ms: int | None = None
    rows_out: int | None = None
    timestamp: str | None = None
    # Records behind the latest offsets per Kafka topic when the batch was planned.
    kafka_lag: dict[str, int] | None = None
    # Files (Delta: numFilesOutstanding) not yet processed, when the source reports it.
    backlog_files: int | None = None
    watermark: str | None = None           # ISO time of the event-time watermark
    state_rows: int | None = None          # rows in the state stores (stateful queries)
    parse_dropped: int | None = None       # kafka records dropped by `on_parse_error: drop`

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "input_rows": self.input_rows,
            "input_rows_per_second": self.input_rows_per_second,
            "processed_rows_per_second": self.processed_rows_per_second,
            "duration_ms": self.duration_ms,
            "rows_out": self.rows_out,
            "timestamp": self.timestamp,
            "kafka_lag": self.kafka_lag,
            "backlog_files": self.backlog_files,
            "watermark": self.watermark,
            "state_rows": self.state_rows,
        }


@dataclass
class NodeRecord:
    """What the runner knows about one node; read it through `RunState.snapshot()`."""

    name: str
    unique_id: str
    bounded: bool
    checkpoint_location: str | None = None
    state: NodeState = NodeState.PENDING
    reason: str | None = None
    attempts: int = 0
    started_at: float | None = None
    ended_at: float | None = None
    batches: int = 0
    rows_in: int = 0
    rows_out: int | None = None
    last_progress: BatchProgress | None = None
    error: str | None = None
    error_summary: str | None = None
    not_before: float | None = None          # a pending restart waits until then
    last_batch_at: float | None = None       # when the runner saw the last new batch
    last_event_at: float | None = None       # when the query last reported progress (idle too)
    stalled_since: float | None = None
    stalls: int = 0
    parse_dropped: int = 0
    batch_results: deque[dict[str, Any]] = field(
        default_factory=lambda: deque(maxlen=BATCH_RESULTS_KEPT))
    batch_totals: dict[str, float] = field(default_factory=dict)
    seen_batch_ids: set[int] = field(default_factory=set)
    # Counts of batches written but not yet committed (no progress seen): summed into
    # batch_totals when Spark reports the batch; dropped if the query stops first, since
    # Spark replays that batch on the next start (where it is counted once).
    uncommitted_totals: dict[int, list[tuple[str, float]]] = field(default_factory=dict)

    def copy(self) -> NodeRecord:
        """A detached copy, safe to read without the lock."""
        return NodeRecord(
            name=self.name, unique_id=self.unique_id, bounded=self.bounded,
            checkpoint_location=self.checkpoint_location, state=self.state, reason=self.reason,
            attempts=self.attempts, started_at=self.started_at, ended_at=self.ended_at,
            batches=self.batches, rows_in=self.rows_in, rows_out=self.rows_out,
            last_progress=self.last_progress, error=self.error,
            error_summary=self.error_summary, not_before=self.not_before,
            last_batch_at=self.last_batch_at, last_event_at=self.last_event_at,
            stalled_since=self.stalled_since, stalls=self.stalls,
            parse_dropped=self.parse_dropped,
            batch_results=deque(self.batch_results, maxlen=BATCH_RESULTS_KEPT),
            batch_totals=dict(self.batch_totals), seen_batch_ids=set(),
        )

    @property
    def restarts(self) -> int:
        """Query starts after the first (restarts after failures or stalls)."""
        return max(self.attempts - 1, 0)

    def written_rows(self) -> int | None:
        """Rows written to the node's output: the foreachBatch writer's count of its main
        output when it reported one (a contract may have quarantined rows the query saw),
        else the `tauro_rows_out` metric."""
        main = self.batch_totals.get("outputs.main.rows")
        return int(main) if main is not None else self.rows_out

    def duration_s(self, now: float) -> float | None:
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else now
        return round(end - self.started_at, 3)


class RunState:
    """Every node's record, in plan order, behind one lock."""

    def __init__(self, records: Iterable[NodeRecord], clock: Any = None) -> None:
        import time

        self._clock = clock or time.time
        self._lock = threading.RLock()
        self._records: dict[str, NodeRecord] = {r.name: r for r in records}
        self._listeners: list[Any] = []

    def on_change(self, callback: Any) -> None:
        """Call `callback(name, old_state, new_state, record_copy)` after every transition."""
        self._listeners.append(callback)

    @property
    def names(self) -> list[str]:
        return list(self._records)

    def state(self, name: str) -> NodeState:
        with self._lock:
            return self._records[name].state

    def get(self, name: str) -> NodeRecord:
        with self._lock:
            return self._records[name].copy()

    def snapshot(self) -> list[NodeRecord]:
        with self._lock:
            return [r.copy() for r in self._records.values()]

    def transition(self, name: str, new: NodeState, *, reason: str | None = None,
                   error: str | None = None, error_summary: str | None = None,
                   not_before: float | None = None) -> None:
        """Move `name` to `new`, or raise IllegalTransition; timestamps follow the state."""
        with self._lock:
            record = self._records[name]
            old = record.state
            if new not in ALLOWED_TRANSITIONS[old]:
                raise IllegalTransition(f"node '{name}': {old.value} -> {new.value} is not allowed")
            now = self._clock()
            record.state = new
            record.reason = reason
            record.not_before = not_before
            if new is NodeState.STARTING:
                record.attempts += 1
                if record.started_at is None:
                    record.started_at = now
            if new is NodeState.RUNNING and old is NodeState.STARTING:
                record.last_batch_at = now        # the stall clock starts with the query
                record.last_event_at = None
            if new is NodeState.STALLED:
                record.stalled_since = now
                record.stalls += 1
            elif old is NodeState.STALLED:
                record.stalled_since = None
            if error is not None:
                record.error = error
                record.error_summary = error_summary
            if new.terminal and record.started_at is not None:
                record.ended_at = now
            copy = record.copy()
        for callback in self._listeners:
            callback(name, old, new, copy)

    def add_progress(self, name: str, progress: BatchProgress) -> bool:
        """Count one executed batch once (deduplicated by batch id); True when it was new."""
        with self._lock:
            record = self._records[name]
            if progress.batch_id in record.seen_batch_ids:
                return False
            record.seen_batch_ids.add(progress.batch_id)
            record.batches += 1
            record.rows_in += progress.input_rows
            record.last_batch_at = self._clock()
            record.parse_dropped += progress.parse_dropped or 0
            if progress.rows_out is not None:
                record.rows_out = (record.rows_out or 0) + progress.rows_out
            _add_totals(record, record.uncommitted_totals.pop(progress.batch_id, ()))
            if record.last_progress is None or progress.batch_id >= record.last_progress.batch_id:
                record.last_progress = progress
            return True

    def mark_event(self, name: str, at: float | None) -> tuple[NodeState, float | None,
                                                                float | None]:
        """Note when the query last reported progress of any kind (idle events included);
        returns (state, last_batch_at, last_event_at) without copying the record."""
        with self._lock:
            record = self._records[name]
            if at is not None and (record.last_event_at is None or at > record.last_event_at):
                record.last_event_at = at
            return record.state, record.last_batch_at, record.last_event_at

    def add_batch_result(self, name: str, result: dict[str, Any]) -> None:
        """Keep the latest per-batch details (contracts, dead letters) and sum their counts
        once the batch is committed, so totals agree with `batches` and `rows_in`.

        The writer reports a batch before Spark commits it: a stop or a failure in between
        leaves a batch Spark will run again, which must not be counted twice. A batch the
        writer aborted (a contract block) never commits and counts at once.
        """
        with self._lock:
            record = self._records.get(name)
            if record is None:
                return
            record.batch_results.append(dict(result))
            counts = _numeric_leaves(result)
            batch_id = result.get("batch_id")
            if result.get("aborted") or batch_id is None or batch_id in record.seen_batch_ids:
                _add_totals(record, counts)
            else:
                record.uncommitted_totals[batch_id] = counts

    def all_terminal(self) -> bool:
        with self._lock:
            return all(r.state.terminal for r in self._records.values())
