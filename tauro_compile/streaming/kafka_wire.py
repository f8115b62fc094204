"""A minimal Kafka wire-protocol client for the pre-flight check: two requests, no JVM.

Kafka's binary protocol (length-prefixed request/response frames, big-endian) is small
enough for the two calls the pre-flight needs: ApiVersions v0 (is this port a Kafka
listener?) and Metadata v4 (which topics exist?). Answering "not Kafka" (None) instead of
trusting a size read from a foreign port matters: the Java client reads such bytes as a
huge frame size and dies of OutOfMemoryError in the driver.
"""

from __future__ import annotations

import socket
import struct


def speaks_kafka(sock: socket.socket) -> bool:
    """Send ApiVersions v0; True when the answer is a Kafka response to it."""
    return _request(sock, api_key=18, version=0, body=b"") is not None


def metadata_topics(sock: socket.socket) -> set[str] | None:
    """The cluster's topic names from a Metadata v4 request; None when the answer is not Kafka."""
    # Body: topics = null (all of them), allow_auto_topic_creation = false.
    body = _request(sock, api_key=3, version=4, body=struct.pack(">ib", -1, 0))
    if body is None:
        return None
    pos = 4  # after throttle_time_ms

    def take(fmt: str) -> int:
        nonlocal pos
        value = struct.unpack_from(fmt, body, pos)[0]
        pos += struct.calcsize(fmt)
        return int(value)

    def text() -> str:
        nonlocal pos
        size = max(take(">h"), 0)
        pos += size
        return body[pos - size:pos].decode("utf-8", "replace")

    for _ in range(take(">i")):  # brokers: node_id, host, port, rack
        take(">i"), text(), take(">i"), text()
    text(), take(">i")  # cluster_id, controller_id
    names: set[str] = set()
    for _ in range(take(">i")):  # topics: error_code, name, is_internal, partitions
        take(">h"), names.add(text()), take(">b")
        for _ in range(take(">i")):  # error_code, index, leader, replicas[], isr[]
            take(">h"), take(">i"), take(">i")
            for _array in range(2):
                count = max(take(">i"), 0)
                pos += 4 * count
    return names - {""}


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
