"""When the dead-letter stage lets the writer skip caching a batch: only for a Kafka input
(whose offsets read the same records twice) after a batch with no bad record. No JVM: the
stage is built from node configs, and a batch's count of bad records is set as `_counts` sets
it from the batch's observation (tests/integration/kafka/test_kafka_streams.py runs it on the
real broker)."""

from __future__ import annotations

import pytest

from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.dead_letter import DeadLetterStage, dead_letter_output


def _node(fmt: str) -> NodeConfig:
    inputs = {
        "kafka": {"format": "kafka", "parse_json": True, "json_schema": "id BIGINT",
                  "options": {"kafka.bootstrap.servers": "localhost:9092", "subscribe": "t"}},
        "file_stream": {"format": "file_stream", "path": "/in", "file_format": "json",
                        "schema": "id BIGINT"},
    }
    return NodeConfig.model_validate({
        "name": "n", "input": {**inputs[fmt], "on_parse_error": "dead_letter",
                               "dead_letter": {"format": "delta", "path": "/dl"}},
        "output": {"format": "delta", "path": "/out"}})


def _after(stage: DeadLetterStage, bad: int) -> bool:
    """`manages_cache` after a batch with `bad` dead letters was counted."""
    stage._last_bad = bad  # what `_counts` records from the batch's observation
    return stage.manages_cache


@pytest.mark.parametrize(("fmt", "expected"), [("kafka", [False, True, False, True]),
                                               ("file_stream", [False, False, False, False])])
def test_the_writer_skips_the_cache_only_for_kafka_after_a_clean_batch(fmt, expected) -> None:
    node = _node(fmt)
    stage = DeadLetterStage(node, dead_letter_output(node))
    first = stage.manages_cache            # a query's first batch: always cached
    assert [first, _after(stage, 0), _after(stage, 3), _after(stage, 0)] == expected
