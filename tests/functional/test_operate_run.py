"""Operating a real `tauro run` from other processes: the lock, status, metrics, stop, and
the ways a run can end (killed, driver killed, whole process group signalled), on real Spark.

Each `tauro run` here is its own process with its own JVM (~20-40 s each), so the checks
share runs: two tests, five runs in all.
"""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
from pathlib import Path

import pytest
from operate_support import (
    cleanup,
    finish,
    free_port,
    node_field,
    pid_gone,
    results,
    start_run,
    tauro,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families
from support.jvm_options import C1_ONLY

from tauro_compile.runner.events import read_events

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PROJECT = {
    "tauro_project.yml": """
        name: ops
        version: "1.0"
        profile: dev
        sources:
          landing:
            format: file_stream
            path: "{{ target.paths.landing }}/events"
            file_format: json
            schema: "id BIGINT, kind STRING"
    """,
    "profiles.yml": """
        profiles:
          dev:
            spark:
              master: "local[2]"
              conf: {spark.ui.enabled: "false", spark.sql.shuffle.partitions: "2",
                     spark.driver.extraJavaOptions: "@C1_ONLY@"}
            paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}
            nodes:
              "*": {streaming: {trigger: {type: processing_time, interval: "1 second"}}}
    """,
    "nodes/events.yml": """
        input: {source: landing}
        output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
    """,
    "nodes/clicks.yml": """
        input: {ref: events}
        transforms:
          - sql: "SELECT id FROM {{ input }} WHERE kind = 'click'"
        output: {format: delta, path: "{{ target.paths.warehouse }}/clicks"}
    """,
}
# The JIT options of every test JVM (support/jvm_options.py).
PROJECT["profiles.yml"] = PROJECT["profiles.yml"].replace("@C1_ONLY@", C1_ONLY)
STOPPED_SPARK = ("stopped SparkContext", "No active or default Spark session",
                 "StackOverflowError")


def land(project: Path, name: str, ids: range) -> None:
    """A JSON file of events, `click` for even ids, written whole (rename) for the file source."""
    landing = project / "data" / "landing" / "events"
    landing.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"id": i, "kind": "click" if i % 2 == 0 else "view"}) + "\n"
                    for i in ids)
    tmp = landing.parent / f".{name}.tmp"
    tmp.write_text(lines)
    tmp.rename(landing / f"{name}.json")


def _scrape(url: str) -> dict[tuple[str, str], float]:
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.labels.get("project") == "ops" and "node" in s.labels and "state" not in s.labels:
                out[(s.name, s.labels["node"])] = s.value
            elif s.name == "tauro_node_state" and s.value == 1:
                out[("state", s.labels["node"])] = s.labels["state"]
    return out


