"""The public API used as DESIGN.md section 5 and the tauro.streaming README show it, on real
Spark (rate/console queries are stopped by the test; file/Delta ones use available_now)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from streaming_helpers import bounded_node, write_json_lines

from tauro_compile.streaming import (
    DEFAULT_STREAMING_CONFIG,
    BaseStreamingReader,
    StreamingFormat,
    StreamingFormatNotSupportedError,
    StreamingOutputMode,
    StreamingPipelineError,
    StreamingPipelineManager,
    StreamingQueryManager,
    StreamingReaderFactory,
    StreamingTrigger,
    StreamingValidator,
    formats,
)

pytestmark = pytest.mark.spark


def wait_for_rows(query, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any((p["numInputRows"] or 0) > 0 for p in query.recentProgress):
            return
        time.sleep(0.5)
    raise AssertionError("the query processed no rows")


def rate_node(name: str, checkpoint: str) -> dict[str, Any]:
    return {
        "name": name,
        "input": {"format": "rate", "options": {"rowsPerSecond": "5", "numPartitions": "1"}},
        "output": {"format": "console", "options": {"numRows": 5, "truncate": False}},
        "streaming": {
            "trigger": {"type": "processing_time", "interval": "1 second"},
            "output_mode": "append",
            "query_name": f"{name}_query",
            "checkpoint_location": checkpoint,
        },
    }


def test_dict_context_query_manager(spark, tmp_path: Path) -> None:
    context = {"spark": spark, "output_path": str(tmp_path / "delta")}
    sqm = StreamingQueryManager(context)
    query = sqm.create_and_start_query(rate_node("rate_debug", str(tmp_path / "chk")),
                                       execution_id="exec-001")
    try:
        assert query.name == "rate_debug_query" and query.isActive
        wait_for_rows(query)
        assert sqm.get_query("rate_debug_query") is query
        assert list(sqm.active_queries()) == ["rate_debug_query"]
    finally:
        assert sqm.stop_query("rate_debug_query", timeout=30)
    assert sqm.active_queries() == {}


def test_object_context_with_format_policy(spark, tmp_path: Path) -> None:
    class Context:
        def __init__(self, spark: Any) -> None:
            self.spark = spark
            self.format_policy = {"sources": ["rate", "file_stream"], "sinks": ["delta", "memory"]}
            self.checkpoint_root = str(tmp_path / "checkpoints")

    context = Context(spark)
    src = tmp_path / "src"
    write_json_lines(src, "a.json", [{"id": 1}, {"id": 2}])
    node = bounded_node("object_ctx", {"format": "file_stream", "file_format": "json",
                                       "path": str(src), "schema": "id BIGINT"},
                        {"format": "delta", "path": str(tmp_path / "out")})
    sqm = StreamingQueryManager(context)
    query = sqm.create_and_start_query(node, "exec-20250101-001", "data_ingestion")
    query.awaitTermination(120)
    assert query.exception() is None
    assert spark.read.format("delta").load(str(tmp_path / "out")).count() == 2
    assert (tmp_path / "checkpoints" / "object_ctx" / "metadata").exists()
    # the policy forbids console, so that node never starts
    with pytest.raises(StreamingFormatNotSupportedError) as info:
        sqm.create_and_start_query(rate_node("forbidden", str(tmp_path / "chk2")))
    assert info.value.context["field"] == "output.format"


def test_pipeline_manager_start_status_stop_results(spark, tmp_path: Path) -> None:
    spm = StreamingPipelineManager({"spark": spark}, max_concurrent_pipelines=2,
                                   poll_interval=0.2)
    first = rate_node("rate_a", str(tmp_path / "chk_a"))
    second = rate_node("rate_b", str(tmp_path / "chk_b"))
    del second["streaming"]["trigger"]  # comes from the pipeline defaults
    execution_id = spm.start_pipeline("events_ingestion", {
        "type": "streaming",
        "nodes": [first, second],
        "streaming": {"trigger": {"type": "processing_time", "interval": "1 second"},
                      "output_mode": "append"},
    })
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            status = spm.status(execution_id)
            nodes = status["nodes"]
            if all(n["state"] == "running" and n["last_progress"]
                   and n["last_progress"]["numInputRows"] for n in nodes.values()):
                break
            time.sleep(0.5)
        assert status["state"] == "running"
        assert nodes["rate_a"]["query_id"] and nodes["rate_b"]["query_name"] == "rate_b_query"
        assert nodes["rate_b"]["checkpoint_location"] == str(tmp_path / "chk_b")
    finally:
        assert spm.stop_pipeline(execution_id, timeout=60) is True
    results = spm.get_results(execution_id)
    assert results["state"] == "stopped" and results["completed"] is False
    for node in results["nodes"].values():
        assert node["state"] == "stopped" and node["completed"] is False
        assert node["batches"] >= 1 and node["rows_in"] > 0
        assert node["rows_out"] == node["rows_in"]
    with pytest.raises(StreamingPipelineError):
        spm.status("no-such-execution")


def test_bounded_pipeline_runs_downstream_after_upstream_completes(spark, tmp_path: Path) -> None:
    landing, bronze, silver = tmp_path / "landing", tmp_path / "bronze", tmp_path / "silver"
    write_json_lines(landing, "a.json", [{"id": i, "amount": i * 10} for i in range(6)])
    pipeline = {"type": "streaming", "streaming": {"trigger": {"type": "available_now"}}, "nodes": [
        {"name": "silver", "input": {"format": "delta", "path": str(bronze)},
         "transforms": [{"sql": "SELECT id, amount FROM {{ input }} WHERE amount >= 20"}],
         "output": {"format": "delta", "path": str(silver)}},
        {"name": "bronze", "input": {"format": "file_stream", "file_format": "json",
                                     "path": str(landing), "schema": "id BIGINT, amount BIGINT"},
         "output": {"format": "delta", "path": str(bronze)}},
    ]}
    spm = StreamingPipelineManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")},
                                   poll_interval=0.2)
    execution_id = spm.start_pipeline("medallion", pipeline)
    assert spm.wait_for_pipeline(execution_id, timeout=180)
    results = spm.get_results(execution_id)
    assert results["state"] == "succeeded" and results["completed"] is True
    assert results["nodes"]["silver"]["upstreams"] == ["bronze"]
    assert results["nodes"]["bronze"]["rows_out"] == 6
    assert results["nodes"]["silver"]["rows_out"] == 4
    assert results["nodes"]["silver"]["started_at"] >= results["nodes"]["bronze"]["ended_at"]
    assert spark.read.format("delta").load(str(silver)).count() == 4


def test_failed_node_restarts_per_its_policy_then_fails_the_pipeline_and_skips_downstream(
        spark, tmp_path: Path) -> None:
    landing, bronze = tmp_path / "landing", tmp_path / "bronze"
    write_json_lines(landing, "a.json", [{"id": 1}, {"id": -1}])
    pipeline = {"nodes": [
        bounded_node("checked", {"format": "file_stream", "file_format": "json",
                                 "path": str(landing), "schema": "id BIGINT"},
                     {"format": "delta", "path": str(bronze)},
                     transforms=[{"sql": "SELECT id FROM {{ input }} "
                                         "WHERE assert_true(id > 0, 'negative id') IS NULL"}],
                     on_failure={"action": "restart", "max_restarts": 1, "backoff": "1 second"}),
        bounded_node("after", {"format": "delta", "path": str(bronze)}, {"format": "memory"}),
    ]}
    spm = StreamingPipelineManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")},
                                   poll_interval=0.2)
    execution_id = spm.start_pipeline("guarded", pipeline)
    assert spm.wait_for_pipeline(execution_id, timeout=180)
    results = spm.get_results(execution_id)
    assert results["state"] == "failed"
    assert results["nodes"]["checked"]["state"] == "failed"
    assert results["nodes"]["checked"]["restarts"] == 1  # its on_failure policy was applied
    assert "negative id" in results["nodes"]["checked"]["error"]
    assert results["nodes"]["after"]["state"] == "skipped"
    assert results["nodes"]["after"]["reason"] == "upstream 'checked' failed"


def test_validator_usage_and_enums() -> None:
    pipeline_config = {"type": "streaming", "nodes": [
        {"name": "n1", "input": {"format": "rate"}, "output": {"format": "console"}}]}
    validator = StreamingValidator(format_policy=None)
    validator.validate_streaming_pipeline_config(pipeline_config)
    for node in pipeline_config["nodes"]:
        validator.validate_streaming_node_config(node)
    assert StreamingFormat.DELTA_STREAM.value in formats.sources()
    assert StreamingTrigger.AVAILABLE_NOW.bounded
    assert StreamingOutputMode.APPEND.value == DEFAULT_STREAMING_CONFIG["output_mode"]


def test_custom_reader_registration_feeds_the_validator(spark, tmp_path: Path) -> None:
    class RangeReader(BaseStreamingReader):
        """A rate stream trimmed to `value` only."""

        def load(self, inp, node_name, **kw):
            return self.spark.readStream.format("rate").options(**inp.options).load() \
                .select("value")

    StreamingReaderFactory.register("range_test", RangeReader)
    assert "range_test" in formats.sources()
    node = {"name": "custom", "input": {"format": "range_test", "options": {"rowsPerSecond": "5"}},
            "output": {"format": "memory"},
            "streaming": {"trigger": {"type": "processing_time", "interval": "1 second"}}}
    sqm = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path)})
    query = sqm.create_and_start_query(node)
    try:
        wait_for_rows(query)
    finally:
        sqm.stop_query("custom")
    assert spark.table("custom").columns == ["value"]
