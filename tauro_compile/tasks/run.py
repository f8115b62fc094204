"""`tauro run`: compile, build (or reuse) the SparkSession, run the plan, summarize, exit code.

Exit codes: 0 every node succeeded, or the run was stopped cleanly (SIGINT/SIGTERM, `tauro
stop`); 1 a node failed, or the Spark driver died, or a stop could not be made cleanly (the
message names the node and the cause and gives the command that resumes); 2 the project or
the command line is invalid, or another run holds the lock of these checkpoints (refused
before Spark starts, naming the holder).

What the terminal shows, in order: the plan in one line and where this run's log is (as
soon as the project is compiled), a spinner while Spark starts and then how long that took
(and the Spark UI address when there is one), the live progress, the summary whose time is
the whole command's wall time. Spark's and the JVM's output never reaches the terminal: it
goes to the run's log file (see `tauro_compile.run_logs`); `-v` shows its warnings too.

A SparkSession already active in this process (tests, notebooks) is reused; otherwise one
is built from the profile's spark settings with the pinned Delta/Kafka jars, its JVM in its
own process group with its output appended to the run's log file.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console, shown_path
from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK, RunError, TauroError
from tauro_compile.run_logs import LogOptions

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.compiler.compile import CompiledProject
    from tauro_compile.runner.lock import RunLock
    from tauro_compile.runner.nothing_new import NothingNewEngine
    from tauro_compile.streaming.plan import RunPlan
    from tauro_compile.tasks.reset import Refresh, RefreshRequest

log = logging.getLogger("tauro.run")


def run_run(options: ProjectOptions, console: Console, fail_fast: bool = False,
            metrics_port: int | None = None, log_options: LogOptions | None = None,
            started_at: float | None = None,
            full_refresh: RefreshRequest | None = None,
            preview_rows: int | None = None) -> int:
    """Compile the project and run the selected nodes; the process exit code.

    `full_refresh`: clear the selected nodes first (see tasks/reset.py), after a confirmed
    preview, under the same run lock as the run itself. `preview_rows`: rows of each final
    output shown after the summary (`--preview`; None: the default, see
    `tauro_compile.runner.preview`).
    """
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.run_logs import new_run_log, python_logging_to

    started_at = time.time() if started_at is None else started_at
    log_options = log_options or LogOptions()
    compiled = compile_project(options)
    plan = compiled.to_run_plan()
    if not plan.nodes:
        console.out("No nodes selected: nothing to run.")
        return EXIT_OK
    refresh = _plan_refresh(compiled, full_refresh)
    log_path = new_run_log(log_options.directory(plan.target_dir))
    log_shown = shown_path(log_path)
    console.event("plan", plan_summary(plan), project=plan.project_name, profile=plan.profile,
                  nodes=[n.name for n in plan.nodes])
    console.event("log", f"Log: {log_shown}", path=str(log_path))
    with python_logging_to(log_path, compiled.secret_values), \
            _follow_warnings(log_path, console, log_options.verbose):
        log.info("tauro run: %s", plan_summary(plan))
        try:
            return _locked_run(options, console, compiled, plan, fail_fast, metrics_port,
                               log_path, started_at, (refresh, full_refresh), preview_rows)
        except TauroError as exc:
            log.error("run failed: %s", exc.render())
            exc.log_path = log_shown  # type: ignore[attr-defined]
            raise


def _locked_run(options: ProjectOptions, console: Console, compiled: CompiledProject,
                plan: RunPlan, fail_fast: bool, metrics_port: int | None, log_path: Path,
                started_at: float,
                refresh: tuple[Refresh | None, RefreshRequest | None] = (None, None),
                preview_rows: int | None = None) -> int:
    from tauro_compile.runner.python_paths import project_imports
    from tauro_compile.tasks.locate import all_checkpoints

    lock = take_run_lock(plan, console, all_checkpoints(compiled))
    try:
        with project_imports(plan):
            return _run_plan(options, console, compiled, plan, fail_fast, lock, metrics_port,
                             log_path, started_at, refresh, preview_rows)
    finally:
        lock.release()


def _run_plan(options: ProjectOptions, console: Console, compiled: CompiledProject,
              plan: RunPlan, fail_fast: bool, lock: RunLock, metrics_port: int | None,
              log_path: Path, started_at: float,
              refresh: tuple[Refresh | None, RefreshRequest | None] = (None, None),
              preview_rows: int | None = None) -> int:
    """Run a compiled plan on Spark (lock held, project modules importable); the exit code."""
    from tauro_compile.console import MaskingConsole
    from tauro_compile.runner.display import failure_message
    from tauro_compile.runner.execute import execute_plan
    from tauro_compile.streaming.secrets import mask_structure, mask_text

    console = MaskingConsole(console, compiled.secret_values)  # run-time errors may hold one
    engine = _nothing_new_engine(plan, console, refresh[0] is not None, preview_rows)
    spark = None
    if engine is None:
        spark = start_spark(plan, console, log_path)
        ship_project_code(spark, plan)
    if refresh[0] is not None and refresh[1] is not None:
        from tauro_compile.tasks.reset import confirm_and_apply

        assert spark is not None  # a refresh never takes the run without Spark
        if not confirm_and_apply(refresh[0], compiled, spark, console, refresh[1]):
            return EXIT_NODE_FAILED
    invocation = {
        "project_dir": str(options.project_dir), "profile": plan.profile,
        "select": list(options.select), "exclude": list(options.exclude),
        "vars": mask_structure(dict(options.vars), compiled.secret_values),
    }
    port = metrics_port if metrics_port is not None else plan.metrics_port
    report = execute_plan(plan, spark, console, fail_fast=fail_fast or plan.fail_fast,
                          engine=engine,
                          invocation=invocation, known_secrets=compiled.secret_values,
                          lock=lock, metrics_port=port, metrics_host=plan.metrics_host,
                          driver_log=log_path, started_at=started_at,
                          preview_rows=preview_rows)
    if report.outcome.status == "failed":
        project_dir = None if Path(options.project_dir) == Path(".") else str(options.project_dir)
        for record in report.outcome.records:
            if record.error:
                log.error("node '%s' failed:\n%s", record.name, compiled.mask(record.error))
                if options.debug:
                    console.err(f"Full error of node '{record.name}':\n"
                                f"{compiled.mask(record.error)}")
        console.err(mask_text(failure_message(report.outcome.records, options.profile,
                                              project_dir), compiled.secret_values))
        console.err(f"Log: {shown_path(log_path)}")
        return EXIT_NODE_FAILED
    return EXIT_OK


def _nothing_new_engine(plan: RunPlan, console: Console, refreshing: bool,
                        preview_rows: int | None) -> NothingNewEngine | None:
    """The engine of a run found to have nothing new before Spark starts (no JVM), or None.

    Not when the run clears nodes first (`--full-refresh`) or asks to read outputs back
    (`--preview N`): both need Spark.
    """
    if refreshing or (preview_rows is not None and preview_rows > 0):
        return None
    from tauro_compile.runner.nothing_new import NothingNewEngine, nothing_new

    reasons = nothing_new(plan)
    if reasons is None:
        return None
    text = ("Nothing new to read: every node's checkpoint has read all its input "
            "(Spark not started)")
    console.event("nothing_new", text, nodes=sorted(reasons))
    log.info(text)
    return NothingNewEngine(reasons)


def _plan_refresh(compiled: CompiledProject,
                  request: RefreshRequest | None) -> Refresh | None:
    """`--full-refresh`: what it clears, refused before Spark starts when it cannot be done."""
    if request is None:
        return None
    from tauro_compile.tasks.reset import check_can_confirm, plan_refresh

    command = "tauro run --full-refresh"
    refresh = plan_refresh(compiled, include_side_outputs=request.include_side_outputs,
                           command=command)
    check_can_confirm(request.yes, request.interactive, command)
    return refresh


def plan_summary(plan: RunPlan) -> str:
    """`Running shop (profile dev): 2 nodes (2 bounded): raw_orders, customer_totals`."""
    names = [n.name for n in plan.nodes]
    shown = ", ".join(names[:6]) + (f", ... ({len(names) - 6} more)" if len(names) > 6 else "")
    bounded = sum(1 for n in plan.nodes if n.bounded)
    kinds = []
    if bounded:
        kinds.append(f"{bounded} bounded")
    if len(names) - bounded:
        kinds.append(f"{len(names) - bounded} continuous")
    count = f"{len(names)} node{'s' if len(names) != 1 else ''}"
    return (f"Running {plan.project_name} (profile {plan.profile}): {count} "
            f"({', '.join(kinds)}): {shown}")


def take_run_lock(plan: RunPlan, console: Console, checkpoints: list[str]) -> RunLock:
    """The run lock of the project's checkpoints (RunLockedError, exit 2, when a live run
    holds it). One lock per checkpoint root, whatever the selection: see runner/lock.py."""
    from tauro_compile.runner.lock import RunLock, state_dir_for

    state_dir, shared = state_dir_for(plan.checkpoint_root, checkpoints, plan.target_dir)
    lock = RunLock(state_dir, shared=shared, project=plan.project_name, profile=plan.profile,
                   project_dir=str(Path(plan.project_dir).resolve()))
    lock.acquire()
    if lock.taken_over is not None:
        holder, why = lock.taken_over
        console.err(f"Took over a stale run lock ({lock.path}): {holder.describe()}; {why}.")
    if not shared:
        console.err(f"Note: the checkpoints are not on a local file system, so the run lock is "
                    f"kept in {state_dir} and only guards runs started from this project folder.")
    return lock


def start_spark(plan: RunPlan, console: Console, log_path: Path) -> SparkSession:
    """The SparkSession for the run, with a spinner while it starts and a line once it is up."""
    from tauro_compile.streaming.session import get_active_session

    if get_active_session() is not None:
        return session_for(plan, console, log_path)
    master = plan.spark.master
    began = time.time()
    with console.status(f"starting Spark ({master})..."):
        spark = session_for(plan, console, log_path)
    took = time.time() - began
    url = _ui_url(spark)
    text = f"Spark ready in {took:.1f}s ({master})" + (f"; UI: {url}" if url else "")
    console.event("spark_ready", text, master=master, seconds=round(took, 1), ui=url)
    log.info(text)
    arguments = _jvm_arguments(spark)
    if arguments is not None:
        log.info("driver JVM options: %s", arguments)
    return spark


def _jvm_arguments(spark: SparkSession) -> str | None:
    """The -X/-D options the driver JVM runs with (for the log), or None over Connect."""
    try:
        bean = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()  # type: ignore[attr-defined]
        return " ".join(str(a) for a in bean.getInputArguments())
    except Exception:
        return None


def session_for(plan: RunPlan, console: Console | None = None,
                jvm_output: Path | None = None) -> SparkSession:
    """The active SparkSession of this process, else one built from the plan's settings.

    Reusing an active session (a notebook, a test) means the profile's Spark settings that
    differ from it are not applied: the console is told which.
    """
    from tauro_compile.streaming.session import (
        SparkSetupError,
        build_spark_session,
        get_active_session,
        ignored_settings,
    )

    active = get_active_session()
    if active is not None:
        differing = ignored_settings(active, plan.spark.master, plan.spark.conf)
        if differing and console is not None:
            console.err("Warning: reusing the SparkSession already active in this process; "
                        f"profile '{plan.profile}' settings not applied: " + "; ".join(differing))
        return active
    settings = plan.spark
    output = jvm_output or Path(plan.target_dir) / "logs" / "spark.log"
    try:
        if settings.remote:
            from tauro_compile.streaming.session import build_connect_session

            return build_connect_session(settings.remote, dict(settings.conf))
        return build_spark_session(settings.master, settings.app_name, dict(settings.conf),
                                   jvm_output=output, pools=plan_pools(plan),
                                   pools_file=plan.target_dir / "fairscheduler.xml",
                                   short_run=all(n.bounded for n in plan.nodes))
    except SparkSetupError as exc:  # no Java, old Java, no jars: say how to fix it
        raise RunError(exc.message, hint=exc.hint) from None
    except Exception as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        log.error("could not start Spark", exc_info=True)
        raise RunError(f"could not start Spark ({settings.where}): "
                       f"{type(exc).__name__}: {first}",
                       hint=f"the JVM's own words are in the log file ({shown_path(output)}); "
                            "check the profile's spark settings (`tauro debug` checks Java, "
                            "the jars and the master)") from None


def _ui_url(spark: SparkSession) -> str | None:
    try:
        return spark.sparkContext.uiWebUrl
    except Exception:  # Spark Connect and friends have no SparkContext
        return None


@contextlib.contextmanager
def _follow_warnings(log_path: Path, console: Console, verbose: bool) -> Iterator[None]:
    """With -v: Spark's and pyspark's WARN/ERROR records from the log, on the terminal."""
    if not verbose:
        yield
        return
    from tauro_compile.run_logs import LogFollower

    follower = LogFollower(log_path, lambda line: console.err(line)).start()
    try:
        yield
    finally:
        follower.stop()


__all__ = ["plan_summary", "run_run", "session_for", "start_spark", "take_run_lock"]


def plan_pools(plan: RunPlan) -> dict[str, dict[str, object]]:
    """Every scheduler pool the plan's queries use (Spark's defaults), then the profile's."""
    from tauro_compile.streaming.session import pool_for

    pools: dict[str, dict[str, object]] = {
        pool_for(n.name, n.config.streaming.pool): {} for n in plan.nodes}
    for name, settings in plan.spark.pools.items():
        pools[name] = dict(settings)
    return pools


def ship_project_code(spark: SparkSession, plan: RunPlan) -> None:
    """Send the project's Python packages to a cluster's executors or a Connect server.

    A local master's workers import them from the project directory (PYTHONPATH) already.
    """
    from tauro_compile.runner.python_paths import package_project
    from tauro_compile.streaming.session import (
        is_connect_session,
        is_local_master,
        ship_python_code,
    )

    if not is_connect_session(spark) and is_local_master(spark.sparkContext.master):
        return
    archive = package_project(plan, plan.target_dir / "python" / f"{plan.project_name}_code.zip")
    if archive is None:
        return
    try:
        ship_python_code(spark, archive)
    except Exception as exc:
        raise RunError(f"could not send the project's Python code to Spark ({plan.spark.where}): "
                       f"{type(exc).__name__}: {str(exc).strip()[:300]}",
                       hint="check that the cluster or Connect server is reachable") from None
