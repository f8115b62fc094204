"""Kafka through the streaming layer against the real broker: exactly-once into Delta, parse
errors (fail, drop, dead letters to Delta or Kafka), metadata and headers, the Kafka sink."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka_e2e import (
    bounded,
    event_json,
    events_with_bad,
    kafka_input,
    run_bounded,
    unique_topic,
)

from tauro_compile.streaming import StreamingQueryError
from tauro_compile.streaming.kafka import (
    CONNECT_TIMEOUT_S,
    DEAD_LETTER_COLUMN,
    PARSE_METRIC,
    _list_topics,
    check_kafka,
)

pytestmark = [pytest.mark.spark, pytest.mark.kafka]


def delta_rows(spark, path: Path) -> list:
    return spark.read.format("delta").load(str(path)).collect()


def parse_counts(query) -> dict[str, int]:
    """The tauro_kafka_parse metric summed over the query's executed batches."""
    totals: Counter[str] = Counter()
    for progress in query.recentProgress:
        row = (progress.observedMetrics or {}).get(PARSE_METRIC)
        if row is not None:
            totals.update({k: int(row[k]) for k in ("records", "good", "bad", "tombstones")})
    return dict(totals)


def test_kafka_to_delta_lands_every_record_exactly_once(spark, kafka_broker, manager_for,
                                                        tmp_path: Path) -> None:
    topic = unique_topic("orders")
    kafka_broker.create_topic(topic, partitions=3)
    keys = [f"k{i}" for i in range(600)]
    kafka_broker.produce(topic, [event_json(i) for i in range(600)], keys=keys)
    out = tmp_path / "orders"
    node = bounded("orders", kafka_input(kafka_broker.bootstrap_servers, topic,
                                         include_metadata=True),
                   {"format": "delta", "path": str(out)})

    query = run_bounded(manager_for(), node)
    assert query.exception() is None
    rows = delta_rows(spark, out)
    assert Counter(r.key for r in rows) == Counter(keys)
    assert all(r.id == int(r.key[1:]) and r.topic == topic for r in rows)
    assert len({(r.partition, r.offset) for r in rows}) == 600
    assert {r.partition for r in rows} == {0, 1, 2}
    assert parse_counts(query) == {"records": 600, "good": 600, "bad": 0, "tombstones": 0}

    # A second run resumes from the checkpoint: only the new records land.
    kafka_broker.produce(topic, [event_json(i) for i in range(600, 650)],
                         keys=[f"k{i}" for i in range(600, 650)])
    run_bounded(manager_for(), node)
    assert Counter(r.key for r in delta_rows(spark, out)) == Counter(
        [f"k{i}" for i in range(650)])


def test_drop_removes_and_counts_records_that_do_not_parse(spark, kafka_broker, manager_for,
                                                           tmp_path: Path) -> None:
    topic = unique_topic("drop")
    kafka_broker.create_topic(topic)
    keys, values, bad = events_with_bad(40, bad_every=10)
    kafka_broker.produce(topic, [*values, None], keys=[*keys, "tombstone"])
    out = tmp_path / "dropped"
    node = bounded("drop_bad", kafka_input(kafka_broker.bootstrap_servers, topic,
                                           on_parse_error="drop", include_metadata=True),
                   {"format": "delta", "path": str(out)})

    query = run_bounded(manager_for(), node)
    assert query.exception() is None
    assert sorted(r.key for r in delta_rows(spark, out)) == sorted(set(keys) - bad)
    assert parse_counts(query) == {"records": 41, "good": 36, "bad": 4, "tombstones": 1}


