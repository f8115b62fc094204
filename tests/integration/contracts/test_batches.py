"""Replays, the after_write hook and the single-pass property, on real Spark + Delta."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from support.contracts_data import (
    CONTRACT,
    GOOD,
    MIXED,
    SCHEMA,
    node_config,
    write_batches,
    write_contract,
)

from tauro_compile.contracts.enforcer import ContractEnforcer
from tauro_compile.contracts.errors import ContractSchemaError, ContractViolationError
from tauro_compile.contracts.loader import parse_contract
from tauro_compile.contracts.stage import contract_stages
from tauro_compile.streaming.batch_writer import BatchContext, DeltaBatchSink, MicroBatchWriter
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.exceptions import StreamingQueryError

pytestmark = pytest.mark.spark


def quarantine_node(tmp_path: Path, contract_file: Path, policy: str = "quarantine") -> NodeConfig:
    source = write_batches(tmp_path / "landing", GOOD)
    contract = {"path": str(contract_file), "policy": policy,
                "quarantine": {"format": "delta", "path": str(tmp_path / "quarantine")}}
    return NodeConfig.model_validate(node_config(tmp_path, source, contract))


def count(spark, path: Path) -> int:
    return spark.read.format("delta").load(str(path)).count()


def test_replayed_batch_is_not_written_twice(spark, tmp_path, contract_file) -> None:
    node = quarantine_node(tmp_path, contract_file)
    stages = contract_stages(node, {"spark": spark})
    writer = MicroBatchWriter(node, DeltaBatchSink(node.output, "append", node.name),
                              unique_id="shop.orders", stages=stages)
    batch = spark.createDataFrame(MIXED, SCHEMA)
    writer(batch, 7)
    writer(batch, 7)  # the same batch again, as after a crash before the checkpoint commit
    assert count(spark, tmp_path / "sink") == 2
    assert count(spark, tmp_path / "quarantine") == 3
    writer(spark.createDataFrame(GOOD, SCHEMA), 8)
    assert count(spark, tmp_path / "sink") == 5


def test_after_write_completes_the_result_with_table_versions(spark, tmp_path,
                                                               contract_file) -> None:
    node = quarantine_node(tmp_path, contract_file)
    results = []
    (stage,) = contract_stages(node, {"spark": spark, "on_validation": results.append})
    sink = DeltaBatchSink(node.output, "append", node.name)

    def run_batch(rows, batch_id):
        batch = BatchContext(node, batch_id, spark.createDataFrame(rows, SCHEMA))
        stage.process(batch)
        outputs = {"main": sink.write(batch.df, batch_id, "shop.orders")}
        for side in batch.side_outputs:
            side_sink = DeltaBatchSink(side.output, "append", node.name)
            outputs[side.suffix] = side_sink.write(side.df, batch_id, f"shop.orders:{side.suffix}")
        stage.after_write(batch, outputs)  # the hook MicroBatchWriter calls after the writes
        return batch, outputs

    batch, outputs = run_batch(MIXED, 0)
    (result,) = results
    assert result.dataset_version == outputs["main"]["version"] == 0
    assert result.quarantine_version == outputs["quarantine"]["version"] == 0
    assert (result.rows_written, result.rows_quarantined, result.replayed) == (2, 3, False)
    assert batch.metrics["contract"]["dataset_version"] == 0
    run_batch(MIXED, 0)  # replay: Delta skips both writes
    assert results[-1].replayed and results[-1].rows_written is None
    assert count(spark, tmp_path / "sink") == 2


def test_warn_takes_its_metrics_from_the_write_job(spark, tmp_path, contract_file) -> None:
    contract = parse_contract(CONTRACT.replace("unique: true", "unique: false"))
    enforcer = ContractEnforcer(contract, node="orders", policy="warn")
    batch = spark.createDataFrame(MIXED, SCHEMA)
    prepared = enforcer.prepare_batch(batch, 0)
    assert prepared.validation is None and prepared.persisted is None  # nothing computed yet
    prepared.main.write.format("delta").save(str(tmp_path / "sink"))
    result = enforcer.complete_batch(prepared, dataset_version=0)
    assert result.rows == 5 and result.decision == "write" and result.status == "fail"
    assert result.violations == {"id.required": 1, "status.mustBe": 1,
                                 "amount.mustBeGreaterOrEqualTo": 1}


def contract_with_rules(n: int) -> str:
    """The base contract plus `n` extra value rules on amount (all in one aggregation)."""
    extra = "".join(f"          - mustBeLessThan: {1000 + i}\n" for i in range(n))
    return CONTRACT + extra


def jobs_of(spark, fn) -> int:
    sc = spark.sparkContext
    group = f"contract-jobs-{time.monotonic_ns()}"
    sc.setJobGroup(group, "count jobs")
    try:
        fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return len(sc.statusTracker().getJobIdsForGroup(group))


@pytest.mark.parametrize("policy", ["quarantine", "block"])
def test_jobs_per_batch_do_not_grow_with_the_number_of_rules(spark, tmp_path, policy) -> None:
    batch = spark.createDataFrame(MIXED, SCHEMA)
    jobs = {}
    for n in (0, 12):
        contract_file = write_contract(tmp_path / f"c{n}.yaml", contract_with_rules(n))
        rules = len(parse_contract(contract_with_rules(n)).expectations)
        enforcer = ContractEnforcer(parse_contract(contract_with_rules(n)), node="orders",
                                    policy=policy, quarantine_id="q")
        enforcer.check_stream(batch)
        validate = jobs_of(spark, lambda e=enforcer: e.release(e.prepare_batch(batch, 0)))
        node = quarantine_node(tmp_path / f"run{n}", contract_file, policy)
        writer = MicroBatchWriter(node, DeltaBatchSink(node.output, "append", node.name),
                                  unique_id="shop.orders", stages=contract_stages(node, {}))

        def whole_batch(w=writer):
            # block fails the batch (StreamingQueryError); its jobs are still counted
            with contextlib.suppress(StreamingQueryError):
                w(batch, 0)

        jobs[rules] = (validate, jobs_of(spark, whole_batch))
    (few, many) = sorted(jobs)
    assert many >= few + 12
    assert jobs[few] == jobs[many], jobs
    # Validation costs exactly what ONE aggregation with a distinct count (the unique rule)
    # over the cached batch costs.
    from pyspark.sql import functions as F

    def one_aggregation():
        cached = spark.createDataFrame(MIXED, SCHEMA).persist()
        cached.agg(F.count(F.lit(1)), F.sum("amount"), F.count_distinct("id")).collect()
        cached.unpersist()

    assert jobs[few][0] == jobs_of(spark, one_aggregation)


def test_before_start_checks_schema_and_rules_of_the_stream(spark, tmp_path) -> None:
    source = write_batches(tmp_path / "landing", GOOD)
    bad_rule = CONTRACT + """\
    quality:
      - type: sql
        query: SELECT COUNT(*) FROM ${object} WHERE discount > 0
