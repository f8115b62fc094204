"""The Kafka pre-flight check on a Spark Connect session: what the tauro process can check."""

from __future__ import annotations

import logging
import socket

import pytest

from tauro_compile.streaming.exceptions import StreamingQueryError
from tauro_compile.streaming.kafka import check_kafka

# An object whose type lives in pyspark.sql.connect, as a Connect SparkSession's does.
ConnectSession = type("SparkSession", (), {"__module__": "pyspark.sql.connect.session"})


def test_ssl_over_connect_checks_the_broker_answers_and_says_topics_are_not_listed(caplog):
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        options = {"kafka.bootstrap.servers": f"127.0.0.1:{port}",
                   "kafka.security.protocol": "SSL", "subscribe": "events"}
        with caplog.at_level(logging.WARNING, "tauro_compile.streaming.kafka"):
            assert check_kafka(ConnectSession(), options, "ingest") == set()
    assert "over Spark Connect the Kafka topics are not listed" in caplog.text
    assert "node ingest" in caplog.text


def test_unreachable_broker_over_connect_still_fails_naming_node_and_servers():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]  # closed below: nothing listens there any more
    options = {"kafka.bootstrap.servers": f"127.0.0.1:{port}",
               "kafka.security.protocol": "SSL", "subscribe": "events"}
    with pytest.raises(StreamingQueryError) as info:
        check_kafka(ConnectSession(), options, "ingest")
    assert f"node 'ingest': cannot reach the Kafka bootstrap servers 127.0.0.1:{port}" in str(
        info.value.message)


