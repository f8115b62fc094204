"""The pinned jars work for real: Delta Lake batch and streaming on the shared SparkSession."""

from __future__ import annotations

from pathlib import Path

import pytest

from tauro_compile.streaming import session as session_module


@pytest.mark.spark
def test_session_carries_the_pinned_jars_and_delta(spark):
    conf = spark.sparkContext.getConf()
    jars = conf.get("spark.jars")
    assert jars, "spark.jars is empty: run `make setup`"
    names = {Path(jar).name for jar in jars.split(",")}
    assert "delta-spark_2.13-4.0.1.jar" in names
    assert "spark-sql-kafka-0-10_2.13-4.0.1.jar" in names
    assert spark.version == "4.0.1"
    assert session_module.DELTA_EXTENSION in conf.get("spark.sql.extensions")
    assert conf.get("spark.ui.enabled") == "false"
    assert session_module.get_active_session() is not None


@pytest.mark.spark
def test_delta_write_then_read(spark, tmp_path):
    path = str(tmp_path / "numbers")
    spark.range(0, 10).withColumnRenamed("id", "n").write.format("delta").save(path)
    spark.range(10, 15).withColumnRenamed("id", "n").write.format("delta").mode("append").save(path)

    rows = spark.read.format("delta").load(path).collect()
    assert sorted(row.n for row in rows) == list(range(15))

    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, path).history().select("version", "operation").collect()
    assert sorted((row.version, row.operation) for row in history) == [(0, "WRITE"), (1, "WRITE")]


@pytest.mark.spark
def test_delta_table_read_as_a_stream_into_memory_sink(spark, tmp_path):
    path = str(tmp_path / "events")
    rows = [(i, f"e{i}") for i in range(5)]
    spark.createDataFrame(rows, "id INT, name STRING").write.format("delta").save(path)

    query = (
        spark.readStream.format("delta")
        .load(path)
        .writeStream.format("memory")
        .queryName("delta_stream_to_memory")
        .trigger(availableNow=True)
        .start()
    )
    assert query.awaitTermination(120), "availableNow query did not finish"
    assert query.exception() is None
    got = spark.table("delta_stream_to_memory").collect()
    assert sorted((row.id, row.name) for row in got) == rows


@pytest.mark.spark
def test_delta_to_delta_stream_resumes_from_its_checkpoint(spark, tmp_path):
    source, sink = str(tmp_path / "source"), str(tmp_path / "sink")
    checkpoint = str(tmp_path / "checkpoint")

    def append(ids: list[int]) -> None:
        frame = spark.createDataFrame([(i,) for i in ids], "id INT")
        frame.write.format("delta").mode("append").save(source)

    def run_available_now() -> None:
        query = (
            spark.readStream.format("delta")
            .load(source)
            .writeStream.format("delta")
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start(sink)
        )
        assert query.awaitTermination(120), "availableNow query did not finish"
        assert query.exception() is None

    append([1, 2, 3])
    run_available_now()
    append([4, 5])
    run_available_now()  # same checkpoint: only the new rows are read again
    ids = [row.id for row in spark.read.format("delta").load(sink).collect()]
    assert sorted(ids) == [1, 2, 3, 4, 5]


def test_pinned_jars_and_conf_without_a_jvm(tmp_path, monkeypatch):
    monkeypatch.setenv(session_module.JARS_DIR_ENV, str(tmp_path / "missing"))
    assert session_module.pinned_jars() == []
    with pytest.raises(RuntimeError, match="make setup"):
        session_module.session_conf("local[2]")
    assert "spark.jars" not in session_module.session_conf("local[2]", enable_delta=False)

    jars = tmp_path / "jars"
    jars.mkdir()
    for name in ("delta-spark_2.13-4.0.1.jar", "b.jar", "notes.txt"):
        (jars / name).write_text("")
    monkeypatch.setenv(session_module.JARS_DIR_ENV, str(jars))
    assert session_module.jars_dir() == jars
    pinned = session_module.pinned_jars()
    assert [Path(p).name for p in pinned] == ["b.jar", "delta-spark_2.13-4.0.1.jar"]
    assert all(Path(p).is_absolute() for p in pinned)

    conf = session_module.session_conf(
        "local[2]",
        {
            "spark.jars": "/opt/extra.jar",
            "spark.sql.extensions": "com.example.Ext",
            "spark.sql.shuffle.partitions": "7",
        },
    )
    assert conf["spark.jars"].split(",") == [*pinned, "/opt/extra.jar"]
    assert conf["spark.sql.extensions"] == f"{session_module.DELTA_EXTENSION},com.example.Ext"
    assert conf["spark.sql.catalog.spark_catalog"] == session_module.DELTA_CATALOG
    assert conf["spark.sql.shuffle.partitions"] == "7"
    assert "spark.ui.enabled" not in conf

    cluster = session_module.session_conf("spark://host:7077")
    assert "spark.sql.shuffle.partitions" not in cluster
    assert "spark.driver.host" not in cluster
