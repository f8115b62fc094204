"""`tauro status`'s document: running, ended, dead and never-run, from the files alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from support.engine_fakes import FakeClock, node, plan, progress

from tauro_compile.runner.events import EventLog, read_events
from tauro_compile.runner.lock import RunLock, iso
from tauro_compile.runner.results import RunResultsWriter
from tauro_compile.runner.status import render_status, run_status
from tauro_compile.streaming.state import NodeRecord, NodeState, RunState


def _state() -> RunState:
    s = RunState([NodeRecord("a", "proj.a", False), NodeRecord("b", "proj.b", False)])
    s.transition("a", NodeState.STARTING)
    s.transition("a", NodeState.RUNNING)
    s.add_progress("a", progress(3, 7))
    s.add_batch_result("a", {"batch_id": 3, "metrics": {
        "contract": {"violations": {"not_null_id": 2}, "rows_quarantined": 2},
        "dead_letter": {"bad": 1}}})
    return s


def _write(tmp_path: Path, lock: RunLock | None, status: str = "running",
           final: bool = False) -> RunResultsWriter:
    writer = RunResultsWriter(plan(node("a"), node("b"), target=tmp_path / "target"),
                              run_id=lock.holder.run_id if lock else None)
    if lock is not None:
        writer.extra["lock"] = {"path": str(lock.path), "shared": True, "taken_over": None,
                                "holder": lock.holder.to_dict()}
    writer.write(_state(), status, final=final)
    return writer


def _lock(tmp_path: Path, pid: int | None = None) -> RunLock:
    lock = RunLock(tmp_path / "chk" / ".tauro", shared=True, project="proj", profile="dev",
                   project_dir=str(tmp_path), command="tauro run --profile dev")
    if pid is not None:
        lock.holder = type(lock.holder)(**{**lock.holder.to_dict(), "pid": pid})
    lock.acquire()
    return lock


def _status(tmp_path: Path) -> dict:
    return run_status("proj", "dev", tmp_path / "target", tmp_path / "chk" / ".tauro")


def test_no_run_yet_says_so(tmp_path: Path) -> None:
    doc = _status(tmp_path)
    assert doc["status_version"] == 1 and doc["run"]["state"] == "none" and doc["nodes"] == []
    assert "no run of project 'proj' with profile 'dev' yet" in render_status(doc)


def test_a_live_run_is_running_with_its_node_figures(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    _write(tmp_path, lock)
    doc = _status(tmp_path)
    run = doc["run"]
    assert run["state"] == "running" and run["run_id"] == lock.holder.run_id
    assert run["pid"] == lock.holder.pid and run["command"] == "tauro run --profile dev"
    a = doc["nodes"][0]
    assert (a["name"], a["state"], a["last_batch_id"], a["rows_in"]) == ("a", "running", 3, 7)
    assert a["contract_violations"] == {"not_null_id": 2}
    assert (a["quarantined_rows"], a["dead_letters"]) == (2, 1)
    assert a["seconds_since_last_batch"] is not None
    text = render_status(doc)
    assert "RUNNING" in text and "pid:" in text


def test_an_ended_run_is_ended(tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    _write(tmp_path, lock, status="stopped", final=True)
    lock.release()
    doc = _status(tmp_path)
    assert doc["run"]["state"] == "ended" and doc["run"]["status"] == "stopped"


def test_a_run_whose_process_is_gone_is_dead_never_running(tmp_path: Path) -> None:
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    lock = _lock(tmp_path, pid=gone)
    _write(tmp_path, lock)
    doc = _status(tmp_path)
    assert doc["run"]["state"] == "dead" and "is gone" in doc["run"]["dead_reason"]
    assert doc["nodes"][0]["state"] == "dead" and doc["nodes"][0]["last_known_state"] == "running"
    assert "DEAD" in render_status(doc)


def test_a_stale_heartbeat_is_dead_and_results_of_another_profile_are_not_shown(
        tmp_path: Path) -> None:
    lock = _lock(tmp_path)
    _write(tmp_path, lock)
    data = {**lock.holder.to_dict(), "host": "elsewhere", "heartbeat_at": iso(time.time() - 600)}
    lock.path.write_text(json.dumps(data))
    assert _status(tmp_path)["run"]["state"] == "dead"
    other = run_status("proj", "prod", tmp_path / "target", tmp_path / "none")
    assert other["run"]["state"] == "none" and other["nodes"] == []


def test_events_are_versioned_masked_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path, "run1", known_secrets=("s3cr3t",))
    s = RunState([NodeRecord("a", "proj.a", False)], clock=FakeClock())
    s.on_change(log.node_changed)
    s.transition("a", NodeState.STARTING)
    s.transition("a", NodeState.FAILED, reason="boom", error="password s3cr3t rejected",
                 error_summary="password s3cr3t rejected")
    log.emit("run_ended", status="failed", exit_code=1)
    events = read_events(tmp_path)
    assert [e["event"] for e in events] == ["node_state", "node_state", "node_error", "run_ended"]
    assert all(e["events_version"] == 1 and e["run_id"] == "run1" for e in events)
    assert events[1]["from"] == "starting" and events[1]["to"] == "failed"
    assert events[2]["error"] == "password *** rejected"
    assert "s3cr3t" not in (tmp_path / "events.jsonl").read_text()
