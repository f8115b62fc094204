"""A Spark standalone cluster (one master, one worker) and a Spark Connect server, for tests.

Both run from the pinned pyspark's own launchers (``bin/spark-class`` / ``bin/spark-submit``
of the pip-installed pyspark, which is a complete ``SPARK_HOME``) on 127.0.0.1 and free
ports; the Connect server gets the pinned Delta and Kafka jars of ``make setup``. Nothing is
downloaded. Each JVM runs under the Kafka broker's watchdog (``kafka_broker._WATCHDOG``):
it is stopped when the Python process that started it exits for any reason, SIGKILL
included, so a killed test run leaves no master, worker or server behind.

    with StandaloneCluster(tmp) as cluster:      # cluster.master_url == "spark://127.0.0.1:N"
        cluster.kill_worker(); cluster.start_worker()
    with ConnectServer(tmp) as server:           # server.url == "sc://127.0.0.1:N"
        ...
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from support.jvm_options import C1_ONLY, spark_jvm_options
from support.kafka_broker import _WATCHDOG, free_ports

# The worker's executors and the Connect server's Python workers run this interpreter.
PYTHON = sys.executable
_START_TIMEOUT = 240.0  # a loaded 2-core box needs a while to start a JVM


class ClusterError(RuntimeError):
    """A standalone master/worker or the Connect server did not start."""


def spark_home() -> Path:
    """The pip-installed pyspark directory: bin/spark-class, jars/ (a complete SPARK_HOME)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


class _Daemon:
    """One JVM started through the watchdog, its output in `log`."""

    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._sink: IO[bytes] = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-c", _WATCHDOG, *cmd],
                                     stdin=subprocess.PIPE, stdout=self._sink,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_for(self, pattern: str, timeout: float = _START_TIMEOUT) -> re.Match[str]:
        """Block until the log matches `pattern`; ClusterError if the JVM exits or it times out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = regex.search(self.log.read_text(errors="replace"))
            if found:
                return found
            if self.proc.poll() is not None:
                raise ClusterError(f"{self.name} exited with {self.proc.returncode} while starting;"
                                   f" tail of {self.log}:\n{_tail(self.log)}")
            time.sleep(0.3)
        raise ClusterError(f"{self.name} not ready within {timeout:.0f} s (waited for "
                           f"/{pattern}/); tail of {self.log}:\n{_tail(self.log)}")

    def kill(self) -> None:
        """SIGKILL the JVM and its watchdog at once (a machine lost, not a clean stop)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._close()

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the watchdog forwards it to the JVM
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close()

    def _close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._sink.close()


def _env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(SPARK_HOME=str(spark_home()), PYSPARK_PYTHON=PYTHON, SPARK_LOG_DIR=str(work),
               SPARK_LOCAL_IP="127.0.0.1", SPARK_DAEMON_MEMORY="256m")
    # The driver JVM's C1-only setting would slow long executors down; daemons are small.
    env["SPARK_DAEMON_JAVA_OPTS"] = f"{C1_ONLY} -XX:+UseSerialGC"
    return env


