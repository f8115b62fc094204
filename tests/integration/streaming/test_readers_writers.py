"""Every reader and writer of the registry on real Spark + Delta (small data, available_now)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from streaming_helpers import bounded_node, write_json_lines, write_user_module

from tauro_compile.streaming import (
    StreamingQueryError,
    StreamingQueryManager,
)
from tauro_compile.streaming.writers import rows_out

pytestmark = pytest.mark.spark


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`user_module(name, source)` writes a module importable for this test."""
    return lambda name, source: write_user_module(tmp_path, monkeypatch, name, source)

SCHEMA = "id BIGINT, name STRING"


def run(spark, node: dict, tmp_path: Path, **context):
    """Start the node with checkpoints under tmp_path and wait for it (bounded triggers)."""
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk"),
                                     **context})
    query = manager.create_and_start_query(node)
    query.awaitTermination(120)
    assert query.exception() is None
    return query


def test_file_stream_json_to_delta_path_counts_rows_out(spark, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_json_lines(src, "a.json", [{"id": i, "name": f"n{i}"} for i in range(5)])
    out = tmp_path / "out"
    node = bounded_node("json_to_delta",
                        {"format": "file_stream", "file_format": "json", "path": str(src),
                         "schema": SCHEMA},
                        {"format": "delta", "path": str(out)})
    query = run(spark, node, tmp_path)
    assert query.name == "json_to_delta"
    assert sorted(r.id for r in spark.read.format("delta").load(str(out)).collect()) == list(range(5))
    assert rows_out(query.lastProgress) == 5
    # the checkpoint is the deterministic <root>/<node name>
    assert (tmp_path / "chk" / "json_to_delta" / "commits").is_dir()


def test_text_and_parquet_file_streams_to_memory_and_parquet_sink(spark, tmp_path: Path) -> None:
    text_dir = tmp_path / "text"
    text_dir.mkdir()
    (text_dir / "a.txt").write_text("alpha\nbeta\n")
    run(spark, bounded_node("text_in", {"format": "file_stream", "file_format": "text",
                                        "path": str(text_dir)},
                            {"format": "parquet", "path": str(tmp_path / "pq")}), tmp_path)
    assert sorted(r.value for r in spark.read.parquet(str(tmp_path / "pq")).collect()) == ["alpha", "beta"]

    # the parquet sink's output read back as a parquet file stream (no schema needed)
    run(spark, bounded_node("parquet_in", {"format": "file_stream", "file_format": "parquet",
                                           "path": str(tmp_path / "pq")},
                            {"format": "memory"}), tmp_path)
    assert sorted(r.value for r in spark.table("parquet_in").collect()) == ["alpha", "beta"]


def test_csv_stream_to_json_sink_partitioned(spark, tmp_path: Path) -> None:
    src = tmp_path / "csv"
    src.mkdir()
    (src / "a.csv").write_text("1,x,2024\n2,y,2025\n")
    out = tmp_path / "json_out"
    run(spark, bounded_node("csv_to_json",
                            {"format": "file_stream", "file_format": "csv", "path": str(src),
                             "schema": "id INT, name STRING, year INT"},
                            {"format": "json", "path": str(out), "partition_by": ["year"]}),
        tmp_path)
    assert (out / "year=2024").is_dir()
    assert sorted(r.id for r in spark.read.json(str(out)).collect()) == [1, 2]


def test_delta_source_by_path_to_delta_table_name(spark, tmp_path: Path) -> None:
    src = str(tmp_path / "delta_src")
    spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA).write.format("delta").save(src)
    spark.sql("DROP TABLE IF EXISTS tauro_rw_target")
    run(spark, bounded_node("delta_to_table", {"format": "delta", "path": src},
                            {"format": "delta", "table_name": "tauro_rw_target"}), tmp_path)
    assert sorted(r.id for r in spark.table("tauro_rw_target").collect()) == [1, 2]

    # and a catalog table read back as a stream
    run(spark, bounded_node("table_to_memory", {"format": "delta", "table_name": "tauro_rw_target"},
                            {"format": "memory"}), tmp_path)
    assert spark.table("table_to_memory").count() == 2
    spark.sql("DROP TABLE IF EXISTS tauro_rw_target")


