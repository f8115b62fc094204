"""The same projects over Spark Connect (`spark: {remote: "sc://..."}`).

`tauro run` runs in its own process with no JVM of its own: every query, foreachBatch stage
(the contract with its quarantine, the MERGE upsert) and progress read goes to the session's
Connect server (`connect_server`, tests/support/spark_cluster.py: local[2] inside, with the
pinned Delta and Kafka jars). The data it wrote is read back on the suite's shared local
session, and compared with the same project run locally.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
RUN_TIMEOUT = 600
pytestmark = pytest.mark.timeout(1500)  # a JVM-less client, but the server does the work


def remote_profile(doc: dict, url: str, base: Path) -> dict:
    """The example's profiles plus `remote`: dev with its master dropped for a Connect URL."""
    doc["profiles"]["dev"]["paths"] = {k: str(base / v)
                                       for k, v in doc["profiles"]["dev"]["paths"].items()}
    doc["profiles"]["remote"] = {"extends": "dev", "spark": {"master": None, "remote": url}}
    return doc


def test_example_project_over_spark_connect_matches_local(tmp_path, connect_server, spark,
                                                          example_local_counts, copy_example):
    project = copy_example(tmp_path / "remote")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    doc = remote_profile(yaml.safe_load((EXAMPLE / "profiles.yml").read_text()),
                         connect_server.url, project)
    (profiles / "profiles.yml").write_text(yaml.safe_dump(doc))
    proc = subprocess.run([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                           str(project), "--plain", "--profile", "remote", "--profiles-dir",
                           str(profiles)], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warehouse = project / "data" / "warehouse"
    got = {t: spark.read.format("delta").load(str(warehouse / t)).count()
           for t in example_local_counts}
    assert got == example_local_counts
    results = json.loads((project / "target" / "run_results.json").read_text())
    assert {n["status"] for n in results["nodes"].values()} == {"succeeded"}
    # Progress came over Connect: every node counted its batches and rows.
    assert all(n["batches"] >= 1 and n["rows_in"] for n in results["nodes"].values())
    # No JVM in the tauro process: its Spark log does not exist.
    assert not (project / "target" / "logs" / "spark.log").exists()


LIVE = {
    "tauro_project.yml": 'name: live\nversion: "1.0"\nprofile: remote\n',
    "nodes/ticks.yml": """
        input: {format: rate, options: {rowsPerSecond: 20}}
        transforms:
          - sql: "SELECT value AS id, timestamp FROM {{ input }}"
        output: {format: delta, path: "{{ target.paths.warehouse }}/ticks", mode: merge,
                 merge_keys: [id]}
        streaming: {trigger: {type: processing_time, interval: "2 seconds"},
                    output_mode: update}
    """,
}


def test_sigterm_over_connect_stops_cleanly(make_project, connect_server, spark):
    files = {**LIVE, "profiles.yml": yaml.safe_dump({"profiles": {"remote": {
        "spark": {"remote": connect_server.url},
        "paths": {"warehouse": "data/warehouse", "checkpoints": "data/chk"}}}})}
    project = make_project(files)
    proc = subprocess.Popen([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                             str(project), "--plain"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    results_path = project / "target" / "run_results.json"
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            node = _node(results_path, "ticks")
            if node.get("status") == "running" and (node.get("batches") or 0) >= 2:
                break
            time.sleep(0.3)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err
    node = _node(results_path, "ticks")
    assert node["status"] == "stopped"
    assert json.loads(results_path.read_text())["metadata"]["status"] == "stopped"
    # The MERGE upserts (SQL over Connect) wrote each id once, batch after batch.
    ticks = spark.read.format("delta").load(str(project / "data/warehouse/ticks"))
    assert ticks.count() == ticks.select("id").distinct().count() > 0


def _node(path: Path, name: str) -> dict:
    try:
        return json.loads(path.read_text())["nodes"].get(name) or {}
    except (OSError, ValueError, KeyError):
        return {}