class StandaloneCluster:
    """A standalone master and one worker (`cores` cores) on 127.0.0.1."""

    def __init__(self, work: Path, *, cores: int = 2, memory: str = "1g") -> None:
        self.work = Path(work)
        self.cores = cores
        self.memory = memory
        self.master: _Daemon | None = None
        self.worker: _Daemon | None = None
        self.master_url = ""
        self._worker_starts = 0

    def start(self) -> StandaloneCluster:
        self.work.mkdir(parents=True, exist_ok=True)
        port, web = free_ports(2)
        cls = str(spark_home() / "bin" / "spark-class")
        self.master = _Daemon("standalone master", [
            cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
            "--port", str(port), "--webui-port", str(web)], self.work / "master.log",
            _env(self.work))
        self.master_url = f"spark://127.0.0.1:{port}"
        try:
            self.master.wait_for(r"I have been elected leader")
            self.start_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self) -> None:
        """Start (or restart) the worker and wait until the master registered it."""
        self._worker_starts += 1
        port, web = free_ports(2)
        work_dir = self.work / f"worker-{self._worker_starts}"
        work_dir.mkdir(parents=True, exist_ok=True)
        self.worker = _Daemon("standalone worker", [
            str(spark_home() / "bin" / "spark-class"), "org.apache.spark.deploy.worker.Worker",
            "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(web),
            "--cores", str(self.cores), "--memory", self.memory, "--work-dir", str(work_dir),
            self.master_url], self.work / f"worker-{self._worker_starts}.log", _env(self.work))
        self.worker.wait_for(r"Successfully registered with master")

    def kill_worker(self) -> None:
        """SIGKILL the worker JVM; its executors die with it (their parent is gone)."""
        if self.worker is not None:
            self.worker.kill()
        # Executors are children of the worker's JVM, not of its process group: find them
        # by the worker's work dir in their command line, and kill them too (a lost machine).
        work_dir = str(self.work / f"worker-{self._worker_starts}")
        for pid in _pids_with(work_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for daemon in (self.worker, self.master):
            if daemon is not None:
                daemon.stop()
        self.kill_worker()  # stray executors, if any

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pids_with(text: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


# What the Connect server needs to run any Tauro project: Delta, and a Python worker start
# that survives a loaded machine (Spark waits 10 s, hard-coded, for a foreachBatch worker).
CONNECT_SERVER_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.connect.grpc.binding.address": "127.0.0.1",
    "spark.scheduler.mode": "FAIR",
    # As a local Tauro session has (session.LOCAL_DEFAULTS): Delta's default of 50 snapshot
    # tasks per table read costs minutes on 2 cores.
    "spark.databricks.delta.snapshotPartitions": "2",
    # The suite's JIT options (support/jvm_options.py): short jobs, fast start; and the
    # driver's class archive when set-up built one (tauro_compile/streaming/jvm_archive.py).
    "spark.driver.extraJavaOptions": spark_jvm_options(),
}


FOREACH_BATCH_MODULE = "pyspark.sql.connect.streaming.worker.foreach_batch_worker"


def python_worker_launcher(directory: Path) -> Path:
    """A PYSPARK_PYTHON for the Connect server: this interpreter, except that the foreachBatch
    worker starts through `foreach_batch_worker_fast_start.py` (see its docstring)."""
    fast = Path(__file__).resolve().parent / "foreach_batch_worker_fast_start.py"
    script = directory / "python-worker"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ] && [ "$2" = "{FOREACH_BATCH_MODULE}" ]; then\n'
        f'  exec "{PYTHON}" "{fast}"\n'
        "fi\n"
        f'exec "{PYTHON}" "$@"\n')
    script.chmod(0o755)
    return script


class ConnectServer:
    """A Spark Connect server (local[2] inside) with the pinned Delta and Kafka jars."""

    def __init__(self, work: Path, *, master: str = "local[2]") -> None:
        self.work = Path(work)
        self.master = master
        self.daemon: _Daemon | None = None
        self.url = ""

    def start(self) -> ConnectServer:
        from tauro_compile.streaming.session import pinned_jars

        self.work.mkdir(parents=True, exist_ok=True)
        (port,) = free_ports(1)
        conf = {**CONNECT_SERVER_CONF, "spark.connect.grpc.binding.port": str(port),
                "spark.sql.warehouse.dir": str(self.work / "warehouse")}
        cmd = [str(spark_home() / "bin" / "spark-submit"), "--master", self.master,
               "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
               "--driver-memory", "1g",
               "--jars", ",".join(pinned_jars())]
        for key, value in conf.items():
            cmd += ["--conf", f"{key}={value}"]
        cmd.append("spark-internal")
        env = _env(self.work)
        env.pop("SPARK_DAEMON_JAVA_OPTS")
        env.pop("SPARK_DAEMON_MEMORY")
        env["PYSPARK_PYTHON"] = str(python_worker_launcher(self.work))
        self.daemon = _Daemon("Spark Connect server", cmd, self.work / "connect-server.log", env)
        try:
            self.daemon.wait_for(r"Spark Connect server started at")
        except BaseException:
            self.stop()
            raise
        self.url = f"sc://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()
            self.daemon = None

    def __enter__(self) -> ConnectServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
