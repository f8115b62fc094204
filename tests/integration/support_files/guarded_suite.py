"""Run by tests/integration/test_shared_spark_guards.py in a subprocess, never directly."""

import time


def test_a_kills_the_jvm(spark):
    from pyspark import SparkContext

    assert spark.range(3).count() == 3
    SparkContext._gateway.proc.kill()
    SparkContext._gateway.proc.wait(30)


def test_b_gets_a_new_session(spark):
    assert spark.range(5).count() == 5


def test_c_leaks_a_query(spark):
    spark.readStream.format("rate").load().writeStream.format("memory") \
        .queryName("leaky_guard_query").start()
    time.sleep(1)


def test_d_sees_no_leftover(spark):
    assert spark.streams.active == []