def test_dead_letters_go_to_delta_in_the_same_batch_and_replay_exactly_once(
        spark, kafka_broker, manager_for, batches, tmp_path: Path) -> None:
    topic = unique_topic("dlq-delta")
    kafka_broker.create_topic(topic, partitions=3)
    keys, values, bad = events_with_bad(300, bad_every=25)
    kafka_broker.produce(topic, values, keys=keys)
    out, dlq = tmp_path / "good", tmp_path / "dead"
    node = bounded("with_dlq", kafka_input(
        kafka_broker.bootstrap_servers, topic, on_parse_error="dead_letter",
        dead_letter={"format": "delta", "path": str(dlq)},
        options={"maxOffsetsPerTrigger": 100}), {"format": "delta", "path": str(out)})

    query = run_bounded(manager_for(), node)
    assert query.exception() is None
    good_rows = delta_rows(spark, out)
    assert DEAD_LETTER_COLUMN not in spark.read.format("delta").load(str(out)).columns
    assert Counter(str(r.id) for r in good_rows) == Counter(k[1:] for k in keys if k not in bad)
    letters = delta_rows(spark, dlq)
    assert Counter(r.key for r in letters) == Counter(bad)
    by_key = dict(zip(keys, values, strict=True))
    for letter in letters:
        assert letter.value == by_key[letter.key]  # the raw value, unchanged
        assert letter.topic == topic and letter.node == "with_dlq"
        assert letter.partition in (0, 1, 2) and letter.offset >= 0
        assert letter.kafka_timestamp is not None and letter.dead_lettered_at is not None
    errors = {letter.value: letter.error for letter in letters}
    assert errors["not json"] == "value is not valid JSON"
    assert errors["[1, 2]"] == "value is JSON but not an object"
    assert errors['{"id": "abc", "user": "x", "amount": 1}'] == \
        "fields do not fit json_schema: id (BIGINT) got abc"

    # Counts reach the batch listener; each batch wrote its good rows and its dead letters.
    reported = {batch_id: info for node_name, batch_id, info in batches if node_name == "with_dlq"}
    assert len(reported) >= 3  # maxOffsetsPerTrigger: several batches
    counts = [info["metrics"]["dead_letter"] for info in reported.values()]
    assert sum(c["good"] for c in counts) == 288 and sum(c["bad"] for c in counts) == 12
    for info in reported.values():
        assert info["outputs"]["main"]["rows"] == info["metrics"]["dead_letter"]["good"]
        if info["metrics"]["dead_letter"]["bad"]:
            assert info["outputs"]["dead_letter"]["rows"] == info["metrics"]["dead_letter"]["bad"]
    assert {r.batch_id for r in letters} <= {b for b, i in reported.items()
                                             if i["metrics"]["dead_letter"]["bad"]}
    assert parse_counts(query) == {"records": 300, "good": 288, "bad": 12, "tombstones": 0}

    # Replay: forget the last batch's commit, as a crash after its writes would. Spark runs the
    # batch again; Delta's txnAppId/txnVersion skip both writes.
    commits = tmp_path / "checkpoints" / "with_dlq" / "commits"
    last = max(int(p.name) for p in commits.iterdir() if p.name.isdigit())
    (commits / str(last)).unlink()
    (commits / f".{last}.crc").unlink(missing_ok=True)
    run_bounded(manager_for(), node)
    assert Counter(r.key for r in delta_rows(spark, dlq)) == Counter(bad)
    assert len(delta_rows(spark, out)) == 288
    # The counts come from an observation on the main write; Delta skipped the replayed
    # write, so no job ran it and the stage counted the batch itself: the same counts.
    replayed = [info for node_name, batch_id, info in batches
                if node_name == "with_dlq" and batch_id == last][-1]
    assert replayed["outputs"]["main"]["committed"] is False
    assert replayed["metrics"]["dead_letter"] == reported[last]["metrics"]["dead_letter"]


def test_dead_letters_to_a_kafka_topic_with_headers_kept(spark, kafka_broker, manager_for,
                                                         tmp_path: Path) -> None:
    topic, dead_topic = unique_topic("hdr-in"), unique_topic("hdr-dead")
    kafka_broker.create_topic(topic)
    kafka_broker.create_topic(dead_topic)
    servers = kafka_broker.bootstrap_servers
    rows = [(f"k{i}", event_json(i) if i != 3 else "{broken", f"trace-{i}") for i in range(6)]
    (spark.createDataFrame(rows, "key STRING, value STRING, trace STRING")
     .selectExpr("key", "value", "array(named_struct('key', 'trace', 'value', "
                 "cast(trace AS BINARY))) AS headers")
     .write.format("kafka").option("kafka.bootstrap.servers", servers)
     .option("topic", topic).save())
    out = tmp_path / "with_headers"
    node = bounded("headers_dlq", kafka_input(
        servers, topic, include_metadata=True, on_parse_error="dead_letter",
        dead_letter={"format": "kafka", "topic": dead_topic},
        options={"includeHeaders": "true"}), {"format": "delta", "path": str(out)})

    assert run_bounded(manager_for(), node).exception() is None
    good = delta_rows(spark, out)
    assert sorted(r.key for r in good) == ["k0", "k1", "k2", "k4", "k5"]
    assert all(bytes(r.headers[0].value).decode() == f"trace-{r.key[1:]}" for r in good)
    assert all(r.headers[0].key == "trace" for r in good)
    (letter,) = kafka_broker.consume(dead_topic, timeout=30)
    assert letter.key == b"k3"
    body = json.loads(letter.value)
    assert body["value"] == "{broken" and body["error"] == "value is not valid JSON"
    assert (body["topic"], body["partition"], body["node"]) == (topic, 0, "headers_dlq")
    (original,) = [r for r in kafka_broker.consume(topic, timeout=30) if r.key == b"k3"]
    assert body["offset"] == original.offset and "headers" not in body