def test_rate_source_to_console(spark, tmp_path: Path) -> None:
    node = {"name": "rate_console", "input": {"format": "rate", "options": {"rowsPerSecond": 5}},
            "output": {"format": "console", "options": {"numRows": 3, "truncate": False}},
            "streaming": {"trigger": {"type": "processing_time", "interval": "1 second"}}}
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")})
    query = manager.create_and_start_query(node)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not any(
                (p["numInputRows"] or 0) > 0 for p in query.recentProgress):
            time.sleep(0.5)
    finally:
        assert manager.stop_query("rate_console", timeout=30)
    # A console sink is written per batch from Python (so `tauro run` can print the rows
    # above its live display); the progress says which sink took how many rows.
    written = [p for p in query.recentProgress if (p["numInputRows"] or 0) > 0]
    assert written
    assert "ForeachBatchSink" in written[0]["sink"]["description"]
    assert rows_out(written[0]) == written[0]["numInputRows"]


def test_socket_source_to_memory(spark, tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(b"hello\nworld\n")
        time.sleep(20)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    node = {"name": "socket_in", "input": {"format": "socket",
                                           "options": {"host": "127.0.0.1", "port": port}},
            "output": {"format": "memory"},
            "streaming": {"trigger": {"type": "processing_time", "interval": "500 ms"}}}
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")})
    manager.create_and_start_query(node)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and spark.table("socket_in").count() < 2:
            time.sleep(0.5)
        assert sorted(r.value for r in spark.table("socket_in").collect()) == ["hello", "world"]
    finally:
        assert manager.stop_query("socket_in", timeout=30)
        server.close()


def test_foreach_batch_sink_calls_user_function(spark, tmp_path: Path, user_module) -> None:
    user_module("sinks_fb", f"""
        def to_delta(batch_df, batch_id):
            batch_df.withColumn("batch", __import__("pyspark.sql.functions").sql.functions.lit(batch_id)) \\
                .write.format("delta").mode("append").save({str(tmp_path / 'fb_out')!r})
    """)
    src = tmp_path / "src"
    write_json_lines(src, "a.json", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    query = run(spark, bounded_node("fb", {"format": "file_stream", "file_format": "json",
                                           "path": str(src), "schema": SCHEMA},
                                    {"format": "foreach_batch", "function": "sinks_fb:to_delta"}),
                tmp_path)
    rows = spark.read.format("delta").load(str(tmp_path / "fb_out")).collect()
    assert sorted((r.id, r.batch) for r in rows) == [(1, 0), (2, 0)]
    assert rows_out(query.lastProgress) == 2


def test_missing_file_stream_directory_is_a_clear_error(spark, tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    node = bounded_node("lost", {"format": "file_stream", "file_format": "json",
                                 "path": str(missing), "schema": SCHEMA}, {"format": "memory"})
    with pytest.raises(StreamingQueryError) as info:
        StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path)}) \
            .create_and_start_query(node)
    assert info.value.context["node_name"] == "lost"
    assert info.value.context["path"] == str(missing)
    assert "does not exist" in info.value.message and "lost" in info.value.message
    assert info.value.hint


def test_missing_delta_table_is_a_clear_error(spark, tmp_path: Path) -> None:
    missing = str(tmp_path / "no_table")
    for fmt in ("delta", "delta_stream"):
        node = bounded_node(f"lost_{fmt}", {"format": fmt, "path": missing}, {"format": "memory"})
        with pytest.raises(StreamingQueryError) as info:
            StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path)}) \
                .create_and_start_query(node)
        assert info.value.context["path"] == missing
        assert info.value.context["node_name"] == f"lost_{fmt}"
