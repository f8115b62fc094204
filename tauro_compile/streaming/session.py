"""The SparkSession Tauro runs on: pyspark plus the pinned Delta Lake and Kafka connector jars.

The jars come from Maven Central at set-up time (``make setup`` -> ``scripts/setup.sh``, pinned
in ``tauro_compile/resources/jars/spark/pom.xml``, shipped with the package) and live in ``<venv>/share/tauro/jars/spark/`` so they travel
with the virtualenv; ``$TAURO_JARS_DIR`` points elsewhere. They are handed to Spark through
``spark.jars`` (local files): nothing is resolved or downloaded at run time, and
``spark.jars.packages`` / Ivy is never used.

Where Spark runs is the profile's business, not the project's (``spark.master`` or
``spark.remote``):

- ``local[...]``: the driver and the executors in this process's JVM;
- ``spark://host:7077`` (standalone), ``yarn``, ``k8s://...``: client mode, the driver in
  this process. The pinned jars go to the executors through ``spark.jars`` (served by the
  driver); the project's Python code through ``ship_python_code`` (a zip added with
  ``addPyFile``). Executors run the Python of ``spark.pyspark.python`` (conf) or
  ``$PYSPARK_PYTHON``, else this interpreter's path, which must then exist on every worker;
- ``sc://host:15002`` (Spark Connect): no JVM here at all. The server must have been started
  with the pinned jars and Delta's SQL extension (see the README); only runtime settings of
  the profile's ``conf`` reach the session, and the project's code goes over as an artifact.

pyspark is imported inside the functions, so importing this module never starts a JVM.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

JARS_DIR_ENV = "TAURO_JARS_DIR"
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
DELTA_JAR_PREFIX = "delta-spark_"
DEFAULT_LOG_LEVEL = "WARN"
# The log4j2 configuration a JVM launched by `launch_jvm` gets (its console = the log file).
LOG4J2_CONFIG = Path(__file__).resolve().parent.parent / "resources" / "log4j2.properties"
DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


class SparkSetupError(RuntimeError):
    """The machine cannot start Spark as configured (no Java, Java too old, jars missing)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(f"{message}; {hint}")
        self.message = message
        self.hint = hint

# Defaults for every master; any key in the caller's conf wins.
BASE_DEFAULTS: Mapping[str, str] = {
    "spark.ui.showConsoleProgress": "false",
    # Every node's query runs in its own scheduler pool (see `pool_for`): FAIR between pools,
    # so a heavy node cannot hold every core while a light one waits.
    "spark.scheduler.mode": "FAIR",
}

