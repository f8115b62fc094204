"""The re-read path (parquet/Delta sources): only rule-breaking rows cached, same results."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.contracts_data import CONTRACT, GOOD, MIXED, SCHEMA, node_config, write_contract

from tauro_compile.contracts.enforcer import ContractEnforcer, _rereadable
from tauro_compile.contracts.errors import ContractViolationError
from tauro_compile.contracts.evaluation import BATCH_ID_COLUMN, VIOLATIONS_COLUMN
from tauro_compile.contracts.loader import parse_contract
from tauro_compile.contracts.stage import contract_stages
from tauro_compile.streaming.batch_writer import DeltaBatchSink, MicroBatchWriter
from tauro_compile.streaming.config import NodeConfig

pytestmark = pytest.mark.spark
# Without `unique` (a distinct count cannot be observed, so it keeps the cached path).
NO_UNIQUE = CONTRACT.replace("        unique: true\n", "")


def parquet_batch(spark, tmp_path: Path, rows, name: str = "batch"):
    path = tmp_path / name
    spark.createDataFrame(rows, SCHEMA).coalesce(1).write.parquet(str(path))
    return spark.read.schema(SCHEMA).parquet(str(path))


def test_only_a_deterministic_row_wise_plan_is_read_again(spark, tmp_path) -> None:
    parquet_batch(spark, tmp_path, GOOD)
    stream = spark.readStream.schema(SCHEMA).parquet(str(tmp_path / "batch"))
    assert _rereadable(stream.filter("amount > 0").select("id", "status", "amount"))
    assert not _rereadable(stream.selectExpr("*", "rand() AS r"))
    assert not _rereadable(stream.groupBy("status").count())
    assert not _rereadable(stream.dropDuplicates(["id"]))


def test_quarantine_on_a_parquet_batch_is_exact_and_idempotent(spark, tmp_path) -> None:
    contract_file = write_contract(tmp_path / "orders.yaml", NO_UNIQUE)
    source = tmp_path / "landing"
    source.mkdir()
    config = node_config(tmp_path, source, {
        "path": str(contract_file), "policy": "quarantine",
        "quarantine": {"format": "delta", "path": str(tmp_path / "quarantine")}})
    config["input"]["file_format"] = "parquet"
    node = NodeConfig.model_validate(config)
    results = []
    (stage,) = contract_stages(node, {"spark": spark, "on_validation": results.append})
    assert stage.enforcer.reread_source
    writer = MicroBatchWriter(node, DeltaBatchSink(node.output, "append", node.name),
                              unique_id="shop.orders", stages=[stage])
    batch = parquet_batch(spark, tmp_path, MIXED)
    writer(batch, 0)
    assert stage.enforcer.reread  # the path under test was taken
    writer(batch, 0)  # a replay: Delta skips both writes
    sink = spark.read.format("delta").load(str(tmp_path / "sink"))
    assert sorted(r.id for r in sink.collect()) == [4, 7]
    quarantined = spark.read.format("delta").load(str(tmp_path / "quarantine")).collect()
    assert {r["status"]: (r[VIOLATIONS_COLUMN], r[BATCH_ID_COLUMN]) for r in quarantined} == {
        "lost": (["status.mustBe"], 0), "paid": (["amount.mustBeGreaterOrEqualTo"], 0),
        "new": (["id.required"], 0)}
    first = results[0]
    assert (first.rows, first.rows_written, first.rows_quarantined) == (5, 2, 3)
    assert first.violations == {"id.required": 1, "status.mustBe": 1,
                                "amount.mustBeGreaterOrEqualTo": 1}
    assert results[1].replayed
    assert sink.columns == ["id", "status", "amount"]  # no flag column leaks


def test_block_on_a_parquet_batch_writes_nothing(spark, tmp_path) -> None:
    enforcer = ContractEnforcer(parse_contract(NO_UNIQUE), node="orders", policy="block",
                                reread_source=True)
    good, bad = parquet_batch(spark, tmp_path, GOOD, "good"), parquet_batch(spark, tmp_path, MIXED)
    enforcer.check_stream(good)
    assert enforcer.reread
    prepared = enforcer.prepare_batch(good, 0)
    assert prepared.blocked is None and prepared.quarantine is None
    prepared.main.write.format("delta").save(str(tmp_path / "sink"))
    assert enforcer.complete_batch(prepared).rows_written == 3
    prepared = enforcer.prepare_batch(bad, 1)
    assert prepared.main is None and "status.mustBe" in prepared.blocked
    with pytest.raises(ContractViolationError):
        prepared.raise_if_blocked("orders")
    assert prepared.persisted is None  # the small cache is released at once
    assert spark.read.format("delta").load(str(tmp_path / "sink")).count() == 3


def test_a_failed_batch_level_rule_quarantines_the_whole_batch(spark, tmp_path) -> None:
    text = NO_UNIQUE + "    quality:\n      - {metric: rowCount, mustBeGreaterThan: 10}\n"
    enforcer = ContractEnforcer(parse_contract(text), node="orders", policy="quarantine",
                                quarantine_id="q", reread_source=True)
    batch = parquet_batch(spark, tmp_path, GOOD)
    enforcer.check_stream(batch)
    prepared = enforcer.prepare_batch(batch, 3)
    assert prepared.main.count() == 0
    rows = prepared.quarantine.collect()
    assert sorted(r.id for r in rows) == [1, 2, 3]  # none matched a row rule: not suspects
    assert {tuple(r[VIOLATIONS_COLUMN]) for r in rows} == {("rowCount",)}
    enforcer.release(prepared)
