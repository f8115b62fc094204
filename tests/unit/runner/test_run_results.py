"""run_results.json: versioned schema, atomic writes, throttled snapshots, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path

from support.engine_fakes import FakeClock, node, plan

from tauro_compile.runner.results import RUN_RESULTS_VERSION, RunResultsWriter, read_run_results
from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState


def _state(clock: FakeClock) -> RunState:
    s = RunState([NodeRecord(name="a", unique_id="proj.a", bounded=True,
                             checkpoint_location="/ck/a"),
                  NodeRecord(name="b", unique_id="proj.b", bounded=True)], clock=clock)
    s.transition("a", NodeState.STARTING)
    s.transition("a", NodeState.RUNNING)
    s.add_progress("a", BatchProgress(batch_id=0, input_rows=3, rows_out=3, duration_ms=5))
    s.add_batch_result("a", {"batch_id": 0, "violations": 1,
                             "sink": {"kafka.sasl.jaas.config": "user pass"}})
    return s


def test_document_schema_and_atomic_write(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = RunResultsWriter(plan(node("a"), node("b", "a"), target=tmp_path),
                              invocation={"select": ["a+"]}, clock=clock)
    s = _state(clock)
    clock.sleep(2.5)
    s.transition("a", NodeState.SUCCEEDED)
    s.transition("b", NodeState.SKIPPED, reason="upstream 'a' failed")
    path = writer.write(s, "succeeded")
    doc = json.loads(path.read_text())
    meta = doc["metadata"]
    assert meta["run_results_version"] == RUN_RESULTS_VERSION == 2
    assert set(meta) == {"run_results_version", "tauro_version", "run_id", "project", "profile",
                         "started_at", "ended_at", "elapsed_s", "status", "invocation",
                         "heartbeat_at", "lock", "driver", "metrics_url", "events"}
    assert meta["heartbeat_at"] == meta["ended_at"]
    assert (meta["project"], meta["profile"], meta["status"], meta["elapsed_s"]) == (
        "proj", "dev", "succeeded", 2.5)
    assert meta["invocation"]["select"] == ["a+"] and meta["invocation"]["command"] == "run"
    a = doc["nodes"]["a"]
    assert set(a) == {"unique_id", "status", "reason", "attempts", "started_at", "ended_at",
                      "duration_s", "batches", "rows_in", "rows_out", "last_progress", "error",
                      "error_summary", "checkpoint_location", "batch_results", "batch_totals",
                      "restarts", "stalls", "stalled_since", "last_batch_at", "counts"}
    assert a["counts"] == {"contract_violations": {}, "quarantined_rows": 0, "dead_letters": 0,
                           "parse_dropped": 0}
    assert (a["status"], a["batches"], a["rows_in"], a["rows_out"], a["duration_s"]) == (
        "succeeded", 1, 3, 3, 2.5)
    assert a["last_progress"]["batch_id"] == 0 and a["checkpoint_location"] == "/ck/a"
    assert a["batch_results"][0]["sink"]["kafka.sasl.jaas.config"] == "***"
    assert a["batch_totals"] == {"violations": 1}
    assert doc["nodes"]["b"]["reason"] == "upstream 'a' failed"
    assert read_run_results(tmp_path) == doc
    assert [p.name for p in tmp_path.iterdir()] == ["run_results.json"]  # no temp file left


def test_running_snapshots_are_throttled(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = RunResultsWriter(plan(node("a"), node("b"), target=tmp_path), interval=2.0,
                              clock=clock)
    s = _state(clock)
    assert writer.maybe_write(s) is True
    assert read_run_results(tmp_path)["metadata"]["status"] == "running"
    assert read_run_results(tmp_path)["metadata"]["ended_at"] is None
    clock.sleep(1)
    assert writer.maybe_write(s) is False
    clock.sleep(1.5)
    assert writer.maybe_write(s) is True


def test_secret_values_in_errors_are_masked(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = RunResultsWriter(plan(node("a"), node("b"), target=tmp_path), clock=clock)
    s = _state(clock)
    s.transition("a", NodeState.FAILED, error="auth failed for ${secret:KAFKA_PASSWORD}")
    doc = json.loads(writer.write(s, "failed").read_text())
    assert doc["nodes"]["a"]["error"] == "auth failed for ***"
