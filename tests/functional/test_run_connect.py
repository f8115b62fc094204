"""The same projects over Spark Connect (`spark: {remote: "sc://..."}`).

`tauro run` runs in its own process with no JVM of its own: every query, foreachBatch stage
(the contract with its quarantine, the MERGE upsert) and progress read goes to the session's
Connect server (`connect_server`, tests/support/spark_cluster.py: local[2] inside, with the
pinned Delta and Kafka jars). The data it wrote is read back on the suite's shared local
session, and compared with the same project run locally.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
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
    # The MERGE upserts (SQL over Connect) wrote each id once, batch after batch. One read:
    # over Connect the MERGE of the batch stopped mid-way is the server's Python worker's
    # own command, which may still commit after the stop returned (a replay of that batch is
    # skipped by its txnVersion), so two reads may see two versions.
    ids = [r.id for r in spark.read.format("delta").load(
        str(project / "data/warehouse/ticks")).select("id").collect()]
    assert len(ids) == len(set(ids)) > 0


def _node(path: Path, name: str) -> dict:
    try:
        return json.loads(path.read_text())["nodes"].get(name) or {}
    except (OSError, ValueError, KeyError):
        return {}




# Two Kafka nodes over Connect, each splitting bad records off in its foreachBatch stage (in
# the server's Python): one appends to Delta with a Delta dead-letter table, one MERGEs (SQL)
# with a dead-letter topic.
def _kafka_node(dead_letter: str, output: str, extra: str = "") -> str:
    return f"""
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}}}"
            subscribe: "{{{{ env_var('IN_TOPIC') }}}}"
            startingOffsets: earliest
          parse_json: true
          json_schema: "id BIGINT, user STRING"
          on_parse_error: dead_letter
          dead_letter: {dead_letter}{extra}
        output: {output}
        streaming: {{trigger: {{type: available_now}}}}
    """


KAFKA = {
    "tauro_project.yml": 'name: kconnect\nversion: "1.0"\nprofile: remote\n',
    "nodes/ingest.yml": _kafka_node(
        '{format: delta, path: "{{ target.paths.warehouse }}/dead_letters"}',
        '{format: delta, path: "{{ target.paths.warehouse }}/events"}',
        "\n          include_metadata: true"),
    "nodes/upsert.yml": _kafka_node(
        "{format: kafka, topic: \"{{ env_var('DL_TOPIC') }}\"}",
        '{format: delta, path: "{{ target.paths.warehouse }}/users", mode: merge, '
        "merge_keys: [id]}"),
}
BAD_VALUES = ("not json", '{"id": "abc", "user": "x"}', "[1, 2]", '{"id": 3,')


def _records(start: int, stop: int, bad_every: int) -> tuple[list[str], list[str], set[str]]:
    """(keys, values, bad keys) for ids start..stop-1: every `bad_every`-th does not parse."""
    keys, values, bad = [], [], set()
    for i in range(start, stop):
        keys.append(f"k{i}")
        if i % bad_every == bad_every - 1:
            values.append(BAD_VALUES[i % len(BAD_VALUES)])
            bad.add(f"k{i}")
        else:
            values.append(json.dumps({"id": i, "user": f"u{i % 7}"}))
    return keys, values, bad


def test_kafka_with_dead_letters_over_connect_exactly_once_across_runs(
        make_project, connect_server, kafka_broker, spark):
    topic, dl_topic = f"connect-in-{time.time_ns()}", f"connect-dl-{time.time_ns()}"
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.create_topic(dl_topic)
    files = {**KAFKA, "profiles.yml": yaml.safe_dump({"profiles": {"remote": {
        "spark": {"remote": connect_server.url},
        "paths": {"warehouse": "data/warehouse", "checkpoints": "data/chk"}}}})}
    project = make_project(files)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
           "IN_TOPIC": topic, "DL_TOPIC": dl_topic}
    warehouse = project / "data" / "warehouse"
    all_keys: list[str] = []
    all_bad: set[str] = set()
    for start, stop in ((0, 200), (200, 230)):  # the second run reads only the new records
        keys, values, bad = _records(start, stop, bad_every=25)
        kafka_broker.produce(topic, values, keys=keys)
        all_keys += keys
        all_bad |= bad
        proc = _tauro_run(project, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        nodes = json.loads((project / "target" / "run_results.json").read_text())["nodes"]
        for node in nodes.values():
            assert (node["status"], node["batches"], node["rows_in"]) == (
                "succeeded", 1, stop - start)
            # Counted over Connect from the batch's parse observation (the dead-letter
            # stage's own report stays in the server's Python).
            assert node["counts"]["dead_letters"] == len(bad)
        good = Counter(k for k in all_keys if k not in all_bad)
        events = spark.read.format("delta").load(str(warehouse / "events")).collect()
        assert Counter(r.key for r in events) == good
        assert all(r.id == int(r.key[1:]) and r.user == f"u{r.id % 7}" for r in events)
        users = spark.read.format("delta").load(str(warehouse / "users")).collect()
        assert Counter(f"k{r.id}" for r in users) == good
        letters = spark.read.format("delta").load(str(warehouse / "dead_letters")).collect()
        assert Counter(r.key for r in letters) == Counter(all_bad)
        assert {(r.node, r.topic) for r in letters} == {("ingest", topic)}
        assert all(r.value in BAD_VALUES and r.error for r in letters)
        sent = kafka_broker.consume(dl_topic, timeout=30, min_records=len(all_bad))
        assert Counter(r.key.decode() for r in sent) == Counter(all_bad)
        assert {json.loads(r.value)["node"] for r in sent} == {"upsert"}
    assert (len(all_keys), len(all_bad)) == (230, 9)

    # The Kafka pre-flight runs in the tauro process over Connect too (a Kafka Metadata
    # request from Python): a missing topic fails the node before any query starts.
    proc = _tauro_run(project, {**env, "IN_TOPIC": "no-such-topic"}, "--select", "ingest")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Kafka topic 'no-such-topic' does not exist on " in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def _tauro_run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                           str(project), "--plain", *args], capture_output=True, text=True,
                          env=env, timeout=RUN_TIMEOUT, check=False)