# Extra defaults for local[...] masters only: a laptop or CI box, not a cluster. The default
# 200 shuffle partitions (and Delta's 50 snapshot partitions) mostly cost scheduling overhead
# there. Note that a stateful streaming query keeps the shuffle partition count it started with
# in its checkpoint; this only affects new queries.
LOCAL_DEFAULTS: Mapping[str, str] = {
    "spark.sql.shuffle.partitions": "4",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

# A short run on a local master (every node bounded: it processes what is there and ends)
# spends most of its CPU starting the JVM, and on 2 cores the C2 compiler threads compete
# with that start: C1 alone halves the JVM's start-up CPU (measured in
# bench/results/incremental.md). C1 alone also shrinks the code cache to 48 MB, which a
# long test JVM once overflowed (tests/support/jvm_options.py), so the default 240 MB comes
# with it. A run with continuous nodes keeps both compilers; options of the user that
# already choose a compiler (or a code cache) win.
SHORT_RUN_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1"
SHORT_RUN_CODE_CACHE = "-XX:ReservedCodeCacheSize=240m"
_COMPILER_CHOICE = re.compile(r"-XX:[+-]?(TieredStopAtLevel|TieredCompilation)\b")

_LOCAL_MASTER = re.compile(r"^local(\[[^\]]*\])?$")


def jars_dir() -> Path:
    """Directory of the pinned Spark jars: ``$TAURO_JARS_DIR`` or ``<sys.prefix>/share/tauro/jars/spark``."""
    env = os.environ.get(JARS_DIR_ENV)
    if env:
        return Path(env)
    return Path(sys.prefix) / "share" / "tauro" / "jars" / "spark"


def pinned_jars() -> list[str]:
    """Absolute paths of the ``*.jar`` files in ``jars_dir()``, sorted; ``[]`` if it is missing."""
    directory = jars_dir()
    if not directory.is_dir():
        return []
    return sorted(str(path.resolve()) for path in directory.glob("*.jar") if path.is_file())


def is_local_master(master: str) -> bool:
    """True for ``local``, ``local[N]``, ``local[*]`` and ``local[N,F]`` masters."""
    return bool(_LOCAL_MASTER.match(master.strip()))


def _split_list(value: str | None) -> list[str]:
    """Split a comma-separated Spark list setting, dropping blanks."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _merge_lists(*lists: list[str]) -> str:
    """Join several comma lists into one, keeping the first occurrence of each item."""
    seen: dict[str, None] = {}
    for items in lists:
        for item in items:
            seen.setdefault(item, None)
    return ",".join(seen)


def session_conf(
    master: str = "local[2]",
    conf: Mapping[str, str] | None = None,
    *,
    enable_delta: bool = True,
    short_run: bool = False,
) -> dict[str, str]:
    """The effective Spark settings ``build_spark_session`` applies (no JVM involved).

    `short_run`: every query of the run is bounded; on a local master the driver JVM then
    runs with ``SHORT_RUN_JAVA_OPTIONS`` unless the user's options choose a compiler.
    """
    user = {str(key): str(value) for key, value in (conf or {}).items()}
    settings: dict[str, str] = dict(BASE_DEFAULTS)
    if is_local_master(master):
        settings.update(LOCAL_DEFAULTS)
    settings.update(user)
    if short_run and is_local_master(master):
        options = settings.get(DRIVER_JAVA_OPTIONS, "")
        if not _COMPILER_CHOICE.search(options):
            ours = [SHORT_RUN_JAVA_OPTIONS]
            if "ReservedCodeCacheSize" not in options:
                ours.append(SHORT_RUN_CODE_CACHE)
            settings[DRIVER_JAVA_OPTIONS] = " ".join([*ours, options]).strip()

    if settings.get("spark.submit.deployMode", "client") != "cluster":
        # This process starts the driver: it maps the class archive when there is one.
        from tauro_compile.streaming.jvm_archive import driver_java_option

        options = settings.get(DRIVER_JAVA_OPTIONS, "")
        archive = driver_java_option(options)
        if archive is not None:
            settings[DRIVER_JAVA_OPTIONS] = f"{options} {archive}".strip()

    jars = _merge_lists(pinned_jars(), _split_list(user.get("spark.jars")))
    if jars:
        settings["spark.jars"] = jars
    else:
        settings.pop("spark.jars", None)

    if enable_delta:
        if not any(Path(jar).name.startswith(DELTA_JAR_PREFIX) for jar in _split_list(jars)):
            from tauro_compile.environment import jars_hint

            raise SparkSetupError(
                f"the Delta Lake jars Tauro runs with are not in {jars_dir()} (looked for "
                f"{DELTA_JAR_PREFIX}*.jar)", jars_hint(jars_dir()))
        settings["spark.sql.extensions"] = _merge_lists(
            [DELTA_EXTENSION], _split_list(user.get("spark.sql.extensions"))
        )
        settings.setdefault("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
    return settings


def build_spark_session(
    master: str = "local[2]",
    app_name: str = "tauro",
    conf: dict[str, str] | None = None,
    *,
    enable_delta: bool = True,
    log_level: str | None = DEFAULT_LOG_LEVEL,
    jvm_output: Path | None = None,
    pools: Mapping[str, Mapping[str, object]] | None = None,
    pools_file: Path | None = None,
    short_run: bool = False,
) -> SparkSession:
    """Create (or return the running) SparkSession with the pinned jars and Delta enabled.

    Static settings such as ``spark.jars`` only take effect when this call starts the JVM: if a
    session already exists, ``getOrCreate`` returns it and applies only the runtime SQL settings.
    With ``jvm_output``, a JVM this call starts is launched by ``launch_jvm`` (own process
    group, its stdout/stderr appended to that file). With `pools` (name -> weight, min_share,
    mode), their allocation file is written to `pools_file` and handed to Spark.
    `short_run`: see `session_conf` (only a JVM this call starts gets the JVM options).
    """
    settings = session_conf(master, conf, enable_delta=enable_delta, short_run=short_run)
    if pools and "spark.scheduler.allocation.file" not in settings:
        if pools_file is None:
            raise ValueError("pools need a pools_file to write Spark's allocation file to")
        write_pools_file(pools, pools_file)
        settings["spark.scheduler.allocation.file"] = str(pools_file.resolve())
    if "spark.pyspark.python" not in settings:
        # Python workers must run this interpreter (the venv), not whatever `python3` is
        # first on PATH, or they would not see pyspark and the project's packages. On a
        # cluster that path must exist on the workers too (or set spark.pyspark.python).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from pyspark.sql import SparkSession

    if jvm_output is not None:
        launch_jvm(settings, jvm_output)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if log_level:
        spark.sparkContext.setLogLevel(log_level)
    return spark


def write_pools_file(pools: Mapping[str, Mapping[str, object]], path: Path) -> Path:
    """Spark's fairscheduler.xml for `pools` (name -> weight, min_share, mode)."""
    from xml.sax.saxutils import escape, quoteattr

    lines = ['<?xml version="1.0"?>', "<allocations>"]
    for name, pool in sorted(pools.items()):
        lines += [f"  <pool name={quoteattr(name)}>",
                  f"    <schedulingMode>{escape(str(pool.get('mode', 'FIFO')))}</schedulingMode>",
                  f"    <weight>{int(pool.get('weight', 1))}</weight>",  # type: ignore[call-overload]
                  f"    <minShare>{int(pool.get('min_share', 0))}</minShare>",  # type: ignore[call-overload]
                  "  </pool>"]
    lines.append("</allocations>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def pool_for(node_name: str, pool: str | None) -> str:
    """The scheduler pool of a node's query: its `streaming.pool`, else one named after it."""
    return pool or node_name


def build_connect_session(remote: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """A Spark Connect session to `remote` (``sc://host:port/;params``), with `conf` applied.

    Only runtime settings can be set from a client; static ones (jars, driver, executors)
    belong to the server and are refused at compile time for a `remote` profile.
    """
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.remote(remote)
    for key, value in (conf or {}).items():
        builder = builder.config(str(key), str(value))
    return builder.getOrCreate()


def is_connect_session(spark: object) -> bool:
    """True for a Spark Connect session (no JVM, no sparkContext in this process)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def ship_python_code(spark: SparkSession, archive: Path) -> None:
    """Make a zip of Python packages importable on the executors (and Connect's workers)."""
    if is_connect_session(spark):
        spark.addArtifacts(str(archive), pyfile=True)
    else:
        spark.sparkContext.addPyFile(str(archive))


def launch_jvm(settings: Mapping[str, str], output: Path) -> None:
    """Start the driver JVM in its own process group, its stdout and stderr going to `output`.

    Its own process group: a signal sent to the group of the `tauro` process (Ctrl-C in a
    terminal, ``kill -TERM -<pgid>``, ``docker stop``) does not reach the JVM, so Tauro can
    stop the queries before it stops Spark. SIGTERM is ignored by the JVM too (pyspark
    already ignores SIGINT there): a signal to every process of a cgroup (systemd's
    ``KillMode=control-group``) would otherwise run the JVM's shutdown hooks under the
    running queries. The JVM still ends with Tauro (its stdin closes) or on SIGKILL. The
    output file takes log4j's console output (configured by ``LOG4J2_CONFIG`` unless the
    settings name a log4j configuration of their own) and anything the JVM prints itself.
    Java is checked first, so a missing or old one is a ``SparkSetupError`` saying how to
    install it. Does nothing if this process already has a JVM.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._gateway is not None:
        return
    from tauro_compile.environment import find_java

    problem = find_java().problem()
    if problem is not None:
        raise SparkSetupError(*problem)
    output.parent.mkdir(parents=True, exist_ok=True)
    conf = SparkConf(loadDefaults=False).setAll(list(with_log4j_config(settings).items()))
    with open(output, "ab") as sink, _sigterm_ignored_by_children():
        gateway = launch_gateway(
            conf, popen_kwargs={"start_new_session": True, "stdout": sink, "stderr": sink}
        )
    SparkContext._ensure_initialized(gateway=gateway)


def with_log4j_config(settings: Mapping[str, str]) -> dict[str, str]:
    """`settings` with the driver JVM pointed at Tauro's log4j2 file (the user's own wins)."""
    result = dict(settings)
    options = result.get(DRIVER_JAVA_OPTIONS, "")
    if "log4j" not in options:
        flag = f"-Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()}"
        result[DRIVER_JAVA_OPTIONS] = f"{flag} {options}".strip()
    return result


@contextlib.contextmanager
def _sigterm_ignored_by_children() -> Iterator[None]:
    """While active, a process pyspark starts inherits SIGTERM ignored (HotSpot then leaves it
    ignored); this process ignores it only for the instant of the fork and exec."""
    import threading

    from pyspark import java_gateway

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    real_popen = java_gateway.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen:
        previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            return real_popen(*args, **kwargs)
        finally:
            signal.signal(signal.SIGTERM, previous)

    java_gateway.Popen = popen
    try:
        yield
    finally:
        java_gateway.Popen = real_popen


def jvm_process() -> subprocess.Popen | None:
    """The driver JVM's process (spark-submit exec's into java) if this process launched it."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    return getattr(gateway, "proc", None) if gateway is not None else None


def ignored_settings(active: SparkSession, master: str, conf: Mapping[str, str]) -> list[str]:
    """The settings of a profile that an already active session does not have (`key: wanted,
    session has found`): reusing that session means they are not applied."""
    differing = []
    current_master = active.sparkContext.master if hasattr(active, "sparkContext") else None
    if current_master is not None and current_master != master:
        differing.append(f"master: wanted {master}, session has {current_master}")
    for key, value in conf.items():
        found = active.conf.get(str(key), None)
        if found != str(value):
            differing.append(f"{key}: wanted {value}, session has {found}")
    return differing


def get_active_session() -> SparkSession | None:
    """The SparkSession active in this thread, or None (never starts a JVM)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()