def test_lock_status_metrics_and_stop_from_other_processes(make_project, tmp_path) -> None:
    project = make_project(PROJECT)
    land(project, "a", range(0, 4))
    port = free_port()
    log = tmp_path / "run.log"
    proc = start_run(project, "--metrics-port", str(port), log=log)
    try:
        wait_for("both nodes running with the clicks written",
                 lambda: node_field(project, "clicks", "rows_out") == 2, proc, log)
        first = results(project)["metadata"]

        # 1. a second run of the same checkpoints is refused at once, naming the holder
        second = tauro("run", "--project-dir", project, timeout=60)
        assert second.returncode == 2, second.stderr
        assert "another run of these checkpoints is in progress" in second.stderr
        assert f"pid {proc.pid} on " in second.stderr and "profile 'dev'" in second.stderr
        assert "tauro run --plain --project-dir" in second.stderr     # its command
        assert "Traceback" not in second.stderr
        assert results(project)["metadata"]["run_id"] == first["run_id"]   # results untouched

        # 2. status from another shell: running, with the nodes' figures
        status = tauro("status", "--project-dir", project, "--output", "json")
        doc = json.loads(status.stdout)
        assert doc["run"]["state"] == "running" and doc["run"]["pid"] == proc.pid
        assert doc["run"]["metrics_url"] == first["metrics_url"]
        nodes = {n["name"]: n for n in doc["nodes"]}
        assert nodes["events"]["state"] == "running" and nodes["events"]["rows_in"] == 4
        assert nodes["clicks"]["rows_out"] == 2 and nodes["events"]["last_batch_id"] is not None
        text = tauro("status", "--project-dir", project).stdout
        assert "RUNNING" in text and f"pid: {proc.pid}" in text and "events" in text

        # 3. metrics, parsed with prometheus_client's parser, agree with run_results
        assert first["metrics_url"].endswith(f":{port}/metrics")
        scraped = _scrape(f"http://127.0.0.1:{port}/metrics")
        written = results(project)["nodes"]
        for name in ("events", "clicks"):
            assert scraped[("tauro_node_input_rows_total", name)] == written[name]["rows_in"]
            assert scraped[("tauro_node_batches_total", name)] == written[name]["batches"]
            assert scraped[("tauro_node_output_rows_total", name)] == written[name]["rows_out"]
            assert scraped[("state", name)] == "running"
            assert scraped[("tauro_node_batch_duration_seconds_count", name)] == \
                written[name]["batches"]

        # 4. stop from another process: clean, downstream first, reported
        stop = tauro("stop", "--project-dir", project, "--timeout", "90s", timeout=150)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert "The run ended after" in stop.stdout and ": stopped (" in stop.stdout
        assert finish(proc) == 0, log.read_text()[-3000:]
    finally:
        cleanup(proc, project)
    end = results(project)
    assert end["metadata"]["status"] == "stopped"
    assert {n["status"] for n in end["nodes"].values()} == {"stopped"}
    assert end["nodes"]["clicks"]["reason"].startswith("stopped by `tauro stop` (pid ")
    assert end["nodes"]["clicks"]["ended_at"] <= end["nodes"]["events"]["ended_at"]
    assert end["metadata"]["lock"]["holder"]["pid"] == proc.pid

    # 5. after a clean end: ended, lock released
    doc = json.loads(tauro("status", "--project-dir", project, "--output", "json").stdout)
    assert doc["run"]["state"] == "ended" and doc["run"]["status"] == "stopped"
    assert not (project / "data" / "chk" / ".tauro" / "run.lock").exists()
    kinds = [e["event"] for e in read_events(project / "target")]
    assert kinds[0] == "run_started" and kinds[-1] == "run_ended"
    assert "stop_requested" in kinds and kinds.count("node_state") >= 6


