"""Run a plan on a SparkSession: supervisor + Spark engine + live display + run_results + signals.

`execute_plan` is what `tauro run` calls once the project is compiled and Spark is up; a
notebook can call it too with its own session. SIGINT/SIGTERM (installed only when called
from the main thread) ask the supervisor to stop every query, downstream first; a second
signal exits at once with code 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.runner.display import (
    is_rich,
    progress_display,
    render_preview,
    render_summary,
)
from tauro_compile.runner.engine import OutputPreview, QueryEngine
from tauro_compile.runner.plan import RunPlan
from tauro_compile.runner.results import RunResultsWriter
from tauro_compile.runner.state import NodeState
from tauro_compile.runner.supervisor import RunOutcome, RunSupervisor

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PREVIEW_ROWS = 5
FORCED_EXIT_CODE = 130


@dataclass
class RunReport:
    """A finished run: its outcome, where the results are, and the previews shown."""

    outcome: RunOutcome
    results_path: Path
    run_id: str
    elapsed_s: float
    previews: dict[str, OutputPreview] = field(default_factory=dict)


def leaf_nodes(plan: RunPlan) -> list[str]:
    """Nodes of the plan that no other node of the plan reads: the run's final outputs."""
    upstream = {up for n in plan.nodes for up in n.depends_on}
    return [n.name for n in plan.nodes if n.name not in upstream]


def execute_plan(plan: RunPlan, spark: SparkSession, console: Any, *, fail_fast: bool = False,
                 invocation: dict[str, Any] | None = None, known_secrets: tuple[str, ...] = (),
                 engine: QueryEngine | None = None, poll_interval: float = 0.2,
                 results_interval: float = 2.0) -> RunReport:
    """Supervise `plan` on `spark` until every node is terminal; print progress and a summary."""
    from tauro_compile.runner.spark_engine import SparkQueryEngine

    writer = RunResultsWriter(plan, invocation={**(invocation or {}), "fail_fast": fail_fast},
                              interval=results_interval, known_secrets=known_secrets)
    spark_engine = engine or SparkQueryEngine(spark, plan, execution_id=writer.run_id)
    supervisor = RunSupervisor(plan, spark_engine, fail_fast=fail_fast,
                               poll_interval=poll_interval)
    if isinstance(spark_engine, SparkQueryEngine):
        spark_engine.on_batch_result = supervisor.state.add_batch_result
    display = progress_display(console)
    supervisor.state.on_change(display.node_changed)
    supervisor.on_batch(display.batch)
    supervisor.on_tick(display.tick)
    supervisor.on_tick(writer.maybe_write)
    writer.write(supervisor.state, "running", final=False)
    started = time.time()
    display.start()
    outcome: RunOutcome | None = None
    try:
        with _stop_on_signals(supervisor):
            outcome = supervisor.run()
    finally:
        display.close()
        if outcome is None:  # a bug in the runner: leave nothing running behind
            if isinstance(spark_engine, SparkQueryEngine):
                spark_engine.stop_all()
            writer.write(supervisor.state, "failed")
    path = writer.write(supervisor.state, outcome.status)
    elapsed = time.time() - started
    # The table first: reading outputs back is a Spark job (seconds on a cold JVM).
    render_summary(console, outcome.status, outcome.records, {}, elapsed)
    previews = {}
    ran = {r.name for r in outcome.records if r.state in (NodeState.SUCCEEDED, NodeState.STOPPED)}
    for name in (n for n in leaf_nodes(plan) if n in ran):
        preview = spark_engine.preview_output(plan.node(name), PREVIEW_ROWS)
        if preview is not None:
            previews[name] = preview
            render_preview(console, name, preview, rich_ok=is_rich(console))
    return RunReport(outcome, path, writer.run_id, elapsed, previews)


@contextlib.contextmanager
def _stop_on_signals(supervisor: RunSupervisor) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop cleanly; second: exit at once. Main thread only.

    The handler writes with os.write: a signal may land while the main thread is inside a
    buffered write to stderr, where a second buffered write would raise.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if len(received) > 1:
            os.write(2, b"\nSecond signal: exiting now without waiting for queries to stop.\n")
            os._exit(FORCED_EXIT_CODE)
        name = signal.Signals(signum).name
        os.write(2, f"\n{name} received: stopping every query (downstream first); "
                    "send it again to exit at once.\n".encode())
        supervisor.request_stop(f"stopped by {name}")

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
