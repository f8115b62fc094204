"""Delta Change Data Feed, resume from a stable checkpoint, and Delta sink safety checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from streaming_helpers import bounded_node, write_json_lines

from tauro_compile.streaming import (
    StreamingQueryError,
    StreamingQueryManager,
    StreamingValidationError,
)

pytestmark = pytest.mark.spark

SCHEMA = "id BIGINT, name STRING"


def start(spark, node: dict, root: Path):
    query = StreamingQueryManager({"spark": spark, "checkpoint_root": str(root)}) \
        .create_and_start_query(node)
    query.awaitTermination(120)
    assert query.exception() is None
    return query


def test_change_data_feed_carries_inserts_updates_deletes(spark, tmp_path: Path) -> None:
    table = str(tmp_path / "accounts")
    spark.sql(f"CREATE TABLE delta.`{table}` (id BIGINT, name STRING) USING delta "
              "TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    spark.sql(f"INSERT INTO delta.`{table}` VALUES (1, 'a'), (2, 'b')")       # version 1
    spark.sql(f"UPDATE delta.`{table}` SET name = 'b2' WHERE id = 2")         # version 2
    spark.sql(f"DELETE FROM delta.`{table}` WHERE id = 1")                    # version 3
    out = str(tmp_path / "changes")
    node = bounded_node("account_changes",
                        {"format": "delta_stream", "path": table,
                         "options": {"startingVersion": 1}},
                        {"format": "delta", "path": out},
                        transforms=[{"sql": "SELECT id, name, _change_type AS change, "
                                            "_commit_version AS version FROM {{ input }}"}])
    start(spark, node, tmp_path / "chk")
    changes = sorted((r.version, r.change, r.id, r.name)
                     for r in spark.read.format("delta").load(out).collect())
    assert changes == [
        (1, "insert", 1, "a"), (1, "insert", 2, "b"),
        (2, "update_postimage", 2, "b2"), (2, "update_preimage", 2, "b"),
        (3, "delete", 1, "a"),
    ]


def test_change_data_feed_not_enabled_is_a_clear_error(spark, tmp_path: Path) -> None:
    table = str(tmp_path / "plain")
    spark.createDataFrame([(1, "a")], SCHEMA).write.format("delta").save(table)
    node = bounded_node("cdf", {"format": "delta_stream", "path": table}, {"format": "memory"})
    with pytest.raises(StreamingQueryError) as info:
        StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path)}) \
            .create_and_start_query(node)
    assert "Change Data Feed is not enabled" in info.value.message
    assert "enableChangeDataFeed" in info.value.hint
    assert info.value.context["node_name"] == "cdf"


def test_second_run_with_same_checkpoint_processes_only_new_files(spark, tmp_path: Path) -> None:
    src, out = tmp_path / "landing", tmp_path / "bronze"
    write_json_lines(src, "1.json", [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    node = bounded_node("bronze", {"format": "file_stream", "file_format": "json",
                                   "path": str(src), "schema": SCHEMA},
                        {"format": "delta", "path": str(out)})
    first = start(spark, node, tmp_path / "chk")
    assert first.lastProgress["numInputRows"] == 2

    write_json_lines(src, "2.json", [{"id": 3, "name": "c"}])
    # a new execution id, same node: the checkpoint is <root>/<node>, so the run resumes
    second = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")}) \
        .create_and_start_query(node, execution_id="another-run")
    second.awaitTermination(120)
    assert sum(p["numInputRows"] for p in second.recentProgress) == 1
    assert sorted(r.id for r in spark.read.format("delta").load(str(out)).collect()) == [1, 2, 3]


def test_stream_that_does_not_fit_the_delta_table_fails_before_start(spark, tmp_path: Path) -> None:
    src, out = tmp_path / "src", str(tmp_path / "narrow")
    spark.createDataFrame([(1,)], "id BIGINT").write.format("delta").save(out)
    write_json_lines(src, "a.json", [{"id": 1, "name": "a"}])
    node = bounded_node("wide", {"format": "file_stream", "file_format": "json", "path": str(src),
                                 "schema": SCHEMA}, {"format": "delta", "path": out})
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")})
    with pytest.raises(StreamingQueryError) as info:
        manager.create_and_start_query(node)
    assert info.value.context["table"] == out
    assert info.value.context["columns"] == "name"
    assert "mergeSchema" in info.value.hint
    assert manager.active_queries() == {}

    node["output"]["options"] = {"mergeSchema": "true"}
    start(spark, node, tmp_path / "chk2")
    assert spark.read.format("delta").load(out).columns == ["id", "name"]


def test_corrupt_checkpoint_is_a_clear_error(spark, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_json_lines(src, "a.json", [{"id": 1, "name": "a"}])
    node = bounded_node("corrupt", {"format": "file_stream", "file_format": "json",
                                    "path": str(src), "schema": SCHEMA},
                        {"format": "delta", "path": str(tmp_path / "out")})
    start(spark, node, tmp_path / "chk")
    offsets = tmp_path / "chk" / "corrupt" / "offsets" / "0"
    offsets.write_text("garbage{{{")
    with pytest.raises(StreamingQueryError) as info:
        StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")}) \
            .create_and_start_query(node)
    assert info.value.context["checkpoint_location"] == str(tmp_path / "chk" / "corrupt")
    assert info.value.context["path"].endswith("offsets/0")
    assert "remove the checkpoint" in info.value.hint


def test_no_checkpoint_location_asks_for_one(spark, tmp_path: Path) -> None:
    node = bounded_node("homeless", {"format": "rate"}, {"format": "memory"})
    with pytest.raises(StreamingValidationError) as info:
        StreamingQueryManager({"spark": spark}).create_and_start_query(node)
    assert info.value.context["field"] == "streaming.checkpoint_location"
    assert "checkpoint_root" in info.value.hint


def test_merge_node_schema_checks_before_start(spark, tmp_path: Path) -> None:
    src, out = tmp_path / "src", str(tmp_path / "dim")
    spark.createDataFrame([(1, "a", 5)], "id BIGINT, name STRING, score INT") \
        .write.format("delta").save(out)
    write_json_lines(src, "a.json", [{"id": 1, "name": "b"}])
    node = bounded_node("dim", {"format": "file_stream", "file_format": "json", "path": str(src),
                                "schema": SCHEMA},
                        {"format": "delta", "path": out, "mode": "merge", "merge_keys": ["id"]})
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")})
    with pytest.raises(StreamingQueryError) as info:
        manager.create_and_start_query(node)
    assert info.value.context["columns"] == "score"
    assert "missing from the stream" in info.value.message

    node["output"]["merge_keys"] = ["key"]
    with pytest.raises(StreamingQueryError) as info:
        manager.create_and_start_query(node)
    assert info.value.context["field"] == "output.merge_keys"
    assert info.value.context["columns"] == "key"
    assert manager.active_queries() == {}