def test_killed_run_dead_lock_taken_over_driver_killed_resume_exact_and_group_term(
        make_project, tmp_path, spark) -> None:
    project = make_project(PROJECT)
    land(project, "a", range(0, 10))

    # A: SIGKILL of the tauro process: status says dead, never running
    log_a = tmp_path / "a.log"
    proc = start_run(project, log=log_a)
    try:
        wait_for("run A processed the first file",
                 lambda: node_field(project, "clicks", "rows_out") == 5, proc, log_a)
        driver_a = results(project)["metadata"]["driver"]["pid"]
        proc.kill()
        proc.wait(timeout=30)
        # the driver JVM goes when its Python parent does (its stdin closes)
        wait_for("run A's driver JVM to exit", lambda: pid_gone(driver_a), timeout=60)
    finally:
        cleanup(proc, project)
    doc = json.loads(tauro("status", "--project-dir", project, "--output", "json").stdout)
    assert doc["run"]["state"] == "dead", doc["run"]
    assert f"pid {proc.pid}" in doc["run"]["dead_reason"] and "gone" in doc["run"]["dead_reason"]
    assert {n["state"] for n in doc["nodes"]} == {"dead"}
    assert "DEAD" in tauro("status", "--project-dir", project).stdout

    # B: takes the stale lock over, saying so; then its driver JVM is killed (-9)
    land(project, "b", range(10, 20))
    log_b = tmp_path / "b.log"
    proc = start_run(project, log=log_b)
    try:
        wait_for("run B running", lambda: (results(project) or {}).get("metadata", {})
                 .get("invocation", {}).get("pid") == proc.pid
                 and node_field(project, "clicks", "status") == "running", proc, log_b)
        driver_b = results(project)["metadata"]["driver"]["pid"]   # asked of the Spark context
        assert driver_b != proc.pid
        os.kill(driver_b, signal.SIGKILL)
        code = finish(proc)
    finally:
        cleanup(proc, project)
    out_b = log_b.read_text()
    assert code == 1, out_b[-3000:]
    assert "Took over a stale run lock" in out_b
    assert "Traceback" not in out_b and "ConnectionRefusedError" not in out_b
    reason = "the Spark driver exited (killed by signal 9 (SIGKILL); its last log lines are in "
    assert reason in out_b and "Run failed" in out_b
    end = results(project)
    assert end["metadata"]["status"] == "failed" and end["metadata"]["ended_at"]
    assert end["metadata"]["driver"]["exit"].startswith("the Spark driver exited (killed by")
    assert end["metadata"]["lock"]["taken_over"] and "gone" in end["metadata"]["lock"]["taken_over"]
    assert {n["status"] for n in end["nodes"].values()} == {"failed"}
    assert all(n["reason"].startswith(reason) for n in end["nodes"].values())
    # the driver's last words are in that run's own log file under target/logs/
    assert re.search(re.escape(str(project / "target" / "logs")) + r"/run-\d{8}-\d{6}(-\d+)?\.log",
                     end["nodes"]["events"]["reason"])
    doc = json.loads(tauro("status", "--project-dir", project, "--output", "json").stdout)
    assert (doc["run"]["state"], doc["run"]["status"]) == ("ended", "failed")

    # C: resumes; then the whole process group, and the JVM, get SIGTERM
    land(project, "c", range(20, 26))
    log_c = tmp_path / "c.log"
    logs_before = set((project / "target" / "logs").glob("run-*.log"))
    proc = start_run(project, log=log_c)
    try:
        wait_for("run C caught up (files b and c)",
                 lambda: (results(project) or {}).get("metadata", {}).get("invocation", {})
                 .get("pid") == proc.pid and node_field(project, "events", "status") == "running"
                 and _table_count(spark, project, "clicks") == 13, proc, log_c, every=3)
        driver_c = results(project)["metadata"]["driver"]["pid"]
        # what systemd's KillMode=control-group does: SIGTERM to every process, JVM included
        os.killpg(proc.pid, signal.SIGTERM)
        os.kill(driver_c, signal.SIGTERM)
        code = finish(proc)
    finally:
        cleanup(proc, project)
    out_c = log_c.read_text()
    assert code == 0, out_c[-3000:]
    end = results(project)
    assert end["metadata"]["status"] == "stopped"
    assert {(n["status"], n["reason"]) for n in end["nodes"].values()} == {
        ("stopped", "stopped by SIGTERM")}
    (run_c_log,) = set((project / "target" / "logs").glob("run-*.log")) - logs_before
    new_log = run_c_log.read_text(errors="replace")
    assert not [w for w in STOPPED_SPARK if w in new_log], new_log[-3000:]
    # nothing lost, nothing twice across the killed, the failed and the resumed runs
    events = spark.read.format("delta").load(str(project / "data/warehouse/events"))
    clicks = spark.read.format("delta").load(str(project / "data/warehouse/clicks"))
    assert sorted(r.id for r in events.collect()) == list(range(26))
    assert sorted(r.id for r in clicks.collect()) == list(range(0, 26, 2))


def _table_count(spark, project: Path, name: str) -> int:
    try:
        return spark.read.format("delta").load(str(project / "data/warehouse" / name)).count()
    except Exception:
        return -1
