"""JIT options of every JVM the test suite starts (shared Spark, `tauro run` subprocesses,
the Kafka broker and its tools, standalone daemons).

C1-only JIT: tests run many short jobs, where C2 compile time never pays back (measured
~1.5-2x faster start and first Delta writes on 2 cores). Under ``-XX:TieredStopAtLevel=1``
the JDK falls back to a 48 MB unsegmented code cache (a default tiered JVM reserves 240 MB),
which the suite's shared JVM filled to ~98 % and once overflowed ("Out of space in CodeCache
for adapters": the JVM died and every later Spark test failed). So C1-only always comes with
the code cache a default JVM would have; ``tests/integration/test_jvm_code_cache.py`` checks
the shared JVM really got it, and the session summary prints its peak use.
"""

from __future__ import annotations

RESERVED_CODE_CACHE_MB = 240
C1_ONLY_JVM_OPTIONS: tuple[str, ...] = (
    "-XX:TieredStopAtLevel=1",
    f"-XX:ReservedCodeCacheSize={RESERVED_CODE_CACHE_MB}m",
)
C1_ONLY = " ".join(C1_ONLY_JVM_OPTIONS)


def spark_jvm_options() -> str:
    """`C1_ONLY` plus the driver's class archive when set-up built one
    (tauro_compile/streaming/jvm_archive.py): for Spark JVMs the suite configures itself
    (the Connect server's driver, a cluster's executors). A driver Tauro starts gets the
    archive from Tauro."""
    from tauro_compile.streaming.jvm_archive import driver_java_option

    return " ".join(filter(None, (C1_ONLY, driver_java_option(C1_ONLY))))
