"""`StreamingPipelineManager`: the library's front end over the one runtime core.

A pipeline (a list of node configs, see `StreamingValidator.validate_streaming_pipeline_config`)
becomes a `RunPlan` and runs under the same `RunSupervisor` and `SparkQueryEngine` as
`tauro run`: the same node states (pending, starting, running, succeeded, failed, skipped,
stopped), the same start rules (a bounded node starts when its upstreams succeeded; a
continuous node when its upstreams run and their output exists, an empty Delta table being
created when needed), the same `on_failure` restarts with backoff, the same failure
explanation, and downstream-first stops. The one difference: the library has no `ref`, so a
node depends on another when its input path or table is the other's output (locations
compared as `streaming.collisions` compares sinks).

Each pipeline is supervised by one thread of a pool of `max_concurrent_pipelines`; more
pipelines queue until a thread is free.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.collisions import location_key
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.context import StreamingContext, spark_from_context
from tauro_compile.streaming.exceptions import (
    StreamingPipelineError,
    StreamingValidationError,
    create_error_context,
    handle_streaming_error,
)
from tauro_compile.streaming.plan import CycleError, PlannedNode, RunPlan, topological_generations
from tauro_compile.streaming.state import NodeRecord, NodeState
from tauro_compile.streaming.supervisor import RunOutcome, RunSupervisor
from tauro_compile.streaming.validators import StreamingValidator

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tauro_compile.streaming.engine import QueryEngine

EngineFactory = Callable[[RunPlan, str], "QueryEngine"]


@dataclass
class PipelineRun:
    """One execution of a pipeline: its plan, its supervisor and how it ended."""

    execution_id: str
    pipeline_name: str
    plan: RunPlan
    supervisor: RunSupervisor
    engine: QueryEngine
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    outcome: RunOutcome | None = None
    error: str | None = None
    future: Future[None] | None = None

    @property
    def state(self) -> str:
        """pending, running, then how the run ended: succeeded, failed or stopped."""
        if self.error is not None:
            return "failed"
        if self.outcome is not None:
            return self.outcome.status
        return "running" if self.started_at is not None else "pending"


class StreamingPipelineManager:
    """Starts, watches and stops streaming pipelines (lists of nodes) on one SparkSession."""

    def __init__(self, context: Any, max_concurrent_pipelines: int = 5, *,
                 poll_interval: float = 0.5, engine_factory: EngineFactory | None = None) -> None:
        """`engine_factory(plan, execution_id)` replaces the Spark engine (tests, embedding)."""
        if max_concurrent_pipelines < 1:
            raise ValueError("max_concurrent_pipelines must be at least 1")
        self.context = StreamingContext.of(context)
        self.max_concurrent_pipelines = max_concurrent_pipelines
        self.poll_interval = poll_interval
        self.validator = StreamingValidator(self.context.format_policy,
                                            project_dir=self.context.project_dir)
        self._engine_factory = engine_factory or self._spark_engine
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent_pipelines,
                                            thread_name_prefix="tauro-pipeline")
        self._runs: dict[str, PipelineRun] = {}

    @handle_streaming_error(StreamingPipelineError)
    def start_pipeline(self, pipeline_name: str, pipeline_config: Mapping[str, Any]) -> str:
        """Validate the pipeline and start supervising it; returns its execution id."""
        nodes = self.validator.validate_streaming_pipeline_config(pipeline_config)
        execution_id = f"{pipeline_name}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        plan = pipeline_plan(pipeline_name, nodes, self.context)
        engine = self._engine_factory(plan, execution_id)
        supervisor = RunSupervisor(plan, engine, poll_interval=self.poll_interval)
        run = PipelineRun(execution_id, pipeline_name, plan, supervisor, engine)
        self._runs[execution_id] = run
        run.future = self._executor.submit(self._supervise, run)
        return execution_id

    def status(self, execution_id: str) -> dict[str, Any]:
        """State of the pipeline and, per node, state, query id and last progress."""
        run = self._run(execution_id)
        records = run.supervisor.state.snapshot()
        return {
            "execution_id": run.execution_id, "pipeline_name": run.pipeline_name,
            "state": run.state, "started_at": run.started_at, "ended_at": run.ended_at,
            "error": run.error,
            "nodes": {r.name: self._node_status(run, r) for r in records},
        }

    def get_results(self, execution_id: str) -> dict[str, Any]:
        """Status plus per-node totals: batches, rows in, rows out, duration."""
        result = self.status(execution_id)
        run = self._run(execution_id)
        now = time.time()
        for record in run.supervisor.state.snapshot():
            result["nodes"][record.name].update(
                completed=record.state is NodeState.SUCCEEDED, batches=record.batches,
                rows_in=record.rows_in, rows_out=record.written_rows(),
                duration_s=record.duration_s(now))
        result["completed"] = result["state"] == "succeeded"
        result["duration_s"] = (None if run.started_at is None
                                else round((run.ended_at or now) - run.started_at, 3))
        return result

    def wait_for_pipeline(self, execution_id: str, timeout: float | None = None) -> bool:
        """Wait until every node of the pipeline has ended; True when it has."""
        run = self._run(execution_id)
        assert run.future is not None
        try:
            run.future.result(timeout)
        except FutureTimeout:
            return False
        return True

    def stop_pipeline(self, execution_id: str, timeout: float = 60) -> bool:
        """Stop every running query (downstream first); True when all stopped within `timeout`."""
        run = self._run(execution_id)
        run.supervisor.request_stop("stopped by stop_pipeline")
        return self.wait_for_pipeline(execution_id, timeout)

    def executions(self) -> list[str]:
        """Execution ids known to this manager, oldest first."""
        return list(self._runs)

    def shutdown(self, timeout: float = 60) -> None:
        """Stop every pipeline and release the supervising threads."""
        for execution_id, run in self._runs.items():
            if run.state in ("pending", "running"):
                self.stop_pipeline(execution_id, timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- internals ---------------------------------------------------------------------------

    def _spark_engine(self, plan: RunPlan, execution_id: str) -> QueryEngine:
        from tauro_compile.streaming.spark_engine import SparkQueryEngine

        return SparkQueryEngine(spark_from_context(self.context), plan,
                                execution_id=execution_id, context=self.context,
                                validator=self.validator)

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

    @staticmethod
    def _supervise(run: PipelineRun) -> None:
        run.started_at = time.time()
        try:
            run.outcome = run.supervisor.run()
        except Exception as exc:  # a bug here must still end the run visibly
            run.error = f"{type(exc).__name__}: {exc}"
            run.engine.stop_all()
        run.ended_at = time.time()

    @staticmethod
    def _node_status(run: PipelineRun, record: NodeRecord) -> dict[str, Any]:
        node = run.plan.node(record.name)
        started = None
        manager = getattr(run.engine, "manager", None)
        if manager is not None:
            started = manager.started_query(node.config.query_name)
        query = started.query if started is not None else None
        return {
            "state": record.state.value,
            "query_name": node.config.query_name,
            "query_id": str(query.id) if query is not None else None,
            "run_id": str(query.runId) if query is not None else None,
            "checkpoint_location": (started.checkpoint_location if started is not None
                                    else record.checkpoint_location),
            "upstreams": list(node.depends_on),
            "last_progress": _last_progress(query),
            "error": record.error_summary or record.error,
            "reason": record.reason,
            "restarts": max(record.attempts - 1, 0),
            "started_at": record.started_at,
            "ended_at": record.ended_at,
        }


def _last_progress(query: Any) -> dict[str, Any] | None:
    """Spark's own last progress document of the query (as `query.lastProgress` gives it)."""
    if query is None:
        return None
    try:
        progress = query.lastProgress
    except Exception:  # a query whose JVM side is gone has nothing more to say
        return None
    return dict(progress) if progress is not None else None


