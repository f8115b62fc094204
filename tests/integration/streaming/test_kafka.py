"""Kafka: JSON parsing of values on a static DataFrame, the sink's key/value shaping, and one
round trip through a real broker (stream -> kafka sink -> kafka source with parse_json)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql.types import LongType, StringType, StructField, StructType
from streaming_helpers import bounded_node, write_json_lines

from tauro_compile.streaming import NodeConfig, StreamingQueryManager, StreamingValidationError
from tauro_compile.streaming.kafka import parse_kafka_json
from tauro_compile.streaming.writers import KafkaStreamingWriter

pytestmark = pytest.mark.spark

KAFKA_COLUMNS = "key BINARY, value BINARY, topic STRING, partition INT, offset BIGINT, " \
                "timestamp TIMESTAMP"


@pytest.fixture
def records(spark):
    rows = [(b"k1", b'{"user": "u1", "amount": 3}', "t", 0, 10),
            (b"k2", b"not json", "t", 1, 11),
            (None, b'{"user": "u3", "amount": "NaN-ish"}', "t", 0, 12),
            (b"k4", None, "t", 0, 13)]
    return spark.createDataFrame(
        [(k, v, t, p, o, None) for k, v, t, p, o in rows], KAFKA_COLUMNS)


def test_drop_keeps_only_parsed_records_as_columns(records) -> None:
    out = parse_kafka_json(records, "user STRING, amount BIGINT", "drop")
    assert out.columns == ["user", "amount"]
    assert [tuple(r) for r in out.collect()] == [("u1", 3)]


def test_include_metadata_and_structtype_schema(records) -> None:
    schema = StructType([StructField("user", StringType()), StructField("amount", LongType())])
    out = parse_kafka_json(records, schema, "drop", include_metadata=True)
    assert out.columns == ["key", "topic", "partition", "offset", "timestamp", "user", "amount"]
    row = out.collect()[0]
    assert (row.key, row.partition, row.offset, row.user) == ("k1", 0, 10, "u1")
    assert schema.fieldNames() == ["user", "amount"]  # the caller's schema is left alone


def test_fail_stops_the_batch_naming_where_the_record_is(records) -> None:
    one_bad = records.filter("offset != 12")  # one bad record, so the error is deterministic
    out = parse_kafka_json(one_bad, "user STRING, amount BIGINT", "fail", node_name="payments")
    with pytest.raises(Exception) as info:
        out.collect()
    text = str(info.value)
    assert "node 'payments'" in text and "partition 1, offset 11" in text
    assert "not json" in text and "on_parse_error: drop" in text
    good = records.filter("offset IN (10, 13)")  # valid JSON and a null value (tombstone)
    assert [r.user for r in parse_kafka_json(good, "user STRING", "fail").collect()] == ["u1", None]


def test_bad_schemas_are_validation_errors(records) -> None:
    with pytest.raises(StreamingValidationError) as info:
        parse_kafka_json(records, "user STRIN G", "drop", node_name="n")
    assert info.value.context["field"] == "input.json_schema"
    with pytest.raises(StreamingValidationError) as info:
        parse_kafka_json(records, "topic STRING", "drop", include_metadata=True)
    assert info.value.context["actual"] == "topic"


def _sink_node(**output) -> NodeConfig:
    return NodeConfig.model_validate({
        "name": "to_kafka", "input": {"format": "rate"},
        "output": {"format": "kafka", "options": {"kafka.bootstrap.servers": "x:1", "topic": "t"},
                   **output}})


def test_kafka_sink_shapes_key_and_json_value(spark) -> None:
    df = spark.createDataFrame([(1, "a", 2.5)], "id INT, name STRING, amount DOUBLE")
    writer = KafkaStreamingWriter({"spark": spark})
    shaped = writer.prepare(df, _sink_node(key_column="id", value_columns=["name", "amount"]))
    assert [tuple(r) for r in shaped.collect()] == [("1", '{"name":"a","amount":2.5}')]
    everything = writer.prepare(df, _sink_node())
    assert everything.columns == ["value"]
    assert everything.first().value == '{"id":1,"name":"a","amount":2.5}'
    with pytest.raises(StreamingValidationError) as info:
        writer.prepare(df, _sink_node(value_columns=["nam"]))
    assert info.value.hint == "did you mean 'name'?"


@pytest.mark.kafka
def test_round_trip_through_a_real_broker(spark, kafka_broker, tmp_path: Path) -> None:
    topic = "tauro-streaming-roundtrip"
    kafka_broker.create_topic(topic, partitions=2)
    servers = kafka_broker.bootstrap_servers
    src = tmp_path / "orders"
    write_json_lines(src, "a.json", [{"id": i, "user": f"u{i}"} for i in range(4)])
    manager = StreamingQueryManager({"spark": spark, "checkpoint_root": str(tmp_path / "chk")})
    produce = bounded_node("orders_to_kafka",
                           {"format": "file_stream", "file_format": "json", "path": str(src),
                            "schema": "id BIGINT, user STRING"},
                           {"format": "kafka", "key_column": "user",
                            "options": {"kafka.bootstrap.servers": servers, "topic": topic}})
    query = manager.create_and_start_query(produce)
    query.awaitTermination(120)
    assert query.exception() is None
    kafka_broker.produce(topic, ["this is not json"], keys=["bad"])

    consume = bounded_node("orders_from_kafka",
                           {"format": "kafka", "parse_json": True,
                            "json_schema": "id BIGINT, user STRING", "on_parse_error": "drop",
                            "include_metadata": True,
                            "options": {"kafka.bootstrap.servers": servers, "subscribe": topic,
                                        "startingOffsets": "earliest"}},
                           {"format": "memory"})
    query = manager.create_and_start_query(consume)
    query.awaitTermination(120)
    assert query.exception() is None
    rows = spark.table("orders_from_kafka").collect()
    assert sorted((r.id, r.user, r.key) for r in rows) == [(i, f"u{i}", f"u{i}") for i in range(4)]
    assert {r.topic for r in rows} == {topic}
