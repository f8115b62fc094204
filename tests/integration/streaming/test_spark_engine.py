"""The Spark QueryEngine on the shared local Spark: exact progress, empty outputs, previews."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.spark_engine import SparkQueryEngine, parse_progress
from tauro_compile.streaming.state import NodeRecord, RunState

pytestmark = pytest.mark.spark


def _node(name: str, tmp: Path, *, input_: dict, trigger: dict, output: dict | None = None,
          depends_on: tuple[str, ...] = (), **extra) -> PlannedNode:
    config = NodeConfig.model_validate({
        "name": name, "input": input_,
        "output": output or {"format": "delta", "path": str(tmp / "out" / name)},
        "streaming": {"trigger": trigger, "checkpoint_location": str(tmp / "chk" / name)},
        **extra,
    })
    return PlannedNode(name=name, unique_id=f"t.{name}", config=config, depends_on=depends_on)


def _plan(tmp: Path, *nodes: PlannedNode) -> RunPlan:
    return RunPlan(project_name="t", project_dir=tmp, target_dir=tmp / "target", profile="dev",
                   nodes=nodes)


def _files(directory: Path, count: int, rows_each: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rows = "".join(json.dumps({"id": i * 100 + j}) + "\n" for j in range(rows_each))
        (directory / f"f{i}.json").write_text(rows)


def test_every_batch_is_counted_once_even_when_polled_only_at_the_end(spark, tmp_path) -> None:
    _files(tmp_path / "in", 3, 4)
    node = _node("ids", tmp_path, trigger={"type": "available_now"},
                 input_={"format": "file_stream", "path": str(tmp_path / "in"),
                         "file_format": "json", "schema": "id BIGINT",
                         "options": {"maxFilesPerTrigger": 1}})
    engine = SparkQueryEngine(spark, _plan(tmp_path, node), execution_id="x")
    handle = engine.start(node)
    assert handle.await_termination(120)
    state = RunState([NodeRecord(name="ids", unique_id="t.ids", bounded=True)])
    for _ in range(3):  # repeated polls after the end deliver nothing new
        for progress in handle.new_progress():
            state.add_progress("ids", progress)
    record = state.get("ids")
    assert handle.exception() is None and not handle.is_active
    assert (record.batches, record.rows_in, record.rows_out) == (3, 12, 12)
    assert record.last_progress.batch_id == 2


def test_idle_progress_events_are_not_batches() -> None:
    idle = {"batchId": 4, "numInputRows": 0, "durationMs": {"latestOffset": 1, "triggerExecution": 1}}
    ran = {"batchId": 3, "numInputRows": 5, "batchDuration": 40,
           "inputRowsPerSecond": "NaN", "processedRowsPerSecond": 12.345,
           "durationMs": {"addBatch": 30, "triggerExecution": 40},
           "observedMetrics": {"tauro_rows_out": {"rows": 4}}}
    assert parse_progress(idle) is None
    progress = parse_progress(ran)
    assert (progress.batch_id, progress.input_rows, progress.rows_out, progress.duration_ms,
            progress.processed_rows_per_second) == (3, 5, 4, 40, 12.3)


def test_ensure_output_creates_an_empty_table_a_stream_can_read(spark, tmp_path) -> None:
    (tmp_path / "in").mkdir()
    up = _node("up", tmp_path, trigger={"type": "processing_time", "interval": "1 second"},
               input_={"format": "file_stream", "path": str(tmp_path / "in"),
                       "file_format": "json", "schema": "id BIGINT, day STRING"},
               output={"format": "delta", "path": str(tmp_path / "out" / "up"),
                       "partition_by": ["day"]},
               transforms=[{"sql": "SELECT id * 2 AS doubled, day FROM {{ input }}"}])
    down = _node("down", tmp_path, trigger={"type": "available_now"}, depends_on=("up",),
                 input_={"format": "delta_stream", "path": str(tmp_path / "out" / "up")})
    engine = SparkQueryEngine(spark, _plan(tmp_path, up, down), execution_id="x")
    assert engine.output_exists(up) is False
    assert engine.ensure_output(up) is True
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{tmp_path / 'out' / 'up'}`").first()
    assert detail.partitionColumns == ["day"]
    assert detail.properties.get("delta.enableChangeDataFeed") == "true"  # read as a change feed
    table = spark.read.format("delta").load(str(tmp_path / "out" / "up"))
    assert [(f.name, f.dataType.simpleString()) for f in table.schema.fields] == [
        ("doubled", "bigint"), ("day", "string")]
    assert table.count() == 0
    # the downstream change-feed stream starts and ends on the empty table
    handle = engine.start(down)
    assert handle.await_termination(120) and handle.exception() is None


def test_preview_reads_back_a_few_rows(spark, tmp_path) -> None:
    path = tmp_path / "out" / "p"
    spark.range(12).write.format("delta").save(str(path))
    node = _node("p", tmp_path, trigger={"type": "available_now"},
                 input_={"format": "rate"})
    engine = SparkQueryEngine(spark, _plan(tmp_path, node), execution_id="x")
    preview = engine.preview_output(node, 5)
    assert preview.columns == ("id",) and len(preview.rows) == 5
    assert {r[0] for r in preview.rows} <= set(range(12))
    missing = _node("m", tmp_path, trigger={"type": "available_now"}, input_={"format": "rate"})
    assert engine.preview_output(missing, 5) is None
