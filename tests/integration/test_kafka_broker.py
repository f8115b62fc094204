"""The local Kafka broker works, and Spark's own Kafka connector (pinned jars) reads from it."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.kafka


def test_broker_topics_produce_consume(kafka_broker):
    kafka_broker.create_topic("broker-roundtrip", partitions=2)
    assert "broker-roundtrip" in kafka_broker.list_topics()

    assert kafka_broker.produce("broker-roundtrip", ["a", b"b", None], keys=["k1", None, "k3"]) == 3
    records = kafka_broker.consume("broker-roundtrip", timeout=20)
    assert sorted((r.key or b"", r.value or b"") for r in records) == [
        (b"", b"b"),
        (b"k1", b"a"),
        (b"k3", b""),
    ]
    assert {r.partition for r in records} <= {0, 1}
    assert [r.value for r in records if r.key == b"k3"] == [None]  # a tombstone stays None

    many = [f"v{i}" for i in range(200_000)]
    assert kafka_broker.produce("broker-roundtrip", many) == len(many)
    assert len(kafka_broker.consume("broker-roundtrip", timeout=60)) == 3 + len(many)


def test_a_failed_request_carries_the_broker_and_helper_logs(kafka_broker):
    from support.kafka_broker import KafkaBrokerError

    kafka_broker.create_topic("broker-one-partition", partitions=1)
    with pytest.raises(KafkaBrokerError) as failure:   # fails at once (a produce to a missing
        kafka_broker.create_topic("broker-one-partition")  # partition waits 60 s for it)
    text = str(failure.value)
    assert "TopicExistsException" in text.splitlines()[0]   # the helper's own error first
    broker_log = text.split(f"tail of the broker log {kafka_broker.log_path}:", 1)[1]
    assert "broker-one-partition" in broker_log.split("tail of the client helper log")[0]


def test_spark_batch_read_of_kafka_topic(spark, kafka_broker):
    topic = "spark-batch-read"
    kafka_broker.create_topic(topic, partitions=3)
    values = [f"value-{i}" for i in range(1000)]
    kafka_broker.produce(topic, values, keys=[str(i) for i in range(1000)])

    df = (
        spark.read.format("kafka")
        .option("kafka.bootstrap.servers", kafka_broker.bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .option("endingOffsets", "latest")
        .load()
        .selectExpr("CAST(key AS STRING) AS key", "CAST(value AS STRING) AS value", "partition")
    )
    rows = df.collect()
    assert len(rows) == 1000
    assert sorted(row.value for row in rows) == sorted(values)
    assert all(row.value == f"value-{row.key}" for row in rows)
    assert {row.partition for row in rows} <= {0, 1, 2}
