"""MicroBatchWriter on real Delta: idempotent append and MERGE, stages, side outputs, listener."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from streaming_helpers import bounded_node, write_json_lines

from tauro_compile.streaming import NodeConfig, StreamingQueryError, StreamingQueryManager
from tauro_compile.streaming.batch_writer import BatchContext, DeltaBatchSink, MicroBatchWriter
from tauro_compile.streaming.config import OutputConfig

pytestmark = pytest.mark.spark

SCHEMA = "id BIGINT, name STRING"


def delta_node(path: Path, **output: Any) -> NodeConfig:
    return NodeConfig.model_validate({
        "name": "upsert", "input": {"format": "rate"},
        "output": {"format": "delta", "path": str(path), **output},
    })


def writer_for(node: NodeConfig, **kw: Any) -> MicroBatchWriter:
    sink = DeltaBatchSink(node.output, node.streaming.output_mode.value, node.name)
    return MicroBatchWriter(node, sink, unique_id="proj.upsert", **kw)


def test_merge_replayed_batch_is_not_applied_twice(spark, tmp_path: Path) -> None:
    table = tmp_path / "merge"
    node = delta_node(table, mode="merge", merge_keys=["id"])
    seen: list[tuple[int, dict]] = []
    write = writer_for(node, on_batch=lambda name, bid, info: seen.append((bid, info)))

    write(spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA), 0)   # creates the table
    batch1 = spark.createDataFrame([(1, "a2"), (3, "c")], SCHEMA)
    write(batch1, 1)
    version = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").count()
    write(spark.createDataFrame([(1, "WRONG"), (4, "WRONG")], SCHEMA), 1)  # replay of batch 1

    rows = sorted((r.id, r.name) for r in spark.read.format("delta").load(str(table)).collect())
    assert rows == [(1, "a2"), (2, "b"), (3, "c")]
    assert spark.sql(f"DESCRIBE HISTORY delta.`{table}`").count() == version  # no new commit
    assert [b for b, _ in seen] == [0, 1, 1]
    assert seen[1][1]["outputs"]["main"]["committed"] is True
    assert seen[1][1]["outputs"]["main"]["updated"] == 1
    assert seen[1][1]["outputs"]["main"]["inserted"] == 1
    assert seen[2][1]["outputs"]["main"]["committed"] is False
    assert seen[2][1]["rows_written"] == 0
    # the session confs used for MERGE do not leak into the session
    assert spark.conf.get("spark.databricks.delta.write.txnAppId", None) is None


def test_append_replayed_batch_is_not_written_twice(spark, tmp_path: Path) -> None:
    table = tmp_path / "append"
    write = writer_for(delta_node(table))
    batch = spark.createDataFrame([(1, "a"), (2, "b")], SCHEMA)
    write(batch, 0)
    write(batch, 0)
    write(spark.createDataFrame([(3, "c")], SCHEMA), 1)
    write(batch, 0)
    assert sorted(r.id for r in spark.read.format("delta").load(str(table)).collect()) == [1, 2, 3]


class SplitBadNames:
    """A stage that routes rows without a name to a side output and counts them."""

    def __init__(self, side: OutputConfig) -> None:
        self.side = side

    def process(self, batch: BatchContext) -> None:
        self.cached_during = batch.df.is_cached
        bad = batch.df.filter("name IS NULL")
        batch.metrics["bad_rows"] = bad.count()
        batch.add_side_output(self.side, bad, "bad")
        batch.df = batch.df.filter("name IS NOT NULL")


class BlockAll:
    def process(self, batch: BatchContext) -> None:
        batch.abort("contract violated: 2 rows without id")


def test_stages_side_outputs_are_idempotent_too(spark, tmp_path: Path) -> None:
    node = delta_node(tmp_path / "main")
    side = OutputConfig(format="delta", path=str(tmp_path / "bad"))
    infos: list[dict] = []
    stage = SplitBadNames(side)
    write = writer_for(node, stages=[stage],
                       on_batch=lambda name, bid, info: infos.append(info))
    batch = spark.createDataFrame([(1, "a"), (2, None), (3, None)], SCHEMA)
    write(batch, 0)
    write(batch, 0)
    assert sorted(r.id for r in spark.read.format("delta").load(str(tmp_path / "main")).collect()) == [1]
    assert sorted(r.id for r in spark.read.format("delta").load(str(tmp_path / "bad")).collect()) == [2, 3]
    assert infos[0]["metrics"] == {"bad_rows": 2}
    assert infos[0]["outputs"]["bad"]["rows"] == 2 and infos[0]["outputs"]["main"]["rows"] == 1
    assert infos[1]["rows_written"] == 0
    assert stage.cached_during and not batch.is_cached  # persisted for the stages, then released


def test_abort_blocks_before_anything_is_written(spark, tmp_path: Path) -> None:
    infos: list[dict] = []
    write = writer_for(delta_node(tmp_path / "blocked"), stages=[BlockAll()],
                       on_batch=lambda name, bid, info: infos.append(info))
    with pytest.raises(StreamingQueryError) as info:
        write(spark.createDataFrame([(1, "a")], SCHEMA), 0)
    assert "contract violated" in info.value.message
    assert info.value.context["batch_id"] == 0
    assert not (tmp_path / "blocked").exists()
    assert infos[0]["aborted"] == "contract violated: 2 rows without id"


def test_streaming_merge_node_upserts_through_foreach_batch(spark, tmp_path: Path) -> None:
    src = tmp_path / "src"
    out = tmp_path / "customers"
    spark.createDataFrame([(1, "old"), (9, "keep")], SCHEMA).write.format("delta").save(str(out))
    write_json_lines(src, "a.json", [{"id": 1, "name": "new"}, {"id": 2, "name": "b"}])
    node = bounded_node("customers", {"format": "file_stream", "file_format": "json",
                                      "path": str(src), "schema": SCHEMA},
                        {"format": "delta", "path": str(out), "mode": "merge",
                         "merge_keys": ["id"]},
                        streaming={"output_mode": "update"})
    infos: list[tuple] = []
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk"),
                                     "batch_listener": lambda *a: infos.append(a)})
    query = manager.create_and_start_query(node, pipeline_name="crm")
    query.awaitTermination(120)
    assert query.exception() is None
    rows = sorted((r.id, r.name) for r in spark.read.format("delta").load(str(out)).collect())
    assert rows == [(1, "new"), (2, "b"), (9, "keep")]
    assert infos[0][0] == "customers" and infos[0][1] == 0
    assert infos[0][2]["outputs"]["main"]["updated"] == 1
    assert manager.started_query("customers").unique_id == "crm.customers"


class SelfCachingStage:
    """Declares it caches for itself, records the hooks the writer calls."""

    manages_cache = True

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def before_start(self, stream_df) -> None:
        self.calls.append(("before_start", stream_df.isStreaming))

    def process(self, batch: BatchContext) -> None:
        self.calls.append(("process", batch.batch_id, batch.df.is_cached))

    def after_write(self, batch: BatchContext, outputs: dict) -> None:
        self.calls.append(("after_write", batch.batch_id, outputs["main"]["version"]))
        batch.metrics["seen_version"] = outputs["main"]["version"]


def test_optional_stage_hooks_are_called(spark, tmp_path: Path) -> None:
    stage = SelfCachingStage()
    infos: list[dict] = []
    write = writer_for(delta_node(tmp_path / "hooks"), stages=[stage],
                       on_batch=lambda name, bid, info: infos.append(info))
    write(spark.createDataFrame([(1, "a")], SCHEMA), 0)
    assert stage.calls == [("process", 0, False), ("after_write", 0, 0)]
    assert infos[0]["metrics"] == {"seen_version": 0}


def test_stage_before_start_runs_before_the_query_starts(spark, tmp_path: Path) -> None:
    from tauro_compile.errors import RunError
    from tauro_compile.streaming import StreamingValidationError

    class RefuseSchema(SelfCachingStage):
        def before_start(self, stream_df) -> None:
            raise RunError("the stream's schema breaks the contract", hint="fix the transform")

    src = tmp_path / "src"
    write_json_lines(src, "a.json", [{"id": 1, "name": "a"}])
    node = bounded_node("guarded", {"format": "file_stream", "file_format": "json",
                                    "path": str(src), "schema": SCHEMA},
                        {"format": "delta", "path": str(tmp_path / "out")})
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")})
    with pytest.raises(StreamingValidationError) as info:
        manager.create_and_start_query(node, stages=[RefuseSchema()])
    assert info.value.message == "the stream's schema breaks the contract"
    assert info.value.hint == "fix the transform"
    assert info.value.context["node_name"] == "guarded"
    assert manager.active_queries() == {} and not (tmp_path / "out").exists()

    good = SelfCachingStage()
    query = manager.create_and_start_query(node, stages=[good])
    query.awaitTermination(120)
    assert query.exception() is None
    assert [c[0] for c in good.calls] == ["before_start", "process", "after_write"]


def test_node_contract_is_enforced_without_registration(spark, tmp_path: Path) -> None:
    contract = tmp_path / "orders.yaml"
    contract.write_text(
        "apiVersion: v3.0.2\nkind: DataContract\nid: urn:test:people\nversion: 1.0.0\n"
        "schema:\n  - name: people\n    properties:\n"
        "      - name: id\n        logicalType: integer\n        required: true\n"
        "      - name: name\n        logicalType: string\n        required: true\n")
    src = tmp_path / "src"
    write_json_lines(src, "a.json", [{"id": 1, "name": "a"}, {"id": 2, "name": None}])
    node = bounded_node("people", {"format": "file_stream", "file_format": "json",
                                   "path": str(src), "schema": SCHEMA},
                        {"format": "delta", "path": str(tmp_path / "people")},
                        contract={"path": str(contract), "policy": "quarantine",
                                  "quarantine": {"format": "delta",
                                                 "path": str(tmp_path / "rejected")}})
    infos: list[tuple] = []
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk"),
                                     "batch_listener": lambda *a: infos.append(a)})
    query = manager.create_and_start_query(node)
    query.awaitTermination(120)
    assert query.exception() is None
    read = spark.read.format("delta").load
    assert [r.id for r in read(str(tmp_path / "people")).collect()] == [1]
    assert [r.id for r in read(str(tmp_path / "rejected")).collect()] == [2]
    info = infos[0][2]
    assert info["outputs"]["quarantine"]["rows"] == 1
    assert "contract" in info["metrics"]


def test_new_checkpoint_is_not_skipped_as_a_replay(spark, tmp_path: Path) -> None:
    """Batch ids restart at 0 under a new checkpoint: its writes must land, not be 'replays'."""
    table = tmp_path / "append_ckpt"
    node = delta_node(table)
    for name, rows in (("first", [(1, "a"), (2, "b")]), ("second", [(3, "c")])):
        checkpoint = tmp_path / f"ckpt_{name}"
        checkpoint.mkdir()
        (checkpoint / "metadata").write_text('{"id":"query-' + name + '"}\n')
        write = writer_for(node, checkpoint_location=str(checkpoint))
        write(spark.createDataFrame(rows, SCHEMA), 0)
        write(spark.createDataFrame(rows, SCHEMA), 0)   # a replay under the same checkpoint
        assert write.txn_app_id(spark) == f"proj.upsert@query-{name}"
    ids = sorted(r.id for r in spark.read.format("delta").load(str(table)).collect())
    assert ids == [1, 2, 3]


def test_side_outputs_append_even_in_complete_mode(spark, tmp_path: Path) -> None:
    """A quarantine/dead-letter table keeps earlier batches when the main output is complete."""
    main, side = tmp_path / "main_complete", tmp_path / "side_append"
    node = NodeConfig.model_validate({
        "name": "agg", "input": {"format": "rate"},
        "output": {"format": "delta", "path": str(main)},
        "streaming": {"output_mode": "complete"},
    })

    class Split:
        def process(self, batch: BatchContext) -> None:
            batch.add_side_output(OutputConfig(format="delta", path=str(side)),
                                  batch.df.where("id < 0"), "quarantine")

    write = writer_for(node, stages=[Split()])
    write(spark.createDataFrame([(1, "a"), (-1, "bad1")], SCHEMA), 0)
    write(spark.createDataFrame([(2, "b"), (-2, "bad2")], SCHEMA), 1)
    assert sorted(r.id for r in spark.read.format("delta").load(str(main)).collect()) == [-2, 2]
    assert sorted(r.id for r in spark.read.format("delta").load(str(side)).collect()) == [-2, -1]


def test_a_dead_letter_batch_without_its_marker_column_is_blocked_with_the_reason(
        spark, tmp_path: Path) -> None:
    from tauro_compile.streaming.dead_letter import DeadLetterStage

    table = tmp_path / "out"
    node = delta_node(table)
    letters = OutputConfig(format="delta", path=str(tmp_path / "dead"))
    seen: list[dict] = []
    write = writer_for(node, stages=[DeadLetterStage(node, letters)],
                       on_batch=lambda name, bid, info: seen.append(info))
    with pytest.raises(StreamingQueryError, match="needs the column __tauro_dead_letter"):
        write(spark.createDataFrame([(1, "a")], SCHEMA), 0)  # a transform dropped the column
    assert len(seen) == 1 and "needs the column" in seen[0]["aborted"]
    assert "dead_letter" not in seen[0]["metrics"] and seen[0]["outputs"] == {}
    assert not table.exists() and not (tmp_path / "dead").exists()  # nothing written
