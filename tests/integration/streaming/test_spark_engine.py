"""The Spark QueryEngine on the shared local Spark: exact progress, empty outputs, previews."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tauro_compile.streaming.caught_up import LocalFiles, input_caught_up
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


def _agreed_up_to_date(engine: SparkQueryEngine, node: PlannedNode) -> str | None:
    """The engine's answer, which the JVM-less read of the same files always shares."""
    answer = engine.input_up_to_date(node)
    assert input_caught_up(node, LocalFiles()) == answer
    return answer


def _run_to_end(engine: SparkQueryEngine, node: PlannedNode) -> None:
    handle = engine.start(node)
    assert handle.await_termination(120) and handle.exception() is None


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


def test_a_file_stream_is_up_to_date_exactly_when_its_checkpoint_read_every_file(
        spark, tmp_path) -> None:
    """What Spark's file source writes in a checkpoint, read by `input_up_to_date`: every
    file of the directory logged, unchanged since, and only then, nothing is new. The log is
    compacted every 3 batches here (Spark's default: 10): `2.compact` holds batches 0-2."""
    compact = "spark.sql.streaming.fileSource.log.compactInterval"
    spark.conf.set(compact, "3")
    try:
        _file_stream_up_to_date(spark, tmp_path)
    finally:
        spark.conf.unset(compact)


def _file_stream_up_to_date(spark, tmp_path: Path) -> None:
    source = tmp_path / "in"
    _files(source, 5, 2)
    (source / "with space.json").write_text('{"id": 9000}\n')    # a URI-escaped path in the log
    node = _node("ids", tmp_path, trigger={"type": "available_now"},
                 input_={"format": "file_stream", "path": str(source), "file_format": "json",
                         "schema": "id BIGINT", "options": {"maxFilesPerTrigger": 2}})
    engine = SparkQueryEngine(spark, _plan(tmp_path, node), execution_id="x")

    def up_to_date(n: PlannedNode = node) -> str | None:
        return _agreed_up_to_date(engine, n)

    assert up_to_date() is None                              # never ran: no checkpoint

    def run() -> None:
        _run_to_end(engine, node)

    run()
    log = tmp_path / "chk" / "ids" / "sources" / "0"
    assert (log / "2.compact").exists()                      # the log was compacted
    caught_up = f"up to date: its checkpoint has read every file in {source} (6 files)"
    assert up_to_date() == caught_up
    # names Spark's listing skips change nothing
    (source / "_SUCCESS").write_text("")
    (source / ".f0.json.crc").write_text("")
    assert up_to_date() == caught_up
    # a new file, a subdirectory, a file rewritten after it was read: start the query
    (source / "new.json").write_text('{"id": 1}\n')
    assert up_to_date() is None
    run()                                                    # Spark agrees: it reads it
    assert spark.read.format("delta").load(str(tmp_path / "out" / "ids")).count() == 12
    assert up_to_date() == caught_up.replace("(6 files)", "(7 files)")
    (source / "part=1").mkdir()
    assert up_to_date() is None
    (source / "part=1").rmdir()
    stat = (source / "f3.json").stat()
    os.utime(source / "f3.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert up_to_date() is None
    os.utime(source / "f3.json", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert up_to_date() is not None
    # a batch planned but not committed (a run that died) is never taken as read
    commits = tmp_path / "chk" / "ids" / "commits"
    last = max((p for p in commits.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    saved = last.read_bytes()
    last.unlink()
    assert up_to_date() is None
    last.write_bytes(saved)
    # a missing batch file of the log: cannot tell
    batch_file = log / last.name
    logged = batch_file.read_bytes()
    batch_file.unlink()
    assert up_to_date() is None
    batch_file.write_bytes(logged)
    assert up_to_date() == caught_up.replace("(6 files)", "(7 files)")
    # the node changed since its query last started (even compatibly): start it, so the
    # checkpoint guard judges the change and records it
    changed = _node("ids", tmp_path, trigger={"type": "available_now"},
                    input_={"format": "file_stream", "path": str(source), "file_format": "json",
                            "schema": "id BIGINT", "options": {"maxFilesPerTrigger": 3}})
    assert up_to_date(changed) is None
    # a glob is never vouched for
    globbed = _node("ids", tmp_path, trigger={"type": "available_now"},
                    input_={"format": "file_stream", "path": f"{source}/*.json",
                            "file_format": "json", "schema": "id BIGINT"})
    assert up_to_date(globbed) is None


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


def test_a_delta_reader_is_up_to_date_exactly_when_its_checkpoint_read_every_commit(
        spark, tmp_path) -> None:
    """What Delta writes in a stream's checkpoint, read by `input_up_to_date`: after a
    run that read everything, and only then, the node's input has nothing new."""
    from tauro_compile.streaming import storage

    source = tmp_path / "out" / "src"
    spark.range(3).write.format("delta").save(str(source))
    # a table is known by its log's commit files, as Delta knows it
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.json").write_text("{}\n")
    assert [storage.is_delta_table(spark, path=str(p)) for p in
            (source, tmp_path / "plain", tmp_path / "none")] == [True, False, False]
    assert storage.delta_log_version(spark, str(source)) == 0
    down = _node("down", tmp_path, trigger={"type": "available_now"}, depends_on=("src",),
                 input_={"format": "delta", "path": str(source)})
    engine = SparkQueryEngine(spark, _plan(tmp_path, down), execution_id="x")

    def up_to_date() -> str | None:
        return _agreed_up_to_date(engine, down)

    assert up_to_date() is None                              # never ran: no checkpoint

    def run_down() -> None:
        _run_to_end(engine, down)

    run_down()
    assert up_to_date() == (
        f"up to date: its checkpoint has read {source} to its latest version 0")
    spark.range(3, 5).write.format("delta").mode("append").save(str(source))
    assert up_to_date() is None             # a new commit: start it
    run_down()                                               # Spark agrees: one batch of 2
    assert spark.read.format("delta").load(str(tmp_path / "out" / "down")).count() == 5
    assert "latest version 1" in up_to_date()
    # a batch planned but not committed (a run that died) is never taken as read
    commits = tmp_path / "chk" / "down" / "commits"
    last = max(commits.iterdir(), key=lambda p: int(p.name) if p.name.isdigit() else -1)
    saved = last.read_bytes()
    last.unlink()
    assert up_to_date() is None
    last.write_bytes(saved)
    # a watermark in the last batch may call for a batch without new data: start it
    offsets = tmp_path / "chk" / "down" / "offsets" / last.name
    text = offsets.read_text()
    offsets.write_text(text.replace('"batchWatermarkMs":0', '"batchWatermarkMs":5'))
    assert up_to_date() is None
    offsets.write_text(text)
    assert up_to_date() is not None
