"""Each policy on a real stream (JSON files -> foreachBatch -> Delta), with exact counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.contracts_data import GOOD, MIXED, node_config, write_batches

from tauro_compile.contracts.evaluation import BATCH_ID_COLUMN, VIOLATIONS_COLUMN
from tauro_compile.contracts.result import BatchValidation
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.query_manager import StreamingQueryManager

pytestmark = pytest.mark.spark


def run_node(spark, tmp_path: Path, contract: dict[str, Any], batches=(GOOD, MIXED),
             schema: str | None = None):
    """Run the node to the end through the streaming layer; return (validations, infos, error)."""
    source = write_batches(tmp_path / "landing", *batches)
    kwargs = {"schema": schema} if schema else {}
    node = NodeConfig.model_validate(node_config(tmp_path, source, contract, **kwargs))
    validations: list[BatchValidation] = []
    infos: list[tuple[int, dict]] = []
    context = {"spark": spark, "on_validation": validations.append,
               "batch_listener": lambda name, batch_id, info: infos.append((batch_id, info))}
    error = None
    try:  # the streaming layer registers the contract stage itself
        StreamingQueryManager(context).create_and_start_query(node).awaitTermination()
    except Exception as exc:  # refused at start or failed (block): returned for the assertions
        error = exc
    return validations, infos, error


def delta_rows(spark, path: Path) -> list[dict]:
    return [r.asDict() for r in spark.read.format("delta").load(str(path)).orderBy("id").collect()]


def test_warn_writes_everything_and_records_violations(spark, tmp_path, contract_file) -> None:
    validations, infos, error = run_node(spark, tmp_path, {"path": str(contract_file),
                                                           "policy": "warn"})
    assert error is None
    assert len(delta_rows(spark, tmp_path / "sink")) == 8
    first, second = validations
    assert (first.batch_id, first.status, first.decision, first.rows) == (0, "ok", "write", 3)
    assert (second.status, second.decision, second.rows) == ("fail", "write", 5)
    assert second.violations == {"id.required": 1, "status.mustBe": 1,
                                 "amount.mustBeGreaterOrEqualTo": 1}
    assert (second.contract_id, second.contract_version) == ("urn:test:orders", "2.1.0")
    assert second.dataset_id == str(tmp_path / "sink")
    assert [v.dataset_version for v in validations] == [0, 1]
    assert [v.rows_written for v in validations] == [3, 5]
    # The batch listener of the streaming context carries the same result.
    contract_infos = {b: info["metrics"]["contract"] for b, info in infos}
    assert contract_infos[1]["violations"] == second.violations


def test_drop_writes_only_valid_rows(spark, tmp_path, contract_file) -> None:
    validations, _, error = run_node(spark, tmp_path, {"path": str(contract_file),
                                                       "policy": "drop"})
    assert error is None
    assert [r["id"] for r in delta_rows(spark, tmp_path / "sink")] == [1, 2, 3, 4, 7]
    assert [v.decision for v in validations] == ["write", "drop"]


def test_quarantine_routes_invalid_rows_with_their_rules(spark, tmp_path, contract_file) -> None:
    contract = {"path": str(contract_file), "policy": "quarantine",
                "quarantine": {"format": "delta", "path": str(tmp_path / "quarantine")}}
    validations, infos, error = run_node(spark, tmp_path, contract)
    assert error is None
    assert [r["id"] for r in delta_rows(spark, tmp_path / "sink")] == [1, 2, 3, 4, 7]
    quarantined = spark.read.format("delta").load(str(tmp_path / "quarantine"))
    rules = {r["status"]: (sorted(r[VIOLATIONS_COLUMN]), r[BATCH_ID_COLUMN])
             for r in quarantined.collect()}
    assert rules == {"lost": (["status.mustBe"], 1),
                     "paid": (["amount.mustBeGreaterOrEqualTo"], 1),
                     "new": (["id.required"], 1)}
    second = validations[1]
    assert (second.decision, second.rows_written, second.rows_quarantined) == ("quarantine", 2, 3)
    outputs = dict(infos)[1]["outputs"]
    assert second.dataset_version == outputs["main"]["version"] == 1
    assert second.quarantine_version == outputs["quarantine"]["version"] == 0
    assert outputs["main"]["rows"] == 2 and outputs["quarantine"]["rows"] == 3


def test_block_stops_before_the_bad_batch_is_written(spark, tmp_path, contract_file) -> None:
    validations, infos, error = run_node(spark, tmp_path, {"path": str(contract_file),
                                                           "policy": "block"})
    assert error is not None
    message = str(error)
    for text in ("orders", "batch 1", "status.mustBe=1", "id.required=1",
                 "amount.mustBeGreaterOrEqualTo=1", "urn:test:orders"):
        assert text in message
    # The earlier good batch stays; the bad one never reached the sink.
    assert [r["id"] for r in delta_rows(spark, tmp_path / "sink")] == [1, 2, 3]
    assert [v.decision for v in validations] == ["write", "block"]
    assert dict(infos)[1]["aborted"]


def test_schema_mismatch_stops_before_any_write(spark, tmp_path, contract_file) -> None:
    _, _, error = run_node(spark, tmp_path, {"path": str(contract_file), "policy": "warn"},
                           schema="id STRING, amount DOUBLE")
    assert error is not None
    message = str(error)
    assert "column 'id'" in message and "found string" in message
    assert "column 'status'" not in message  # optional in the contract
    assert not (tmp_path / "sink").exists()
    assert not (tmp_path / "checkpoint" / "commits").exists()  # refused before the query ran


def test_strategy_blocks_after_consecutive_failures(spark, tmp_path, contract_file) -> None:
    contract = {"path": str(contract_file), "policy": "block",
                "strategy": "tauro_compile.contracts.strategies:BlockAfterConsecutiveFailures"}
    validations, _, error = run_node(spark, tmp_path, contract,
                                     batches=(GOOD, MIXED, MIXED[1:2], MIXED[2:3], GOOD))
    assert error is not None and "3 failing batches in a row" in str(error)
    assert [v.decision for v in validations] == ["write", "write", "write", "block"]
    # Batches 0-2 are in the sink (two tolerated failing batches), batch 3 is not.
    assert len(delta_rows(spark, tmp_path / "sink")) == 3 + 5 + 1