def pipeline_plan(pipeline_name: str, nodes: list[NodeConfig], context: Any) -> RunPlan:
    """The RunPlan of a library pipeline: edges from paths, ids `<pipeline>.<node>`."""
    project_dir = Path(str(StreamingContext.of(context).project_dir or "."))
    edges = {n.name: tuple(upstreams(n, nodes)) for n in nodes}
    try:
        topological_generations(edges)
    except CycleError as exc:
        raise StreamingValidationError(
            f"pipeline '{pipeline_name}': its nodes read each other's outputs in a circle: "
            + " --> ".join(exc.cycle),
            context=create_error_context("pipeline_plan", "StreamingPipelineManager",
                                         field="nodes", expected="no cycle between nodes",
                                         actual=" --> ".join(exc.cycle)),
            hint="a node's input may not be (directly or not) its own output",
        ) from None
    return RunPlan(
        project_name=pipeline_name, project_dir=project_dir, target_dir=project_dir / "target",
        profile="library",
        nodes=tuple(PlannedNode(name=n.name, unique_id=f"{pipeline_name}.{n.name}", config=n,
                                depends_on=edges[n.name]) for n in nodes),
    )


def upstreams(node: NodeConfig, nodes: list[NodeConfig]) -> list[str]:
    """Names of the nodes whose output is this node's input (same path or table)."""
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