def test_kafka_sink_writes_key_and_json_value_columns(spark, kafka_broker, manager_for) -> None:
    source, sink = unique_topic("sink-in"), unique_topic("sink-out")
    kafka_broker.create_topic(source)
    kafka_broker.create_topic(sink, partitions=2)
    servers = kafka_broker.bootstrap_servers
    kafka_broker.produce(source, [event_json(i) for i in range(20)])
    node = bounded("to_topic", kafka_input(servers, source),
                   {"format": "kafka", "key_column": "id", "value_columns": ["user", "amount"],
                    "options": {"kafka.bootstrap.servers": servers, "topic": sink}})

    assert run_bounded(manager_for(), node).exception() is None
    records = kafka_broker.consume(sink, timeout=30, min_records=20)
    got = {r.key.decode(): json.loads(r.value) for r in records}
    assert len(records) == 20
    assert got == {str(i): {"user": f"u{i % 7}", "amount": round(i * 0.5, 2)} for i in range(20)}


def test_a_record_that_does_not_fit_the_schema_fails_naming_the_record(
        kafka_broker, manager_for, tmp_path: Path) -> None:
    topic = unique_topic("strict")
    kafka_broker.create_topic(topic)
    kafka_broker.produce(topic, [event_json(0), event_json(1), '{"id": "x1", "amount": 2}'],
                         keys=["a", "b", "c"])
    manager = manager_for()
    node = bounded("strict_orders", kafka_input(kafka_broker.bootstrap_servers, topic),
                   {"format": "delta", "path": str(tmp_path / "strict")})
    manager.create_and_start_query(node)
    with pytest.raises(StreamingQueryError) as info:
        manager.await_query("strict_orders", 180)
    text = str(info.value) + info.value.context.get("details", "")
    assert "node 'strict_orders'" in text
    assert f"(topic {topic}, partition 0, offset 2)" in text
    assert "id (BIGINT) got x1" in text


def test_preflight_lists_topics_in_python_and_through_the_admin_client(spark,
                                                                       kafka_broker) -> None:
    topic = unique_topic("listed")
    kafka_broker.create_topic(topic)
    plain = {"kafka.bootstrap.servers": kafka_broker.bootstrap_servers, "subscribe": topic}
    assert topic in check_kafka(spark, plain, "n")  # Metadata request sent from Python
    assert topic in _list_topics(spark, plain, "n", "input.options", 15, ())  # AdminClient

    # SSL against a plaintext listener: the AdminClient path fails within its timeout.
    started = time.monotonic()
    with pytest.raises(StreamingQueryError) as info:
        check_kafka(spark, {**plain, "kafka.security.protocol": "SSL"}, "secure_node", timeout=3)
    assert time.monotonic() - started < 20
    assert f"node 'secure_node': the Kafka brokers at {kafka_broker.bootstrap_servers} did " \
        "not list topics within 3 s" in str(info.value)


def test_preflight_refuses_a_port_that_is_not_kafka_quickly(spark) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        servers = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with pytest.raises(StreamingQueryError) as info:
            check_kafka(spark, {"kafka.bootstrap.servers": servers, "subscribe": "t"}, "n")
    assert time.monotonic() - started < CONNECT_TIMEOUT_S + 5
    assert info.value.context["field"] == "input.options.kafka.bootstrap.servers"
    assert f"cannot reach the Kafka bootstrap servers {servers}" in str(info.value)
