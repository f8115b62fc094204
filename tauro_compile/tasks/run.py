"""`tauro run`: compile, build (or reuse) the SparkSession, run the plan, summarize, exit code.

Exit codes: 0 every node succeeded, or the run was stopped cleanly (SIGINT/SIGTERM, `tauro
stop`); 1 a node failed, or the Spark driver died, or a stop could not be made cleanly (the
message names the node and the cause and gives the command that resumes); 2 the project or
the command line is invalid, or another run holds the lock of these checkpoints (refused
before Spark starts, naming the holder).

A SparkSession already active in this process (tests, notebooks) is reused; otherwise one
is built from the profile's spark settings with the pinned Delta/Kafka jars, its JVM in its
own process group with its output appended to `target/logs/spark.log`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console
from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK, RunError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.compiler.compile import CompiledProject
    from tauro_compile.runner.lock import RunLock
    from tauro_compile.streaming.plan import RunPlan


def run_run(options: ProjectOptions, console: Console, fail_fast: bool = False,
            metrics_port: int | None = None) -> int:
    """Compile the project and run the selected nodes; the process exit code."""
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.runner.python_paths import project_imports

    compiled = compile_project(options)
    plan = compiled.to_run_plan()
    if not plan.nodes:
        console.out("No nodes selected: nothing to run.")
        return EXIT_OK
    from tauro_compile.tasks.locate import all_checkpoints

    lock = take_run_lock(plan, console, all_checkpoints(compiled))
    python_logs_to_file(plan)
    try:
        with project_imports(plan):
            return _run_plan(options, console, compiled, plan, fail_fast, lock, metrics_port)
    finally:
        lock.release()


def _run_plan(options: ProjectOptions, console: Console, compiled: CompiledProject,
              plan: RunPlan, fail_fast: bool, lock: RunLock, metrics_port: int | None) -> int:
    """Run a compiled plan on Spark (lock held, project modules importable); the exit code."""
    from tauro_compile.console import MaskingConsole
    from tauro_compile.runner.display import failure_message
    from tauro_compile.runner.execute import execute_plan
    from tauro_compile.streaming.secrets import mask_structure, mask_text

    console = MaskingConsole(console, compiled.secret_values)  # run-time errors may hold one
    spark = session_for(plan, console)
    ship_project_code(spark, plan)
    invocation = {
        "project_dir": str(options.project_dir), "profile": plan.profile,
        "select": list(options.select), "exclude": list(options.exclude),
        "vars": mask_structure(dict(options.vars), compiled.secret_values),
    }
    port = metrics_port if metrics_port is not None else plan.metrics_port
    report = execute_plan(plan, spark, console, fail_fast=fail_fast or plan.fail_fast,
                          invocation=invocation, known_secrets=compiled.secret_values,
                          lock=lock, metrics_port=port, metrics_host=plan.metrics_host,
                          driver_log=driver_log_path(plan))
    if report.outcome.status == "failed":
        project_dir = None if Path(options.project_dir) == Path(".") else str(options.project_dir)
        console.err(mask_text(failure_message(report.outcome.records, options.profile,
                                              project_dir), compiled.secret_values))
        return EXIT_NODE_FAILED
    return EXIT_OK


def python_logs_to_file(plan: RunPlan) -> None:
    """Python logging goes to `target/logs/python.log` when nothing else receives it.

    py4j logs a traceback on the root logger when the driver JVM dies under a call; without
    a handler, `logging` would print it on the terminal, which is Tauro's.
    """
    import logging

    root = logging.getLogger()
    if root.handlers:
        return
    path = Path(plan.target_dir) / "logs" / "python.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def driver_log_path(plan: RunPlan) -> Path:
    """Where the driver JVM's output goes: `target/logs/spark.log`."""
    return Path(plan.target_dir) / "logs" / "spark.log"


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


def session_for(plan: RunPlan, console: Console | None = None) -> SparkSession:
    """The active SparkSession of this process, else one built from the plan's settings.

    Reusing an active session (a notebook, a test) means the profile's Spark settings that
    differ from it are not applied: the console is told which.
    """
    from tauro_compile.streaming.session import (
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
    try:
        if settings.remote:
            from tauro_compile.streaming.session import build_connect_session

            return build_connect_session(settings.remote, dict(settings.conf))
        return build_spark_session(settings.master, settings.app_name, dict(settings.conf),
                                   jvm_output=driver_log_path(plan),
                                   pools=plan_pools(plan),
                                   pools_file=plan.target_dir / "fairscheduler.xml")
    except RuntimeError as exc:  # missing jars: a set-up problem the message explains
        raise RunError(str(exc).splitlines()[0], hint="run `make setup`") from None
    except Exception as exc:
        raise RunError(f"could not start Spark ({settings.where}): "
                       f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                       hint="check the profile's spark settings and that Java 17+ is installed"
                       ) from None


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
