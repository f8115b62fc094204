"""The pre-flight's Kafka wire client against scripted peers (the real broker: integration)."""

from __future__ import annotations

import socket
import struct
import threading

from tauro_compile.streaming.kafka_wire import metadata_topics, speaks_kafka


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