"""
    contract_file = write_contract(tmp_path / "orders.yaml", bad_rule)
    (stage,) = contract_stages(quarantine_node(tmp_path, contract_file), {})
    wrong_type = spark.readStream.schema("id STRING, amount DOUBLE").json(str(source))
    with pytest.raises(ContractSchemaError) as info:
        stage.before_start(wrong_type)
    (violation,) = info.value.violations
    assert (violation.column, violation.found) == ("id", "string")
    assert "integer" in violation.expected
    with pytest.raises(ContractSchemaError) as info:
        stage.before_start(spark.readStream.schema(SCHEMA).json(str(source)))
    (rule_error,) = info.value.rule_errors
    assert "sql[0]" in rule_error and "discount" in rule_error


def test_hand_written_foreach_batch_fails_a_blocked_batch(spark) -> None:
    enforcer = ContractEnforcer(parse_contract(CONTRACT), node="orders", policy="block")
    prepared = enforcer.prepare_batch(spark.createDataFrame(MIXED, SCHEMA), 4)
    assert prepared.main is None and prepared.persisted is None  # released at once
    with pytest.raises(ContractViolationError) as info:
        prepared.raise_if_blocked("orders")
    assert info.value.batch_id == 4 and "status.mustBe" in info.value.reason
    assert enforcer.results[-1].decision == "block"
