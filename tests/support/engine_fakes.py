"""Fakes for the streaming core's QueryEngine protocol: a scripted clock, engine and query handles."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.engine import NodeStartError, OutputPreview
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.state import BatchProgress


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Script:
    """How one node's query behaves, per attempt."""

    # Seconds after start when the query ends by itself (None: runs until stopped).
    ends_after: float | None = None
    # Error text per attempt (index = attempt - 1); missing or None: no error.
    errors: list[str | None] = field(default_factory=list)
    # Start failures per attempt (NodeStartError or None).
    start_errors: list[NodeStartError | None] = field(default_factory=list)
    batches: list[BatchProgress] = field(default_factory=list)


class FakeHandle:
    def __init__(self, engine: FakeEngine, name: str, script: Script, attempt: int) -> None:
        self.engine = engine
        self.name = name
        self.script = script
        self.attempt = attempt
        self.started = engine.clock()
        self.stopped = False
        self._delivered = 0

    @property
    def _ended(self) -> bool:
        return (self.script.ends_after is not None
                and self.engine.clock() - self.started >= self.script.ends_after)

    @property
    def is_active(self) -> bool:
        return not self.stopped and not self._ended

    def exception(self) -> str | None:
        if self.stopped or not self._ended:
            return None
        errs = self.script.errors
        return errs[self.attempt - 1] if self.attempt - 1 < len(errs) else None

    def new_progress(self) -> list[BatchProgress]:
        # Every poll re-delivers all batches seen so far, to prove the supervisor deduplicates.
        return list(self.script.batches)

    def stop(self) -> None:
        self.stopped = True
        self.engine.stop_order.append(self.name)

    def await_termination(self, timeout: float) -> bool:
        self.engine.clock.sleep(timeout)
        return not self.is_active


class FakeEngine:
    def __init__(self, clock: FakeClock, scripts: dict[str, Script] | None = None,
                 outputs: set[str] | None = None) -> None:
        self.clock = clock
        self.scripts = scripts or {}
        self.outputs = set(outputs or ())
        self.start_log: list[tuple[str, float]] = []
        self.stop_order: list[str] = []
        self.ensured: list[str] = []
        self.attempts: dict[str, int] = {}
        self.handles: dict[str, FakeHandle] = {}
        self.on_batch_result = None
        self.stopped_all = False

    def start(self, node: PlannedNode) -> FakeHandle:
        attempt = self.attempts.get(node.name, 0) + 1
        self.attempts[node.name] = attempt
        self.start_log.append((node.name, self.clock()))
        script = self.scripts.get(node.name, Script())
        errs = script.start_errors
        if attempt - 1 < len(errs) and errs[attempt - 1] is not None:
            raise errs[attempt - 1]
        handle = FakeHandle(self, node.name, script, attempt)
        self.handles[node.name] = handle
        return handle

    def output_exists(self, node: PlannedNode) -> bool:
        return node.name in self.outputs

    def ensure_output(self, node: PlannedNode) -> bool:
        if node.name not in self.outputs:
            self.ensured.append(node.name)
            self.outputs.add(node.name)
        return True

    def preview_output(self, node: PlannedNode, limit: int) -> OutputPreview | None:
        return None

    def stop_all(self) -> None:
        self.stopped_all = True

    def started(self) -> list[str]:
        return [name for name, _ in self.start_log]


def node(name: str, *deps: str, trigger: str = "available_now", on_failure: dict[str, Any] | None = None) -> PlannedNode:
    streaming: dict[str, Any] = {"trigger": {"type": trigger},
                                 "checkpoint_location": f"/ckpt/{name}"}
    if trigger == "processing_time":
        streaming["trigger"]["interval"] = "1 second"
    config = NodeConfig.model_validate({
        "name": name,
        "input": {"format": "rate"},
        "output": {"format": "delta", "path": f"/out/{name}"},
        "streaming": streaming,
        "on_failure": on_failure or {},
    })
    return PlannedNode(name=name, unique_id=f"proj.{name}", config=config, depends_on=tuple(deps))


def plan(*nodes: PlannedNode, fail_fast: bool = False, target: Path | None = None) -> RunPlan:
    return RunPlan(project_name="proj", project_dir=Path("."), target_dir=target or Path("target"),
                   profile="dev", nodes=tuple(nodes), fail_fast=fail_fast)


def progress(batch_id: int, rows: int) -> BatchProgress:
    return BatchProgress(batch_id=batch_id, input_rows=rows, input_rows_per_second=10.0,
                         processed_rows_per_second=20.0, duration_ms=100, rows_out=rows)
