"""Test tooling shared by the whole suite: real external services started on 127.0.0.1."""

from __future__ import annotations

from .kafka_broker import KafkaBroker, KafkaBrokerError, KafkaRecord

__all__ = ["KafkaBroker", "KafkaBrokerError", "KafkaRecord"]
