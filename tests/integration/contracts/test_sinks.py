"""Contracts on every sink (memory, console, kafka, parquet, json, foreach_batch), real Spark.

The expected per-batch results are those of the Delta sink in test_policies.py: the same
contract on the same batches gives the same BatchValidation whatever the sink.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.contracts_data import GOOD, MIXED, SCHEMA, node_config, write_batches, write_contract

from tauro_compile.contracts.evaluation import VIOLATIONS_COLUMN
from tauro_compile.contracts.result import BatchValidation
from tauro_compile.contracts.stage import contract_stages
from tauro_compile.streaming.batch_sinks import STAGING_DIR, FileBatchSink
from tauro_compile.streaming.batch_writer import MicroBatchWriter
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.exceptions import StreamingQueryError
from tauro_compile.streaming.query_manager import StreamingQueryManager

pytestmark = pytest.mark.spark

STRATEGY = "tauro_compile.contracts.strategies:BlockAfterConsecutiveFailures"
# The second batch (MIXED) on the Delta sink: three rules broken once each.
VIOLATIONS = {"id.required": 1, "status.mustBe": 1, "amount.mustBeGreaterOrEqualTo": 1}
VALID_IDS = [1, 2, 3, 4, 7]
BATCHES_SEEN: list[tuple[int, list[int]]] = []


def collect_batch(df, batch_id: int) -> None:
    """A `foreach_batch` output function: records the ids it was given."""
    BATCHES_SEEN.append((batch_id, sorted(r.id for r in df.collect())))


def run(spark, tmp_path: Path, output: dict[str, Any], contract: dict[str, Any],
        batches=(GOOD, MIXED), name: str = "orders", **context: Any):
    """Run the node to its end; return (validations, batch infos, error)."""
    source = write_batches(tmp_path / "landing", *batches)
    config = node_config(tmp_path, source, contract)
    config["output"] = output
    config["streaming"]["query_name"] = name
    validations: list[BatchValidation] = []
    infos: dict[int, dict] = {}
    ctx = {"spark": spark, "on_validation": validations.append,
           "batch_listener": lambda _, batch_id, info: infos.setdefault(batch_id, info), **context}
    error = None
    try:
        query = StreamingQueryManager(ctx).create_and_start_query(NodeConfig.model_validate(config))
        query.awaitTermination()
    except Exception as exc:  # a block fails the query: returned for the assertions
        error = exc
    return validations, infos, error


def summary(validations: list[BatchValidation]) -> list[tuple]:
    return [(v.batch_id, v.status, v.decision, v.rows, v.violations, v.rows_written)
            for v in validations]


def contract(path: Path, policy: str, tmp_path: Path) -> dict[str, Any]:
    found: dict[str, Any] = {"path": str(path), "policy": policy}
    if policy == "quarantine":
        found["quarantine"] = {"format": "delta", "path": str(tmp_path / "quarantine")}
    if policy == "strategy":
        found.update(policy="block", strategy=STRATEGY)
    return found


# policy -> (ids in the sink, decisions, rows written per batch), as on a Delta sink
EXPECTED = {
    "warn": ([1, 2, 3, 4, 5, 6, 7], ["write", "write"], [3, 5]),
    "drop": (VALID_IDS, ["write", "drop"], [3, 2]),
    "quarantine": (VALID_IDS, ["write", "quarantine"], [3, 2]),
    "block": ([1, 2, 3], ["write", "block"], [3, 0]),
    "strategy": ([1, 2, 3, 4, 5, 6, 7], ["write", "write"], [3, 5]),
}


@pytest.mark.parametrize("policy", list(EXPECTED))
def test_memory_sink_takes_every_policy(spark, tmp_path, contract_file, policy) -> None:
    name = f"orders_memory_{policy}"
    validations, infos, error = run(spark, tmp_path, {"format": "memory"},
                                    contract(contract_file, policy, tmp_path), name=name)
    ids, decisions, written = EXPECTED[policy]
    assert (error is not None) == (policy == "block")
    rows = spark.table(name).collect()
    assert sorted(r.id for r in rows if r.id is not None) == ids
    assert summary(validations) == [(0, "ok", decisions[0], 3, {}, written[0]),
                                    (1, "fail", decisions[1], 5, VIOLATIONS, written[1])]
    assert infos[1]["metrics"]["contract"]["violations"] == VIOLATIONS
    if policy == "quarantine":
        quarantined = spark.read.format("delta").load(str(tmp_path / "quarantine"))
        assert quarantined.count() == 3 == validations[1].rows_quarantined


def test_parquet_sink_quarantines_to_parquet_exactly_once(spark, tmp_path, contract_file) -> None:
    out, quarantine = tmp_path / "out", tmp_path / "bad"
    policy = {"path": str(contract_file), "policy": "quarantine",
              "quarantine": {"format": "parquet", "path": str(quarantine)}}
    validations, infos, error = run(spark, tmp_path, {"format": "parquet", "path": str(out)},
                                    policy)
    assert error is None
    assert sorted(r.id for r in spark.read.parquet(str(out)).collect()) == VALID_IDS
    bad = spark.read.parquet(str(quarantine)).collect()
    assert sorted(sorted(r[VIOLATIONS_COLUMN]) for r in bad) == sorted([[k] for k in VIOLATIONS])
    assert summary(validations)[1] == (1, "fail", "quarantine", 5, VIOLATIONS, 2)
    assert infos[1]["outputs"]["main"]["rows"] == 2 and infos[1]["outputs"]["quarantine"]["rows"] == 3

    # A replay of a written batch (a crash before the checkpoint commit) writes nothing.
    node = NodeConfig.model_validate({**node_config(tmp_path, out, policy),
                                      "output": {"format": "parquet", "path": str(out)}})
    writer = MicroBatchWriter(node, FileBatchSink(node.output, node.name), unique_id="orders",
                              stages=contract_stages(node, {"spark": spark}))
    batch = spark.createDataFrame(MIXED, SCHEMA)
    writer(batch, 7)
    writer(batch, 7)
    assert spark.read.parquet(str(out)).count() == 5 + 2
    # A crash after the files were moved but before the batch's marker: the retry first
    # removes what that attempt moved, so the batch is still there once.
    (marker,) = [p for p in (out / STAGING_DIR).rglob("7.done")]
    marker.unlink()
    marker.with_suffix("").mkdir()  # the staging directory the attempt left behind
    writer(batch, 7)
    assert spark.read.parquet(str(out)).count() == 5 + 2
    assert spark.read.parquet(str(quarantine)).count() == 3 + 3
    assert not [p for p in (out / STAGING_DIR).rglob("*.parquet")]  # staging cleaned up


def test_json_sink_block_writes_nothing_of_the_blocked_batch(spark, tmp_path,
                                                             contract_file) -> None:
    out = tmp_path / "out"
    validations, _, error = run(spark, tmp_path, {"format": "json", "path": str(out)},
                                {"path": str(contract_file), "policy": "block"})
    assert isinstance(error, Exception) and "batch 1 was blocked" in str(error)
    assert sorted(r.id for r in spark.read.json(str(out)).collect()) == [1, 2, 3]
    assert [v.decision for v in validations] == ["write", "block"]
    assert not list(out.rglob("tauro-*-1-*"))  # nothing of batch 1, not even staged
    assert not list((out / STAGING_DIR).rglob("1")) and not list(out.rglob("1.done"))


def test_file_sink_written_by_spark_is_refused(spark, tmp_path, contract_file) -> None:
    out = tmp_path / "out"
    (out / "_spark_metadata").mkdir(parents=True)
    _, _, error = run(spark, tmp_path, {"format": "parquet", "path": str(out)},
                      {"path": str(contract_file), "policy": "drop"})
    assert isinstance(error, StreamingQueryError)
    assert "_spark_metadata" in str(error) and "new output.path" in error.hint
    assert not (tmp_path / "checkpoint" / "commits").exists()


def test_console_sink_prints_only_the_valid_rows(spark, tmp_path, contract_file) -> None:
    printed: list[tuple[int, str]] = []
    validations, _, error = run(spark, tmp_path, {"format": "console"},
                                {"path": str(contract_file), "policy": "drop"},
                                batch_printer=lambda node, batch_id, text: printed.append(
                                    (batch_id, text)))
    assert error is None
    assert summary(validations)[1] == (1, "fail", "drop", 5, VIOLATIONS, 2)
    text = dict(printed)[1]
    assert "lost" not in text and "-3.0" not in text and "NULL" not in text
    assert "|  4|" in text and "|  7|" in text


def test_foreach_batch_output_gets_the_checked_rows(spark, tmp_path, contract_file) -> None:
    BATCHES_SEEN.clear()
    validations, _, error = run(
        spark, tmp_path, {"format": "foreach_batch", "function": "test_sinks:collect_batch"},
        contract(contract_file, "quarantine", tmp_path))
    assert error is None
    assert BATCHES_SEEN == [(0, [1, 2, 3]), (1, [4, 7])]
    assert summary(validations)[1] == (1, "fail", "quarantine", 5, VIOLATIONS, 2)
    assert spark.read.format("delta").load(str(tmp_path / "quarantine")).count() == 3


@pytest.mark.kafka
def test_kafka_sink_with_a_contract(spark, kafka_broker, tmp_path, contract_file) -> None:
    topic = "tauro-contract-sink"
    kafka_broker.create_topic(topic, partitions=1)
    servers = kafka_broker.bootstrap_servers
    validations, _, error = run(
        spark, tmp_path, {"format": "kafka", "options": {"kafka.bootstrap.servers": servers,
                                                         "topic": topic}},
        contract(contract_file, "quarantine", tmp_path))
    assert error is None
    sent = (spark.read.format("kafka").option("kafka.bootstrap.servers", servers)
            .option("subscribe", topic).option("startingOffsets", "earliest").load()
            .selectExpr("CAST(value AS STRING) AS v").collect())
    assert sorted(json.loads(r.v)["id"] for r in sent) == VALID_IDS
    assert summary(validations) == [(0, "ok", "write", 3, {}, 3),
                                    (1, "fail", "quarantine", 5, VIOLATIONS, 2)]


DC43_CONTRACT = """\
apiVersion: 3.0.2
kind: DataContract
id: demo.orders
version: 0.1.0
schema:
  - name: orders
    properties:
      - name: id
        physicalType: bigint
        quality:
          - rule: not_null
          - rule: unique
      - name: status
        physicalType: string
        quality:
          - rule: enum
            mustBe: [new, paid]
          - rule: regex
            mustBe: '^[a-z]+$'
      - name: amount
        physicalType: double
        quality:
          - mustBeGreaterOrEqualTo: 0
"""


def test_a_dc43_contract_enforces_unchanged(spark, tmp_path) -> None:
    """A contract as dc43 writes it (`rule:` names, `mustBe` as the parameter)."""
    path = write_contract(tmp_path / "dc43.yaml", DC43_CONTRACT)
    batch = [*MIXED, {"id": 7, "status": "PAID", "amount": 1.0}]
    validations, _, error = run(spark, tmp_path, {"format": "memory"},
                                {"path": str(path), "policy": "drop"}, batches=(batch,),
                                name="orders_dc43")
    assert error is None
    (result,) = validations
    assert result.violations == {"id.not_null": 1, "id.unique": 1, "status.enum": 2,
                                 "status.regex": 1, "amount.mustBeGreaterOrEqualTo": 1}
    assert sorted(r.id for r in spark.table("orders_dc43").collect()) == [4]
