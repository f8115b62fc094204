"""Transforms on a real stream: SQL over {{ input }}, module:function, callables, and their errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from streaming_helpers import bounded_node, write_json_lines, write_user_module

from tauro_compile.streaming import (
    NodeConfig,
    StreamingQueryError,
    StreamingQueryManager,
    StreamingReaderFactory,
    StreamingValidationError,
)
from tauro_compile.streaming.transforms import apply_transforms, view_name

pytestmark = pytest.mark.spark


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`user_module(name, source)` writes a module importable for this test."""
    return lambda name, source: write_user_module(tmp_path, monkeypatch, name, source)

SCHEMA = "id BIGINT, name STRING, amount DOUBLE"


@pytest.fixture
def events(tmp_path: Path) -> Path:
    src = tmp_path / "events"
    write_json_lines(src, "a.json", [
        {"id": 1, "name": "a", "amount": 10.0}, {"id": 2, "name": None, "amount": 5.0},
        {"id": 3, "name": "c", "amount": 1.0}])
    return src


def file_input(src: Path) -> dict:
    return {"format": "file_stream", "file_format": "json", "path": str(src), "schema": SCHEMA}


def test_sql_then_module_function_then_callable(spark, tmp_path: Path, events: Path,
                                               user_module) -> None:
    user_module("project_transforms", """
        from pyspark.sql import functions as F

        def scale(df, factor=1, spark=None):
            assert spark is not None
            return df.withColumn("amount", F.col("amount") * factor)
    """)

    def tag(df):
        from pyspark.sql import functions as F
        return df.withColumn("tag", F.lit("t"))

    node = bounded_node("enriched", file_input(events), {"format": "memory"}, transforms=[
        {"sql": "SELECT id, name, amount FROM {{input}} WHERE name IS NOT NULL"},
        {"python": "project_transforms:scale", "args": {"factor": 3}},
        tag,
        {"sql": "SELECT *, amount + 1 AS plus FROM {{ input }}"},
    ])
    query = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")}) \
        .create_and_start_query(node)
    query.awaitTermination(120)
    assert query.exception() is None
    rows = sorted((r.id, r.amount, r.tag, r.plus) for r in spark.table("enriched").collect())
    assert rows == [(1, 30.0, "t", 31.0), (3, 3.0, "t", 4.0)]
    assert spark.catalog.tableExists(view_name("enriched", 0))


def test_view_names_are_sanitized_and_unique_per_step() -> None:
    assert view_name("raw-events.v2", 3) == "__tauro_raw_events_v2_3"
    assert view_name("a", 0) != view_name("a", 1)


def test_transform_returning_non_dataframe_fails_clearly(spark, events: Path, user_module) -> None:
    user_module("bad_transforms", """
        def forgot_return(df):
            df.filter("id > 1")
    """)
    node = NodeConfig.model_validate(bounded_node(
        "oops", file_input(events), {"format": "memory"},
        transforms=[{"python": "bad_transforms:forgot_return"}]))
    df = StreamingReaderFactory.create("file_stream", {"spark": spark}).read(node)
    with pytest.raises(StreamingQueryError) as info:
        apply_transforms(df, node)
    err = info.value
    assert "node 'oops'" in err.message
    assert "bad_transforms:forgot_return" in err.message
    assert "NoneType" in err.message
    assert err.context["actual"] == "NoneType"
    assert err.context["field"] == "transforms[0].python"


def test_transform_returning_a_batch_dataframe_fails_clearly(spark, events: Path) -> None:
    node = NodeConfig.model_validate(bounded_node(
        "batchy", file_input(events), {"format": "memory"},
        transforms=[lambda df: df.sparkSession.range(3)]))
    df = StreamingReaderFactory.create("file_stream", {"spark": spark}).read(node)
    with pytest.raises(StreamingQueryError, match="batch DataFrame"):
        apply_transforms(df, node)


def test_import_failures_name_module_and_function(spark, events: Path, user_module) -> None:
    user_module("some_transforms", "def dedupe(df):\n    return df\n")
    df = StreamingReaderFactory.create("file_stream", {"spark": spark}).read(
        file_input(events), node_name="n")
    for ref, text, hint in [("no_such_module:f", "module 'no_such_module'", "sys.path"),
                            ("some_transforms:dedup", "has no attribute 'dedup'",
                             "did you mean 'dedupe'?")]:
        node = NodeConfig.model_validate(bounded_node("n", file_input(events), {"format": "memory"},
                                                      transforms=[{"python": ref}]))
        with pytest.raises(StreamingValidationError) as info:
            apply_transforms(df, node)
        assert text in info.value.message
        assert hint in info.value.hint
        assert info.value.context["actual"] == ref
        assert info.value.context["field"] == "transforms[0].python"


def test_sql_errors_name_the_node_and_columns(spark, events: Path) -> None:
    df = StreamingReaderFactory.create("file_stream", {"spark": spark}).read(
        file_input(events), node_name="n")
    node = NodeConfig.model_validate(bounded_node(
        "n", file_input(events), {"format": "memory"},
        transforms=[{"sql": "SELECT nope FROM {{ input }}"}]))
    with pytest.raises(StreamingQueryError) as info:
        apply_transforms(df, node)
    assert "SQL transform 0 failed" in info.value.message
    assert "id, name, amount" in info.value.hint
    node = NodeConfig.model_validate(bounded_node(
        "n", file_input(events), {"format": "memory"}, transforms=[{"sql": "SELECT 1"}]))
    with pytest.raises(StreamingValidationError, match="does not read its input"):
        apply_transforms(df, node)


def test_watermark_is_applied_right_after_reading(spark, tmp_path: Path) -> None:
    src = tmp_path / "ts"
    write_json_lines(src, "a.json", [{"id": 1, "ts": "2024-01-01T00:00:00"}])
    inp = {"format": "file_stream", "file_format": "json", "path": str(src),
           "schema": "id BIGINT, ts TIMESTAMP",
           "watermark": {"column": "ts", "delay": "10 minutes"}}
    reader = StreamingReaderFactory.create("file_stream", {"spark": spark})
    df = reader.read(inp, node_name="wm")
    plan = df._jdf.queryExecution().logical().toString()
    top = plan.splitlines()[0]  # the watermark sits on the source as read (and parsed)
    assert "EventTimeWatermark" in top and "'ts, 10 minutes" in top
    below = plan.splitlines()[1:]
    assert "StreamingRelation" in below[-1]
    # between them only the parse-error handling of file_parse (metrics, filter, projection)
    assert all(any(op in line for op in ("CollectMetrics", "Filter", "Project"))
               for line in below[:-1]), plan
    inp["watermark"]["column"] = "tss"
    with pytest.raises(StreamingValidationError) as info:
        reader.read(inp, node_name="wm")
    assert info.value.context["field"] == "input.watermark.column"
    assert info.value.hint == "did you mean 'ts'?"
