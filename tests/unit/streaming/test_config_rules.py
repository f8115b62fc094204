"""Registry rules in streaming.config: what validates must be what runs."""

from __future__ import annotations

import pytest

from tauro_compile.streaming.config import NodeConfig, TriggerConfig, check_node
from tauro_compile.streaming.durations import DurationError, parse_duration


def _node(**over: object) -> NodeConfig:
    base: dict = {"name": "n", "input": {"format": "rate"},
                  "output": {"format": "delta", "path": "/tmp/x"}}
    base.update(over)
    return NodeConfig.model_validate(base)


def test_delta_update_mode_needs_merge() -> None:
    issues = check_node(_node(streaming={"output_mode": "update"}))
    assert [i.field for i in issues] == ["streaming.output_mode"]
    assert issues[0].found == "update"
    merged = _node(output={"format": "delta", "path": "/tmp/x", "mode": "merge",
                           "merge_keys": ["value"]}, streaming={"output_mode": "update"})
    assert check_node(merged) == []


def test_parquet_sink_is_append_only() -> None:
    issues = check_node(_node(output={"format": "parquet", "path": "/tmp/p"},
                              streaming={"output_mode": "complete"}))
    assert issues and issues[0].field == "streaming.output_mode"
    assert "append" in (issues[0].expected or "")


def test_continuous_trigger_rejected_for_file_source() -> None:
    node = _node(input={"format": "file_stream", "path": "/tmp/in", "file_format": "text"},
                 output={"format": "console"}, streaming={"trigger": {"type": "continuous"}})
    fields = {i.field for i in check_node(node)}
    assert "streaming.trigger.type" in fields


@pytest.mark.parametrize("text", ["0 seconds", "-5 seconds", "400 days", "ten seconds", "5 parsecs"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)
    with pytest.raises(ValueError):
        TriggerConfig(type="processing_time", interval=text)


def test_interval_forms() -> None:
    assert parse_duration("30 seconds").seconds == 30
    assert parse_duration("5 min").spark() == "300 seconds"
    assert parse_duration("500 ms").spark() == "500 milliseconds"
    assert parse_duration("365 days").seconds == 365 * 86400


@pytest.mark.parametrize("key", ["kafka.sasl.jaas.config", "kafka.ssl.keystore.password",
                                 "password", "fs.azure.sas.token", "api_key", "auth.token"])
def test_secret_keys(key: str) -> None:
    from tauro_compile.streaming.formats import is_secret_key

    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["kafka.sasl.mechanism", "kafka.security.protocol", "subscribe",
                                 "kafka_sasl", "maxOffsetsPerTrigger"])
def test_not_secret_keys(key: str) -> None:
    from tauro_compile.streaming.formats import is_secret_key

    assert not is_secret_key(key)


def test_cached_intervals_answer_like_the_first_time() -> None:
    """Parsed strings are cached: the same answer, errors raised every time, bounds kept."""
    for _ in range(2):
        assert parse_duration(" 90 seconds ") == parse_duration(" 90 seconds ")
        assert parse_duration(" 90 seconds ").text == "90 seconds"
        with pytest.raises(DurationError, match="longer than 365 days"):
            parse_duration("400 days")
        assert parse_duration("400 days", maximum=None).seconds == 400 * 86400
        with pytest.raises(DurationError, match="longer than 0 days"):
            parse_duration("2 hours", maximum=3600)
        with pytest.raises(DurationError, match="has no unit"):
            parse_duration(30)
        with pytest.raises(DurationError, match="must be a string, found bool"):
            parse_duration(True)
        with pytest.raises(DurationError, match="must be a string, found list"):
            parse_duration(["1 s"])
