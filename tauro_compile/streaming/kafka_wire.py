"""A minimal Kafka wire-protocol client for the pre-flight and up-to-date checks, no JVM.

Kafka's binary protocol (length-prefixed request/response frames, big-endian) is small
enough for the calls the pre-flight needs: ApiVersions v0 (is this port a Kafka
listener?) and Metadata v4 (which topics exist?), and for the up-to-date check of a run
(`streaming.caught_up`): Metadata v4 for partition leaders, ListOffsets v1 for each
partition's latest offset. Answering "not Kafka" (None) instead of
trusting a size read from a foreign port matters: the Java client reads such bytes as a
huge frame size and dies of OutOfMemoryError in the driver.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass


def server_address(server: str) -> tuple[str, int]:
    """`host:port` (an IPv6 host in brackets) as an address; ValueError when it is not one."""
    host, _, port = server.strip().rpartition(":")
    return host.strip("[]"), int(port)


def speaks_kafka(sock: socket.socket) -> bool:
    """Send ApiVersions v0; True when the answer is a Kafka response to it."""
    return _request(sock, api_key=18, version=0, body=b"") is not None


def metadata_topics(sock: socket.socket) -> set[str] | None:
    """The cluster's topic names from a Metadata v4 request; None when the answer is not Kafka."""
    answer = _metadata(sock, None)
    return None if answer is None else set(answer.topics) - {""}


@dataclass(frozen=True)
class Metadata:
    """A Metadata v4 answer: brokers by node id, and per topic its error code and, per
    partition, (error code, leader node id)."""

    brokers: dict[int, tuple[str, int]]
    topics: dict[str, tuple[int, dict[int, tuple[int, int]]]]


def topic_metadata(sock: socket.socket, topics: list[str]) -> Metadata | None:
    """Metadata v4 for `topics` (never created by asking); None when the answer is not Kafka."""
    return _metadata(sock, topics)


def latest_offsets(sock: socket.socket,
                   partitions: dict[str, list[int]]) -> dict[str, dict[int, int]] | None:
    """ListOffsets v1 at timestamp -1 (each partition's latest offset, the high watermark)
    for partitions this broker leads; None when the answer is not Kafka or a partition has
    an error."""
    body = struct.pack(">ii", -1, len(partitions))  # replica_id -1: a client
    for topic, numbers in partitions.items():
        body += _string(topic) + struct.pack(">i", len(numbers))
        for number in numbers:
            body += struct.pack(">iq", number, -1)
    answer = _request(sock, api_key=2, version=1, body=body)
    if answer is None:
        return None
    reader = _Reader(answer)
    offsets: dict[str, dict[int, int]] = {}
    for _ in range(reader.take(">i")):
        topic = reader.text()
        for _partition in range(reader.take(">i")):
            number, error = reader.take(">i"), reader.take(">h")
            reader.take(">q")  # timestamp
            offset = reader.take(">q")
            if error != 0:
                return None
            offsets.setdefault(topic, {})[number] = offset
    return offsets


def _string(text: str) -> bytes:
    """A protocol STRING: int16 length, UTF-8 bytes."""
    data = text.encode("utf-8")
    return struct.pack(">h", len(data)) + data


class _Reader:
    """Big-endian fields read one after the other from a response body."""

    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 0

    def take(self, fmt: str) -> int:
        value = struct.unpack_from(fmt, self.body, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return int(value)

    def text(self) -> str:
        size = max(self.take(">h"), 0)
        self.pos += size
        return self.body[self.pos - size:self.pos].decode("utf-8", "replace")

    def skip_ints(self) -> None:
        """An array of int32 (replicas, isr)."""
        count = max(self.take(">i"), 0)  # read first: `pos +=` would drop take's advance
        self.pos += 4 * count


def _metadata(sock: socket.socket, topics: list[str] | None) -> Metadata | None:
    # Body: the topics (null: all of them), allow_auto_topic_creation = false.
    if topics is None:
        request = struct.pack(">i", -1)
    else:
        request = struct.pack(">i", len(topics)) + b"".join(_string(t) for t in topics)
    body = _request(sock, api_key=3, version=4, body=request + struct.pack(">b", 0))
    if body is None:
        return None
    reader = _Reader(body)
    reader.take(">i")  # throttle_time_ms
    brokers: dict[int, tuple[str, int]] = {}
    for _ in range(reader.take(">i")):  # brokers: node_id, host, port, rack
        node, host, port = reader.take(">i"), reader.text(), reader.take(">i")
        reader.text()
        brokers[node] = (host, port)
    reader.text(), reader.take(">i")  # cluster_id, controller_id
    found: dict[str, tuple[int, dict[int, tuple[int, int]]]] = {}
    for _ in range(reader.take(">i")):  # topics: error_code, name, is_internal, partitions
        error, name = reader.take(">h"), reader.text()
        reader.take(">b")
        partitions: dict[int, tuple[int, int]] = {}
        for _partition in range(reader.take(">i")):  # error_code, index, leader, replicas, isr
            part_error, index, leader = reader.take(">h"), reader.take(">i"), reader.take(">i")
            reader.skip_ints()
            reader.skip_ints()
            partitions[index] = (part_error, leader)
        found[name] = (error, partitions)
    return Metadata(brokers, found)


def _request(sock: socket.socket, *, api_key: int, version: int, body: bytes) -> bytes | None:
    """One Kafka request/response on `sock`; the response body, or None if it is not Kafka's."""
    client = b"tauro-preflight"
    correlation = 7
    request = struct.pack(">hhih", api_key, version, correlation, len(client)) + client + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    head = _receive(sock, 8)
    if head is None:
        return None
    size, answered = struct.unpack(">ii", head)
    if answered != correlation or not 4 <= size < (64 << 20):
        return None
    return _receive(sock, size - 4)


def _receive(sock: socket.socket, size: int) -> bytes | None:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)
