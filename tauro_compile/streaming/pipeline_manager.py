"""`StreamingPipelineManager`: start a few nodes together and watch them until they end.

Deliberately modest (the runner owns real orchestration): a node depends on another when its
input path or table is the other's output. Nodes start in the given order as soon as their
upstreams allow: a bounded upstream (once / available_now) must have *completed*, an
unbounded one must be running and have finished a batch. A failed node restarts after its
backoff when its `on_failure` policy says so (`action: restart`, `max_restarts`, doubling
`backoff`: the same rule as `tauro run`); a node that cannot run as configured (a validation
error at start) is not restarted. A node whose upstream failed is skipped. Node states: pending, starting, running, completed, failed, stopped, skipped, where
"completed" means the query ended by itself without an exception.

Each pipeline is supervised by one thread of a pool of `max_concurrent_pipelines`; more
pipelines queue until a thread is free.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.collisions import location_key
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.context import context_value
from tauro_compile.streaming.exceptions import (
    StreamingError,
    StreamingPipelineError,
    StreamingValidationError,
    create_error_context,
    handle_streaming_error,
)
from tauro_compile.streaming.query_manager import StreamingQueryManager, explain_query_failure
from tauro_compile.streaming.validators import StreamingValidator
from tauro_compile.streaming.writers import rows_out

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyspark.sql.streaming import StreamingQuery

TERMINAL = frozenset({"completed", "failed", "stopped", "skipped"})
UPSTREAM_WAIT_SECONDS = 300.0


@dataclass
class NodeRun:
    """One node of a pipeline execution."""

    config: NodeConfig
    upstreams: list[str] = field(default_factory=list)
    state: str = "pending"
    query: StreamingQuery | None = None
    checkpoint_location: str | None = None
    error: str | None = None
    error_hint: str | None = None
    reason: str | None = None
    stop_requested: bool = False
    started_at: float | None = None
    ended_at: float | None = None
    batches: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_progress: dict[str, Any] | None = None
    restarts: int = 0
    not_before: float | None = None   # a restart waits for its backoff

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class PipelineRun:
    """One execution of a pipeline."""

    execution_id: str
    pipeline_name: str
    nodes: dict[str, NodeRun]
    queries: StreamingQueryManager
    state: str = "pending"
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    error: str | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.RLock = field(default_factory=threading.RLock)
    future: Future[None] | None = None


class StreamingPipelineManager:
    """Starts, watches and stops streaming pipelines (lists of nodes) on one SparkSession."""

    def __init__(self, context: Any, max_concurrent_pipelines: int = 5, *,
                 poll_interval: float = 0.5) -> None:
        if max_concurrent_pipelines < 1:
            raise ValueError("max_concurrent_pipelines must be at least 1")
        self.context = context
        self.max_concurrent_pipelines = max_concurrent_pipelines
        self.poll_interval = poll_interval
        self.validator = StreamingValidator(context_value(context, "format_policy"))
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent_pipelines,
                                            thread_name_prefix="tauro-pipeline")
        self._runs: dict[str, PipelineRun] = {}

    @handle_streaming_error(StreamingPipelineError)
    def start_pipeline(self, pipeline_name: str, pipeline_config: Mapping[str, Any]) -> str:
        """Validate the pipeline and start supervising it; returns its execution id."""
        nodes = self.validator.validate_streaming_pipeline_config(pipeline_config)
        execution_id = f"{pipeline_name}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        runs = {n.name: NodeRun(n) for n in nodes}
        for node_run in runs.values():
            node_run.upstreams = _upstreams(node_run.config, nodes)
        run = PipelineRun(execution_id, pipeline_name, runs, StreamingQueryManager(
            self.context, validator=self.validator))
        self._runs[execution_id] = run
        run.future = self._executor.submit(self._supervise, run)
        return execution_id

    def status(self, execution_id: str) -> dict[str, Any]:
        """State of the pipeline and, per node, state, query id and last progress."""
        run = self._run(execution_id)
        with run.lock:
            return {
                "execution_id": run.execution_id, "pipeline_name": run.pipeline_name,
                "state": run.state, "started_at": run.started_at, "ended_at": run.ended_at,
                "error": run.error,
                "nodes": {name: _node_status(n) for name, n in run.nodes.items()},
            }

    def get_results(self, execution_id: str) -> dict[str, Any]:
        """Status plus per-node totals: batches, rows in, rows out, duration."""
        result = self.status(execution_id)
        run = self._run(execution_id)
        with run.lock:
            for name, node in run.nodes.items():
                batches = list(node.batches.values())
                outs = [b["rows_out"] for b in batches if b.get("rows_out") is not None]
                result["nodes"][name].update(
                    completed=node.state == "completed", batches=len(batches),
                    rows_in=sum(b.get("numInputRows") or 0 for b in batches),
                    rows_out=sum(outs) if outs else None,
                    duration_s=_duration(node.started_at, node.ended_at))
        result["completed"] = result["state"] == "completed"
        result["duration_s"] = _duration(result["started_at"], result["ended_at"])
        return result

    def wait_for_pipeline(self, execution_id: str, timeout: float | None = None) -> bool:
        """Wait until every node of the pipeline has ended; True when it has."""
        run = self._run(execution_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while run.state not in TERMINAL:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(min(self.poll_interval, 0.2))
        return True

    def stop_pipeline(self, execution_id: str, timeout: float = 60) -> bool:
        """Stop every running query (downstream first); True when all stopped within `timeout`."""
        run = self._run(execution_id)
        deadline = time.monotonic() + timeout
        with run.lock:
            run.stop_event.set()
            running = [n for n in run.nodes.values() if n.query is not None and n.query.isActive]
            for node in running:
                node.stop_requested = True
        for node in reversed(running):
            remaining = max(deadline - time.monotonic(), 0.1)
            run.queries.stop_query(node.config.query_name, timeout=remaining)
        while run.state not in TERMINAL and time.monotonic() < deadline:
            time.sleep(0.05)
        return all(n.query is None or not n.query.isActive for n in run.nodes.values())

    def executions(self) -> list[str]:
        """Execution ids known to this manager, oldest first."""
        return list(self._runs)

    def shutdown(self, timeout: float = 60) -> None:
        """Stop every pipeline and release the supervising threads."""
        for execution_id, run in self._runs.items():
            if run.state not in TERMINAL:
                self.stop_pipeline(execution_id, timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- supervision ------------------------------------------------------------------------

    def _run(self, execution_id: str) -> PipelineRun:
        run = self._runs.get(execution_id)
        if run is None:
            raise StreamingPipelineError(
                f"unknown pipeline execution '{execution_id}'",
                context=create_error_context("lookup", type(self).__name__,
                                             execution_id=execution_id),
                hint=f"known executions: {', '.join(self._runs) or 'none'}",
            )
        return run

    def _supervise(self, run: PipelineRun) -> None:
        with run.lock:
            run.state, run.started_at = "running", time.time()
        try:
            while True:
                with run.lock:
                    for node in run.nodes.values():
                        _refresh(node, run.stop_event.is_set())
                    self._start_ready(run)
                    if all(n.state in TERMINAL for n in run.nodes.values()):
                        break
                time.sleep(self.poll_interval)
        except Exception as exc:  # a bug here must still end the run visibly
            run.error = f"{type(exc).__name__}: {exc}"
        with run.lock:
            run.ended_at = time.time()
            run.state = _pipeline_state(run)

    def _start_ready(self, run: PipelineRun) -> None:
        for node in run.nodes.values():
            if node.state != "pending":
                continue
            if run.stop_event.is_set():
                node.state, node.reason = "skipped", "the pipeline was stopped before it started"
                continue
            if node.not_before is not None and time.time() < node.not_before:
                continue
            ready, skip_reason = _upstreams_ready(node, run.nodes)
            if skip_reason:
                node.state, node.reason = "skipped", skip_reason
                node.ended_at = time.time()
            elif ready:
                self._start_node(run, node)

    def _start_node(self, run: PipelineRun, node: NodeRun) -> None:
        node.state, node.started_at = "starting", time.time()
        try:
            node.query = run.queries.create_and_start_query(
                node.config, run.execution_id, run.pipeline_name)
        except StreamingError as exc:
            # A node that cannot run as configured is not restarted; anything else may be.
            node.ended_at = time.time()
            _failed(node, exc.message, exc.hint,
                    retry=not isinstance(exc, StreamingValidationError))
            return
        started = run.queries.started_query(node.config.query_name)
        node.checkpoint_location = started.checkpoint_location if started else None
        node.state = "running"


def _refresh(node: NodeRun, stopping: bool) -> None:
    """Collect new progress of a running node and notice when its query ended."""
    if node.state != "running" or node.query is None:
        return
    query = node.query
    for progress in query.recentProgress:
        data = _progress_dict(progress)
        batch_id = data.get("batchId")
        if batch_id is not None:
            node.batches[int(batch_id)] = {
                "numInputRows": data.get("numInputRows"), "rows_out": rows_out(data),
                "timestamp": data.get("timestamp"),
                "durationMs": (data.get("durationMs") or {}).get("triggerExecution"),
            }
        node.last_progress = data
    if query.isActive:
        return
    node.ended_at = time.time()
    exc = query.exception()
    if exc is not None:
        explained = explain_query_failure(exc, node.name, node.checkpoint_location or "")
        _failed(node, explained.message, explained.hint, retry=not stopping)
    elif node.stop_requested or stopping:
        node.state = "stopped"
    else:
        node.state = "completed"


def _failed(node: NodeRun, error: str, hint: str | None, *, retry: bool) -> None:
    """The node failed: back to pending after its backoff if its `on_failure` policy allows
    another restart (the same rule as `tauro run`), else failed."""
    delay = node.config.on_failure.restart_delay(node.restarts) if retry else None
    node.error, node.error_hint = error, hint
    if delay is None:
        node.state = "failed"
        return
    node.restarts += 1
    node.state, node.query, node.not_before = "pending", None, time.time() + delay
    node.reason = (f"restart {node.restarts}/{node.config.on_failure.max_restarts} in "
                   f"{delay:g}s after: {error.splitlines()[0] if error else 'a failure'}")


def _upstreams_ready(node: NodeRun, nodes: dict[str, NodeRun]) -> tuple[bool, str | None]:
    """(ready to start, reason to skip instead)."""
    for name in node.upstreams:
        up = nodes[name]
        if up.state in ("failed", "skipped") or (up.state == "stopped"):
            return False, f"upstream node '{name}' {up.state}"
        if up.config.streaming.trigger.bounded:
            if up.state != "completed":
                return False, None
        elif up.state == "running":
            waited = time.time() - (up.started_at or time.time())
            if not up.batches and waited < UPSTREAM_WAIT_SECONDS:
                return False, None
        elif up.state != "completed":
            return False, None
    return True, None


def _upstreams(node: NodeConfig, nodes: list[NodeConfig]) -> list[str]:
    """Names of the nodes whose output is this node's input (same path or table, compared as
    the collision rule compares sinks). The library has no `ref`, so paths are the edges."""
    mine = _location(node.input.path, node.input.table_name)
    if mine is None:
        return []
    return [other.name for other in nodes if other.name != node.name
            and _location(other.output.path, other.output.table_name) == mine]


def _location(path: str | None, table_name: str | None) -> tuple[str, str] | None:
    if table_name:
        return ("table", table_name.lower())
    if path:
        return ("path", location_key(path))
    return None


def _pipeline_state(run: PipelineRun) -> str:
    states = {n.state for n in run.nodes.values()}
    if run.error or "failed" in states:
        return "failed"
    if run.stop_event.is_set():
        return "stopped"
    return "completed" if states == {"completed"} else "failed"


def _node_status(node: NodeRun) -> dict[str, Any]:
    query = node.query
    return {
        "state": node.state,
        "query_name": node.config.query_name,
        "query_id": str(query.id) if query is not None else None,
        "run_id": str(query.runId) if query is not None else None,
        "checkpoint_location": node.checkpoint_location,
        "upstreams": list(node.upstreams),
        "last_progress": node.last_progress,
        "error": node.error,
        "hint": node.error_hint,
        "reason": node.reason,
        "restarts": node.restarts,
        "started_at": node.started_at,
        "ended_at": node.ended_at,
    }


def _progress_dict(progress: Any) -> dict[str, Any]:
    text = getattr(progress, "json", None)
    if isinstance(text, str):
        return dict(json.loads(text))
    return dict(progress) if progress is not None else {}


def _duration(start: float | None, end: float | None) -> float | None:
    if start is None:
        return None
    return round((end or time.time()) - start, 3)
