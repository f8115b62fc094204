"""SIGTERM stops a continuous `tauro run` cleanly: downstream first, exit 0, results say stopped.

This one needs its own process (a signal and an exit code), so it starts a real `tauro run`
with its own local Spark; everything else runs in-process on the shared session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.jvm_options import C1_ONLY

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TRIGGER_SECONDS = 2
PROJECT = {
    "tauro_project.yml": """
        name: live
        version: "1.0"
        profile: dev
        sources:
          landing:
            format: file_stream
            path: "{{ target.paths.landing }}/events"
            file_format: json
            schema: "id BIGINT, kind STRING"
    """,
    # The JIT options of every test JVM (support/jvm_options.py): a continuous run keeps C2
    # otherwise.
    "profiles.yml": f"""
        profiles:
          dev:
            spark:
              master: "local[2]"
              conf: {{spark.ui.enabled: "false", spark.sql.shuffle.partitions: "2",
                      spark.driver.extraJavaOptions: "{C1_ONLY}"}}
            paths: {{landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}}
            nodes:
              "*": {{streaming: {{trigger: {{type: processing_time, interval: "{TRIGGER_SECONDS} seconds"}}}}}}
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


def _results(project: Path) -> dict | None:
    path = project / "target" / "run_results.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def test_sigterm_stops_a_continuous_run_cleanly(make_project) -> None:
    project = make_project(PROJECT)
    landing = project / "data" / "landing" / "events"
    landing.mkdir(parents=True)
    (landing / "a.json").write_text('{"id": 1, "kind": "click"}\n{"id": 2, "kind": "view"}\n')
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TAURO_PROFILE", None)
    proc = subprocess.Popen([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                             str(project)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            doc = _results(project)
            nodes = (doc or {}).get("nodes", {})
            if (nodes.get("clicks", {}).get("rows_out") or 0) >= 1:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the click never reached the downstream table: {_results(project)}")
        running = _results(project)
        assert running["metadata"]["status"] == "running"       # visible to other processes
        assert {n["status"] for n in running["nodes"].values()} == {"running"}

        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 0, err[-3000:]
    # How fast a stop is, is measured by bench/, never asserted here (a loaded CI box is slow).
    doc = _results(project)
    assert doc["metadata"]["status"] == "stopped"
    assert {n: (v["status"], v["reason"]) for n, v in doc["nodes"].items()} == {
        "events": ("stopped", "stopped by SIGTERM"), "clicks": ("stopped", "stopped by SIGTERM")}
    # downstream first: clicks stopped before its upstream
    assert doc["nodes"]["clicks"]["ended_at"] <= doc["nodes"]["events"]["ended_at"]
    assert "SIGTERM received" in err
    assert "Run stopped" in out
    assert doc["nodes"]["events"]["rows_in"] == 2 and doc["nodes"]["clicks"]["rows_out"] == 1
