"""A real `tauro run` on the real test broker, watched from other processes: Kafka lag per
topic in status and metrics (checked against what the broker holds), and a node whose batch
is blocked shown `stalled` within its `stall_after`, then running again once unblocked."""

from __future__ import annotations

import json
import urllib.request
import uuid

import pytest
from operate_support import (
    cleanup,
    finish,
    free_port,
    node_field,
    results,
    start_run,
    tauro,
    wait_for,
)
from prometheus_client.parser import text_string_to_metric_families
from support.jvm_options import C1_ONLY

from tauro_compile.runner.events import read_events

pytestmark = [pytest.mark.spark, pytest.mark.kafka, pytest.mark.slow]

RECORDS = 400
PER_TRIGGER = 10

PROJECT = {
    "tauro_project.yml": """
        name: lag
        version: "1.0"
        profile: dev
    """,
    "profiles.yml": """
        profiles:
          dev:
            spark:
              master: "local[2]"
              conf: {spark.ui.enabled: "false", spark.sql.shuffle.partitions: "2",
                     spark.driver.extraJavaOptions: "@C1_ONLY@"}
            paths: {warehouse: data/warehouse, checkpoints: data/chk}
    """,
    "nodes/orders.yml": f"""
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}}}"
            subscribe: "{{{{ env_var('LAG_TOPIC') }}}}"
            startingOffsets: earliest
            maxOffsetsPerTrigger: {PER_TRIGGER}
        transforms:
          - sql: "SELECT CAST(value AS STRING) AS value FROM {{{{ input }}}}"
        output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/orders"}}
        streaming:
          trigger: {{type: processing_time, interval: "1 second"}}
    """,
    "nodes/blocked.yml": """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}"
            subscribe: "{{ env_var('LAG_TOPIC') }}"
            startingOffsets: earliest
        output: {format: foreach_batch, function: "transforms.sink:hold"}
        streaming:
          trigger: {type: processing_time, interval: "1 second"}
          stall_after: "4 seconds"
          on_stall: warn
    """,
    "transforms/__init__.py": "",
    "transforms/sink.py": """
        import time
        from pathlib import Path

        HOLD = Path(__file__).resolve().parent.parent / "hold"


        def hold(batch_df, batch_id):
            # a sink that blocks while the file `hold` exists: a stuck downstream system
            while HOLD.exists():
                time.sleep(0.2)
    """,
}
# The JIT options of every test JVM (support/jvm_options.py).
PROJECT["profiles.yml"] = PROJECT["profiles.yml"].replace("@C1_ONLY@", C1_ONLY)


def _metrics(url: str) -> dict[tuple[str, str, str], float]:
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if "node" in s.labels:
                out[(s.name, s.labels["node"], s.labels.get("state", ""))] = s.value
    return out


def test_kafka_lag_and_a_stalled_node(make_project, kafka_broker, tmp_path,
                                      monkeypatch) -> None:
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, [json.dumps({"id": i}) for i in range(RECORDS)])
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    monkeypatch.setenv("LAG_TOPIC", topic)
    project = make_project(PROJECT)
    (project / "hold").write_text("")
    port = free_port()
    log = tmp_path / "run.log"
    proc = start_run(project, "--metrics-port", str(port), log=log)
    try:
        # the blocked node becomes stalled: its first batch never ends, nothing is reported
        wait_for("the blocked node to be stalled",
                 lambda: node_field(project, "blocked", "status") == "stalled", proc, log)
        doc = json.loads(tauro("status", "--project-dir", project, "--output", "json").stdout)
        nodes = {n["name"]: n for n in doc["nodes"]}
        assert nodes["blocked"]["state"] == "stalled"
        assert nodes["blocked"]["reason"].startswith("stalled: no progress reported for ")
        assert "(stall_after 4s)" in nodes["blocked"]["reason"]
        assert "stalled" in tauro("status", "--project-dir", project).stdout
        scraped = _metrics(f"http://127.0.0.1:{port}/metrics")
        assert scraped[("tauro_node_state", "blocked", "stalled")] == 1
        assert scraped[("tauro_node_stalls_total", "blocked", "")] == 1

        # lag: what the broker holds minus what the node has read, per topic
        wait_for("orders to have read some and not all",
                 lambda: 0 < (node_field(project, "orders", "rows_in") or 0) < RECORDS
                 and (node_field(project, "orders", "batches") or 0) >= 2, proc, log)
        doc = json.loads(tauro("status", "--project-dir", project, "--output", "json").stdout)
        orders = {n["name"]: n for n in doc["nodes"]}["orders"]
        assert orders["kafka_lag"] == {topic: RECORDS - orders["rows_in"]}, orders
        assert orders["rows_in"] == PER_TRIGGER * orders["batches"]
        scraped = _metrics(f"http://127.0.0.1:{port}/metrics")   # one snapshot: consistent
        assert scraped[("tauro_node_kafka_lag_records", "orders", "")] + \
            scraped[("tauro_node_input_rows_total", "orders", "")] == RECORDS

        # unblocked: the node makes progress and is running again
        (project / "hold").unlink()
        wait_for("the blocked node to run again",
                 lambda: node_field(project, "blocked", "status") == "running"
                 and (node_field(project, "blocked", "batches") or 0) >= 1, proc, log)
        stop = tauro("stop", "--project-dir", project, "--timeout", "90s", timeout=150)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert finish(proc) == 0, log.read_text()[-3000:]
    finally:
        if (project / "hold").exists():
            (project / "hold").unlink()
        cleanup(proc, project)
    end = results(project)
    assert end["nodes"]["blocked"]["stalls"] == 1 and end["nodes"]["blocked"]["restarts"] == 0
    stalled = [e for e in read_events(project / "target") if e["event"] == "node_stalled"]
    assert [e["node"] for e in stalled] == ["blocked"]
    assert "stalled" in log.read_text()                      # the plain live lines say so
