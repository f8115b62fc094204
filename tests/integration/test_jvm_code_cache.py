"""The shared test JVM runs C1-only with the code cache a default JVM reserves.

Under ``-XX:TieredStopAtLevel=1`` alone the JDK keeps a 48 MB code cache, which the suite
overflowed once ("Out of space in CodeCache for adapters": the JVM died mid-run).
"""

from __future__ import annotations

from support.jvm_options import C1_ONLY_JVM_OPTIONS, RESERVED_CODE_CACHE_MB
from support.spark_jvm import SharedSpark


def test_the_shared_jvm_is_c1_only_with_a_full_size_code_cache(spark):
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
                     .getInputArguments())
    for option in C1_ONLY_JVM_OPTIONS:
        assert option in arguments

    pool = SharedSpark.current.code_cache_pool()
    assert pool.getUsage().getMax() >= RESERVED_CODE_CACHE_MB * 2**20
    assert f"of {RESERVED_CODE_CACHE_MB} MB" in SharedSpark.current.code_cache_report()
