"""The pre-flight's Kafka wire client against scripted peers (the real broker: integration)."""

from __future__ import annotations

import socket
import struct
import threading

from tauro_compile.streaming.kafka_wire import (
    Metadata,
    latest_offsets,
    metadata_topics,
    speaks_kafka,
    topic_metadata,
)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def _metadata_v4(topics: list[str]) -> bytes:
    body = struct.pack(">i", 0)  # throttle_time_ms
    body += struct.pack(">i", 1) + struct.pack(">i", 1) + _string("127.0.0.1")
    body += struct.pack(">i", 9092) + struct.pack(">h", -1)  # one broker, null rack
    body += _string("cluster") + struct.pack(">i", 1)
    body += struct.pack(">i", len(topics))
    for name in topics:
        body += struct.pack(">h", 0) + _string(name) + struct.pack(">b", 0)
        body += struct.pack(">i", 1)  # one partition: error, index, leader, replicas, isr
        body += struct.pack(">hii", 0, 0, 1) + struct.pack(">ii", 1, 1) + struct.pack(">ii", 1, 1)
    return body


def _serve(answer) -> socket.socket:
    """A connected socket whose peer reads one request and sends `answer(correlation)`."""
    ours, theirs = socket.socketpair()

    def peer() -> None:
        with theirs:
            size = struct.unpack(">i", theirs.recv(4))[0]
            request = b""
            while len(request) < size:
                request += theirs.recv(size - len(request))
            correlation = struct.unpack_from(">i", request, 4)[0]
            theirs.sendall(answer(correlation))

    threading.Thread(target=peer, daemon=True).start()
    return ours


def test_metadata_lists_the_topics() -> None:
    def answer(correlation: int) -> bytes:
        body = struct.pack(">i", correlation) + _metadata_v4(["events", "orders"])
        return struct.pack(">i", len(body)) + body

    with _serve(answer) as sock:
        assert metadata_topics(sock) == {"events", "orders"}


def test_a_port_that_is_not_kafka_is_not_trusted() -> None:
    # An HTTP server's answer read as a Kafka frame: a huge size, a wrong correlation id.
    with _serve(lambda _correlation: b"HTTP/1.1 400 Bad Request\r\n\r\n") as sock:
        assert metadata_topics(sock) is None
    with _serve(lambda _correlation: b"") as sock:
        assert speaks_kafka(sock) is False


def test_topic_metadata_gives_each_partitions_leader_and_the_brokers() -> None:
    def answer(correlation: int) -> bytes:
        body = struct.pack(">ii", correlation, 0)  # correlation, throttle_time_ms
        body += struct.pack(">i", 2)  # brokers
        body += struct.pack(">i", 1) + _string("a") + struct.pack(">i", 9092) + _string("r1")
        body += struct.pack(">i", 2) + _string("b") + struct.pack(">i", 9093) + \
            struct.pack(">h", -1)
        body += _string("cluster") + struct.pack(">i", 1) + struct.pack(">i", 1)
        body += struct.pack(">h", 0) + _string("events") + struct.pack(">b", 0)
        body += struct.pack(">i", 2)  # partitions, replicas and isr of two brokers each
        for index, leader in ((1, 2), (0, 1)):
            body += struct.pack(">hii", 0, index, leader)
            body += struct.pack(">iii", 2, 1, 2) + struct.pack(">iii", 2, 2, 1)
        return struct.pack(">i", len(body)) + body

    with _serve(answer) as sock:
        meta = topic_metadata(sock, ["events"])
    assert meta == Metadata(brokers={1: ("a", 9092), 2: ("b", 9093)},
                            topics={"events": (0, {1: (0, 2), 0: (0, 1)})})


def test_latest_offsets_reads_each_partitions_offset_and_refuses_an_error() -> None:
    def offsets(errors: tuple[int, int]):
        def answer(correlation: int) -> bytes:
            body = struct.pack(">ii", correlation, 1) + _string("events") + struct.pack(">i", 2)
            for (partition, offset), error in zip(((0, 42), (1, 7)), errors, strict=True):
                body += struct.pack(">ihqq", partition, error, -1, offset)
            return struct.pack(">i", len(body)) + body
        return answer

    with _serve(offsets((0, 0))) as sock:
        assert latest_offsets(sock, {"events": [0, 1]}) == {"events": {0: 42, 1: 7}}
    with _serve(offsets((0, 6))) as sock:  # NOT_LEADER_OR_FOLLOWER on partition 1
        assert latest_offsets(sock, {"events": [0, 1]}) is None
