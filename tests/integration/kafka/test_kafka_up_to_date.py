"""A bounded Kafka node is up to date exactly when its checkpoint has read every partition
of its topics to the latest offset, asked of the real broker from Python (no JVM), and the
Hadoop and local readings of the checkpoint agree; then `tauro run` needs no Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka_e2e import (
    bounded_project,
    event_json,
    kafka_env_node,
    kafka_input,
    tauro_in_process,
    unique_topic,
    write_project,
)

from tauro_compile.streaming.caught_up import LocalFiles, input_caught_up
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.spark_engine import SparkQueryEngine

pytestmark = [pytest.mark.spark, pytest.mark.kafka]


def _node(tmp: Path, servers: str, topic: str, **options: str) -> PlannedNode:
    config = NodeConfig.model_validate({
        "name": "events", "input": kafka_input(servers, topic, options=options),
        "output": {"format": "delta", "path": str(tmp / "out" / "events")},
        "streaming": {"trigger": {"type": "available_now"},
                      "checkpoint_location": str(tmp / "chk" / "events")},
    })
    return PlannedNode(name="events", unique_id="k.events", config=config)


def test_a_kafka_input_is_up_to_date_exactly_when_every_partition_is_read_to_its_end(
        spark, kafka_broker, tmp_path) -> None:
    topic = unique_topic("uptodate")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, [event_json(i) for i in range(10)],
                         keys=[f"k{i}" for i in range(10)])
    node = _node(tmp_path, kafka_broker.bootstrap_servers, topic)
    engine = SparkQueryEngine(spark, RunPlan(project_name="k", project_dir=tmp_path,
                                             target_dir=tmp_path / "target", profile="dev",
                                             nodes=(node,)), execution_id="x")

    def up_to_date(n: PlannedNode = node) -> str | None:
        answer = engine.input_up_to_date(n)
        assert input_caught_up(n, LocalFiles()) == answer   # the JVM-less reading agrees
        return answer

    def run() -> None:
        handle = engine.start(node)
        assert handle.await_termination(120) and handle.exception() is None

    assert up_to_date() is None                              # never ran: no checkpoint
    run()
    assert up_to_date() == (f"up to date: its checkpoint has read every partition of {topic} "
                            "to its latest offset (2 partitions)")
    kafka_broker.produce(topic, [event_json(10)], keys=["k10"])
    assert up_to_date() is None                              # a new record: start it
    run()                                                    # Spark agrees: it reads it
    assert spark.read.format("delta").load(str(tmp_path / "out" / "events")).count() == 11
    assert up_to_date() is not None
    # security the Python client does not speak, or another way to name topics: Spark decides
    for options in ({"kafka.security.protocol": "SASL_PLAINTEXT"},
                    {"subscribe": "", "subscribePattern": f"{topic}.*"}):
        other = _node(tmp_path, kafka_broker.bootstrap_servers, topic, **options)
        assert input_caught_up(other, LocalFiles()) is None
    # a broker that does not answer: cannot tell
    gone = _node(tmp_path, "127.0.0.1:1", topic)
    assert input_caught_up(gone, LocalFiles()) is None


PROJECT = {
    **bounded_project("kup"),
    "nodes/clicks.yml": kafka_env_node("id BIGINT, user STRING, amount DOUBLE"),
}


def test_a_second_kafka_run_with_nothing_new_starts_no_spark(spark, kafka_broker,
                                                             tmp_path) -> None:
    topic = unique_topic("nothing-new")
    kafka_broker.create_topic(topic, partitions=2)
    kafka_broker.produce(topic, [event_json(i) for i in range(5)])
    project = write_project(tmp_path / "kup", PROJECT)
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers, "IN_TOPIC": topic}
    first = tauro_in_process("run", "--project-dir", project, "--plain", env=env)
    assert first.exit_code == 0, first.output
    assert "Nothing new to read" not in first.output
    second = tauro_in_process("run", "--project-dir", project, "--plain", env=env)
    assert second.exit_code == 0, second.output
    assert "Nothing new to read: every node's checkpoint has read all its input " \
           "(Spark not started)" in second.output
    assert "clicks" in second.output and "to its latest offset (2 partitions)" in second.output
    kafka_broker.produce(topic, [event_json(5)])
    third = tauro_in_process("run", "--project-dir", project, "--plain", env=env)
    assert third.exit_code == 0 and "Nothing new to read" not in third.output, third.output
    rows = spark.read.format("delta").load(str(project / "data" / "warehouse" / "clicks"))
    assert rows.count() == 6
