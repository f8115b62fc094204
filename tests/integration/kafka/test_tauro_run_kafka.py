"""`tauro run` on Kafka projects against the real broker: a Kafka -> Delta -> (Change Data
Feed) -> Kafka chain with dead letters and a masked secret, and the bad-input errors
(unreachable broker, missing topic) as a user sees them. In-process (CliRunner), on the
suite's SparkSession."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka_e2e import (
    bounded_project,
    events_with_bad,
    kafka_env_node,
    tauro_in_process,
    unique_topic,
    write_project,
)
from support.kafka_broker import free_ports

pytestmark = [pytest.mark.spark, pytest.mark.kafka]

SECRET = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="tauro" ' \
         'password="hunter2-k4-s3cret";'

CHAIN = {
    **bounded_project("kchain"),
    "nodes/ingest.yml": """
        description: Kafka JSON events into Delta; bad records to a dead-letter table
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}"
            subscribe: "{{ env_var('IN_TOPIC') }}"
            startingOffsets: earliest
            # PLAINTEXT broker: the JAAS config is unused, but must never be shown
            kafka.sasl.jaas.config: "{{ secret('KAFKA_JAAS_CONFIG') }}"
          parse_json: true
          json_schema: "id BIGINT, user STRING, amount DOUBLE"
          include_metadata: true
          on_parse_error: dead_letter
          dead_letter: {format: delta, path: "{{ target.paths.warehouse }}/dead_letters"}
        output:
          format: delta
          path: "{{ target.paths.warehouse }}/events"
          options: {delta.enableChangeDataFeed: "true"}
    """,
    "nodes/publish.yml": """
        description: The events' inserts, from the Change Data Feed, to another topic
        input: {ref: ingest, format: delta_stream}
        transforms:
          - sql: "SELECT key, id, user, amount FROM {{ input }} WHERE _change_type = 'insert'"
        output:
          format: kafka
          key_column: key
          value_columns: [id, user, amount]
          options:
            kafka.bootstrap.servers: "{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}"
            topic: "{{ env_var('OUT_TOPIC') }}"
    """,
}


def run_results(project: Path) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())


def test_kafka_delta_change_feed_kafka_chain_with_dead_letters_and_a_masked_secret(
        spark, kafka_broker, tmp_path: Path) -> None:
    in_topic, out_topic = unique_topic("chain-in"), unique_topic("chain-out")
    kafka_broker.create_topic(in_topic, partitions=2)
    kafka_broker.create_topic(out_topic, partitions=2)
    keys, values, bad = events_with_bad(120, bad_every=20)
    kafka_broker.produce(in_topic, values, keys=keys)
    project = write_project(tmp_path / "kchain", CHAIN)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers, "IN_TOPIC": in_topic,
           "OUT_TOPIC": out_topic, "KAFKA_JAAS_CONFIG": SECRET}

    result = tauro_in_process("run", "--project-dir", project, "--plain", env=env)
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == 0, output

    good = sorted(set(keys) - bad)
    records = kafka_broker.consume(out_topic, timeout=30, min_records=len(good))
    assert Counter(r.key.decode() for r in records) == Counter(good)
    for record in records:
        body = json.loads(record.value)
        assert body["id"] == int(record.key.decode()[1:]) and set(body) == {"id", "user", "amount"}
    warehouse = project / "data" / "warehouse"
    letters = spark.read.format("delta").load(str(warehouse / "dead_letters")).collect()
    assert Counter(r.key for r in letters) == Counter(bad)

    doc = run_results(project)
    nodes = doc["nodes"]
    assert (nodes["ingest"]["status"], nodes["publish"]["status"]) == ("succeeded", "succeeded")
    counts = [b["metrics"]["dead_letter"] for b in nodes["ingest"]["batch_results"]]
    assert sum(c["good"] for c in counts) == len(good) and sum(c["bad"] for c in counts) == len(bad)
    totals = nodes["ingest"]["batch_totals"]
    assert (totals["metrics.dead_letter.good"], totals["metrics.dead_letter.bad"]) == \
        (len(good), len(bad))

    # The secret: masked in the compiled node, absent from every output and artifact.
    assert SECRET not in output and "hunter2" not in output
    for path in (project / "target").rglob("*"):
        if path.is_file():
            assert "hunter2" not in path.read_text(errors="replace"), path
    compiled = (project / "target" / "compiled" / "ingest.yml").read_text()
    assert 'kafka.sasl.jaas.config: "***"' in compiled


BROKEN = {
    "tauro_project.yml": CHAIN["tauro_project.yml"],
    "profiles.yml": CHAIN["profiles.yml"],
    "nodes/raw_clicks.yml": """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}"
            subscribe: "{{ env_var('IN_TOPIC') }}"
          parse_json: true
          json_schema: "id BIGINT"
        output: {format: delta, path: "{{ target.paths.warehouse }}/clicks"}
    """,
}


def test_unreachable_broker_fails_the_node_quickly_naming_node_and_servers(
        spark, tmp_path: Path) -> None:
    servers = f"127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    project = write_project(tmp_path / "broken", BROKEN)
    started = time.monotonic()
    result = tauro_in_process("run", "--project-dir", project, "--plain",
                              env={"KAFKA_BOOTSTRAP_SERVERS": servers, "IN_TOPIC": "clicks"})
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 60  # Spark alone would wait minutes for metadata
    error = run_results(project)["nodes"]["raw_clicks"]["error"]
    assert f"node 'raw_clicks': cannot reach the Kafka bootstrap servers {servers}" in error
    assert "Connection refused" in error
    summary = run_results(project)["nodes"]["raw_clicks"]["error_summary"]
    assert "hint: start the broker (in " in summary and "`make kafka` runs one" in summary


def test_broker_hint_outside_a_checkout_needs_no_make_target(monkeypatch) -> None:
    from tauro_compile import environment
    from tauro_compile.streaming.kafka import broker_hint

    monkeypatch.setattr(environment, "checkout_dir", lambda: None)
    hint = broker_hint()
    assert "make" not in hint and "docker run -d -p 9092:9092 apache/kafka:3.9.1" in hint
    assert "kafka-to-delta template's README" in hint


def test_a_topic_that_does_not_exist_fails_with_a_suggestion(spark, kafka_broker,
                                                             tmp_path: Path) -> None:
    topic = unique_topic("clickstream")
    kafka_broker.create_topic(topic)
    project = write_project(tmp_path / "missing", BROKEN)
    result = tauro_in_process("run", "--project-dir", project, "--plain",
                              env={"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
                                   "IN_TOPIC": topic.replace("clickstream", "clikstream")})
    assert result.exit_code == 1
    node = run_results(project)["nodes"]["raw_clicks"]
    assert node["status"] == "failed" and node["batches"] == 0
    assert "Kafka topic 'clikstream-" in node["error"] and "does not exist" in node["error"]
    assert f"did you mean '{topic}'?" in node["error"] + (node["error_summary"] or "")


PARSE_FAIL = {
    "tauro_project.yml": CHAIN["tauro_project.yml"],
    "profiles.yml": CHAIN["profiles.yml"],
    "nodes/raw_clicks.yml": kafka_env_node("id BIGINT", "include_metadata: true",
                                           "on_parse_error: fail"),
}


def test_a_record_that_does_not_parse_is_explained_in_taurus_words(spark, kafka_broker,
                                                                   tmp_path: Path) -> None:
    from tauro_compile.streaming.failures import KAFKA_PARSE_HINT

    topic = unique_topic("parse")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, ['{"id": 1}', "not json"], keys=["a", "b"])
    project = write_project(tmp_path / "parse", PARSE_FAIL)
    result = tauro_in_process("run", "--project-dir", project, "--plain",
                              env={"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
                                   "IN_TOPIC": topic})
    assert result.exit_code == 1
    stderr = result.stderr
    first = next(line for line in stderr.splitlines() if line.startswith("Node 'raw_clicks'"))
    assert first == (f"Node 'raw_clicks' failed: a Kafka record does not parse with the "
                     f"declared json_schema (topic {topic}, partition 0, offset 1): value is "
                     "not valid JSON; value starts with: not json")
    lines = (project / "nodes" / "raw_clicks.yml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "on_parse_error: fail" in text)
    assert f"  node file: nodes/raw_clicks.yml:{line} (input.on_parse_error)" in stderr
    assert f"  hint: {KAFKA_PARSE_HINT}" in stderr
    for wrong in ("TASK_WRITE_FAILED", "checkpoint cannot", "delete", "Traceback"):
        assert wrong not in stderr
