"""The test session's one shared SparkSession, with a JVM that is checked before each use.

A JVM that died (killed, crashed, ``VirtualMachineError``) is detected before the next test
instead of surfacing as ``ConnectionRefusedError`` in every later test: the death is recorded
once (the test it died in, the exit code, any ``hs_err`` crash file) and a fresh session is
built. A SparkContext a test stopped on purpose is replaced the same way, silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SharedSpark:
    """Builds the shared session lazily and rebuilds it when its JVM is gone."""

    current: ClassVar[SharedSpark | None] = None
    # Kept past the session's teardown, for the terminal summary.
    deaths: ClassVar[list[str]] = []
    code_cache: ClassVar[list[str]] = []

    def __init__(self, conf: Mapping[str, str], work_dir: Path) -> None:
        self._conf = dict(conf)
        self._work_dir = work_dir
        # Crash files of the JVM go somewhere this class can find and report them.
        options = self._conf.get("spark.driver.extraJavaOptions", "")
        self._conf["spark.driver.extraJavaOptions"] = (
            f"{options} -XX:ErrorFile={work_dir}/hs_err_pid%p.log".strip()
        )
        self._session: SparkSession | None = None
        self._last_user: str | None = None
        SharedSpark.current = self

    def session(self, user: str) -> SparkSession:
        """The live shared session for test `user`, rebuilt first if its JVM died."""
        if self._session is not None and not self._alive():
            self._forget_dead_session()
        if self._session is None:
            from tauro_compile.streaming.session import build_spark_session

            self._session = build_spark_session("local[2]", "tauro-tests", self._conf)
        self._last_user = user
        return self._session

    def stop_active_queries(self) -> list[str]:
        """Stop the streaming queries still running on the shared session; their names."""
        if self._session is None or not self._alive():
            return []
        leaked = []
        for query in self._session.streams.active:
            leaked.append(query.name or query.id)
            try:
                query.stop()
            except Exception as exc:  # noqa: BLE001 - reported with the leak, never hidden
                leaked[-1] += f" (stop failed: {exc})"
        return leaked

    def stop(self) -> None:
        if self._session is not None and self._alive():
            SharedSpark.code_cache.append(self.code_cache_report())
            self._session.stop()
        self._session = None
        if SharedSpark.current is self:
            SharedSpark.current = None

    def code_cache_pool(self):
        """The JVM's code cache memory pool (one pool: C1-only JVMs use an unsegmented cache)."""
        jvm = self._session.sparkContext._jvm
        pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
        caches = [pool for pool in pools if "code" in pool.getName().lower()]
        if len(caches) != 1:
            raise AssertionError("expected one code cache pool, found "
                                 + ", ".join(pool.getName() for pool in caches))
        return caches[0]

    def code_cache_report(self) -> str:
        """How full the shared JVM's code cache got: a line for the session summary."""
        pool = self.code_cache_pool()
        peak, size = pool.getPeakUsage().getUsed(), pool.getUsage().getMax()
        share = peak / size
        verdict = "" if share < 0.8 else " - over 80%: raise ReservedCodeCacheSize"
        return (f"shared test JVM code cache: peak {peak / 2**20:.0f} MB of "
                f"{size / 2**20:.0f} MB ({share:.0%}){verdict}")

    # ------------------------------------------------------------------ liveness

    def _jvm_process(self):
        from pyspark import SparkContext

        gateway = SparkContext._gateway
        return getattr(gateway, "proc", None) if gateway is not None else None

    def _alive(self) -> bool:
        process = self._jvm_process()
        if process is not None and process.poll() is not None:
            return False
        try:
            return not self._session._jsc.sc().isStopped()
        except Exception:  # noqa: BLE001 - any py4j failure here means the JVM is unreachable
            return False

    def _forget_dead_session(self) -> None:
        """Record why the session is gone and clear pyspark's globals so a new JVM can start."""
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        process = self._jvm_process()
        exit_code = process.poll() if process is not None else None
        if exit_code is not None:
            crash_files = sorted(self._work_dir.glob("hs_err_pid*.log"))
            crash = ""
            if crash_files:
                head = crash_files[-1].read_text(errors="replace").splitlines()[:6]
                crash = f"; crash file {crash_files[-1]}: " + " | ".join(
                    line.strip("# ") for line in head if line.strip("# "))
            SharedSpark.deaths.append(
                f"The shared test JVM died (exit code {exit_code}) during or after "
                f"{self._last_user}{crash}. A new SparkSession was built for the tests after it."
            )
        else:
            with contextlib.suppress(Exception):  # the context is already half gone
                self._session.stop()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=30)
        SparkContext._gateway = None
        SparkContext._jvm = None
        SparkContext._active_spark_context = None
        SparkSession._instantiatedSession = None
        SparkSession._activeSession = None
        self._session = None
