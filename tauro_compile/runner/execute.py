"""Run a plan on a SparkSession: supervisor + Spark engine + live display + run_results + signals.

`execute_plan` is what `tauro run` calls once the project is compiled and Spark is up; a
notebook can call it too with its own session. SIGINT/SIGTERM (installed only when called
from the main thread) ask the supervisor to stop every query, downstream first; a second
signal exits at once with code 130.

Operating a run: with a `RunLock` (taken by `tauro run` before Spark starts) a keeper thread
beats its heartbeat and turns `tauro stop` requests into a clean stop; `metrics_port`
serves Prometheus metrics; `target/events.jsonl` receives the run's history. When the
driver JVM dies, the summary and the final results are written without touching Spark.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.runner.display import (
    is_rich,
    log_batch,
    log_node_change,
    progress_display,
    render_preview,
    render_summary,
)
from tauro_compile.runner.events import EventLog
from tauro_compile.runner.preview import preview_targets
from tauro_compile.runner.results import RunResultsWriter
from tauro_compile.signals import handled_stop_signals
from tauro_compile.streaming.engine import OutputPreview, QueryEngine
from tauro_compile.streaming.plan import RunPlan
from tauro_compile.streaming.supervisor import RunOutcome, RunSupervisor

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.runner.lock import RunLock
    from tauro_compile.runner.metrics import RunMetrics

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


def execute_plan(plan: RunPlan, spark: SparkSession | None, console: Any, *,
                 fail_fast: bool = False, invocation: dict[str, Any] | None = None,
                 known_secrets: tuple[str, ...] = (),
                 engine: QueryEngine | None = None, poll_interval: float = 0.2,
                 results_interval: float = 2.0, lock: RunLock | None = None,
                 metrics_port: int | None = None, metrics_host: str = "0.0.0.0",
                 driver_log: Path | None = None, started_at: float | None = None,
                 preview_rows: int | None = None) -> RunReport:
    """Supervise `plan` on `spark` until every node is terminal; print progress and a summary.

    `engine` replaces the Spark engine (tests; a run with nothing new, where `spark` is None).

    `started_at` is when the whole command started (the summary's time is the wall time
    since then, Spark's start included); the time the queries ran is shown beside it.
    `preview_rows`: rows of each final output read back after the summary (0: none; None:
    the default of `runner.preview`, i.e. only on a terminal and only outputs written to).
    """
    from tauro_compile.streaming.spark_engine import SparkQueryEngine

    writer = RunResultsWriter(plan, invocation={**(invocation or {}), "fail_fast": fail_fast},
                              interval=results_interval, known_secrets=known_secrets,
                              run_id=lock.holder.run_id if lock else None)
    events = EventLog(plan.target_dir, writer.run_id, known_secrets=known_secrets)
    writer.extra["events"] = str(events.path)
    if engine is None:
        if spark is None:
            raise ValueError("execute_plan needs a SparkSession or an engine")
        engine = SparkQueryEngine(spark, plan, execution_id=writer.run_id,
                                  driver_log=driver_log)
    spark_engine = engine
    supervisor = RunSupervisor(plan, spark_engine, fail_fast=fail_fast,
                               poll_interval=poll_interval)
    display = progress_display(console)
    if isinstance(spark_engine, SparkQueryEngine):
        spark_engine.printer = display.print_above
        writer.extra["driver"] = {"pid": spark_engine.driver_pid(),
                                  "log": str(driver_log) if driver_log else None, "exit": None}
    metrics = _serve_metrics(supervisor, plan, metrics_port, metrics_host)
    if metrics is not None:
        writer.extra["metrics_url"] = metrics.url
        console.out(f"Metrics: {metrics.url}")
    keeper = _keep_lock(lock, supervisor, writer, events)
    supervisor.state.on_change(log_node_change)
    supervisor.state.on_change(display.node_changed)
    supervisor.state.on_change(events.node_changed)
    supervisor.on_batch(log_batch)
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
        if keeper is not None:
            keeper.close()
        if metrics is not None:
            metrics.close()
        if outcome is None:  # a bug in the runner: leave nothing running behind
            if supervisor.driver_exit is None:
                with contextlib.suppress(Exception):
                    spark_engine.stop_all()
            writer.write(supervisor.state, "failed")
            events.emit("run_ended", status="failed", exit_code=1)
    if supervisor.driver_exit is not None:
        if writer.extra["driver"] is not None:
            writer.extra["driver"]["exit"] = supervisor.driver_exit
        events.emit("driver_exited", reason=supervisor.driver_exit)
    path = writer.write(supervisor.state, outcome.status)
    events.emit("run_ended", status=outcome.status, exit_code=outcome.exit_code)
    now = time.time()
    elapsed = now - (started if started_at is None else min(started_at, started))
    # The table first: reading outputs back is a Spark job (seconds on a cold JVM).
    render_summary(console, outcome.status, outcome.records, {}, elapsed,
                   queries_s=now - started if started_at is not None else None)
    previews = {}
    # Nothing can be read back from a dead driver; a stop on request (signal, `tauro stop`)
    # must end quickly (service managers time it): the preview is a Spark job.
    if supervisor.driver_exit is None and not supervisor.stop_requested:
        names, limit = preview_targets(outcome.records, leaf_nodes(plan), preview_rows,
                                       interactive=bool(getattr(console, "is_terminal", False)))
        for name in names:
            preview = spark_engine.preview_output(plan.node(name), limit)
            if preview is not None:
                previews[name] = preview
                render_preview(console, name, preview, rich_ok=is_rich(console))
    return RunReport(outcome, path, writer.run_id, elapsed, previews)


def _serve_metrics(supervisor: RunSupervisor, plan: RunPlan, port: int | None,
                   host: str) -> RunMetrics | None:
    """Start the Prometheus endpoint when a port is given; a busy port is a usage error."""
    if port is None:
        return None
    from tauro_compile.errors import UsageError
    from tauro_compile.runner.metrics import RunMetrics

    metrics = RunMetrics(supervisor.state, plan.project_name, plan.profile)
    try:
        metrics.serve(port, host)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                         hint="choose another --metrics-port (0 picks a free one)") from None
    supervisor.on_batch(metrics.batch)
    return metrics


def _keep_lock(lock: RunLock | None, supervisor: RunSupervisor, writer: RunResultsWriter,
               events: EventLog) -> Any:
    """Record the lock in the results and the events, and start its keeper thread."""
    if lock is None:
        events.emit("run_started", project=supervisor.plan.project_name,
                    profile=supervisor.plan.profile, pid=os.getpid(), lock=None)
        return None
    from tauro_compile.runner.heartbeat import RunKeeper

    driver = writer.extra.get("driver") or {}
    lock.update(driver_pid=driver.get("pid"), metrics_url=writer.extra.get("metrics_url"))
    lock.heartbeat()
    taken = lock.taken_over
    writer.extra["lock"] = {
        "path": str(lock.path), "shared": lock.shared,
        "taken_over": f"{taken[0].describe()}: {taken[1]}" if taken else None,
        "holder": lock.holder.to_dict(),
    }
    events.emit("run_started", project=lock.holder.project, profile=lock.holder.profile,
                pid=lock.holder.pid, host=lock.holder.host, command=lock.holder.command,
                lock=str(lock.path), taken_over=writer.extra["lock"]["taken_over"])
    keeper = RunKeeper(lock, supervisor.request_stop, on_event=events.emit)
    keeper.start()
    return keeper


@contextlib.contextmanager
def _stop_on_signals(supervisor: RunSupervisor) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop cleanly; second: exit at once. Main thread only.

    The handler writes with os.write: a signal may land while the main thread is inside a
    buffered write to stderr, where a second buffered write would raise.
    """
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

    with handled_stop_signals(handler):
        yield
