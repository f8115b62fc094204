"""StreamingValidator on dicts and NodeConfigs: error kinds and `.context` fields (no Spark)."""

from __future__ import annotations

from typing import Any

import pytest

from tauro_compile.streaming import (
    NodeConfig,
    StreamingFormatNotSupportedError,
    StreamingValidationError,
    StreamingValidator,
)


def node(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "events",
        "input": {"format": "rate", "options": {"rowsPerSecond": 5}},
        "output": {"format": "delta", "path": "/tmp/out/events"},
        "streaming": {"trigger": {"type": "available_now"}},
    }
    base.update(overrides)
    return base


def test_valid_node_returns_typed_config() -> None:
    config = StreamingValidator().validate_streaming_node_config(node())
    assert isinstance(config, NodeConfig)
    assert config.output.path == "/tmp/out/events"
    assert config.streaming.trigger.type.value == "available_now"


def test_nodeconfig_instance_is_checked_against_the_registry() -> None:
    config = NodeConfig.model_validate(node(output={"format": "delta"}))
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(config)
    assert info.value.context["field"] == "output.path"
    assert info.value.context["node_name"] == "events"


def test_unknown_input_format_is_format_error_with_context() -> None:
    with pytest.raises(StreamingFormatNotSupportedError) as info:
        StreamingValidator().validate_streaming_node_config(node(input={"format": "kafak"}))
    ctx = info.value.context
    assert ctx["field"] == "input.format"
    assert ctx["actual"] == "kafak"
    assert "kafka" in ctx["expected"]
    assert ctx["node_name"] == "events"
    assert "did you mean 'kafka'" in (info.value.hint or "")
    # a format error is also a validation error
    assert isinstance(info.value, StreamingValidationError)


def test_unknown_format_is_reported_with_schema_errors() -> None:
    bad = node(input={"format": "nope", "bogus": 1})
    with pytest.raises(StreamingFormatNotSupportedError) as info:
        StreamingValidator().validate_streaming_node_config(bad)
    fields = {i["field"] for i in info.value.context["issues"]}
    assert {"input.format", "input.bogus"} <= fields


def test_every_issue_is_listed_with_field_expected_found() -> None:
    bad = node(
        input={"format": "kafka", "options": {"subscribe": "a", "assign": "b"}},
        streaming={"trigger": {"type": "processing_time", "interval": "0 seconds"},
                   "output_mode": "sideways"},
    )
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(bad)
    issues = {i["field"]: i for i in info.value.context["issues"]}
    # The same fields, words and values the compiler reports (one translation of both).
    assert set(issues) == {"streaming.trigger.interval", "streaming.output_mode"}
    assert issues["streaming.trigger.interval"]["expected"] == "a positive interval"
    assert issues["streaming.output_mode"]["found"] == "sideways"
    assert not isinstance(info.value, StreamingFormatNotSupportedError)


def test_registry_rules_for_kafka_options() -> None:
    bad = node(input={"format": "kafka", "options": {"subscribe": "a", "assign": "b"}})
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(bad)
    issues = {i["field"]: i for i in info.value.context["issues"]}
    assert issues["input.options.kafka.bootstrap.servers"]["found"] == "nothing"
    assert issues["input.options"]["found"] == "subscribe, assign"
    assert info.value.context["expected"] is not None


def test_unknown_key_gets_a_did_you_mean_hint() -> None:
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(
            node(output={"format": "delta", "path": "/x", "partiton_by": ["d"]}))
    assert info.value.context["field"] == "output.partiton_by"
    assert info.value.context["issues"][0]["hint"] == "did you mean 'partition_by'?"


def test_secret_values_are_not_echoed_in_errors() -> None:
    bad = node(input={"format": "kafka", "options": {
        "kafka.bootstrap.servers": "b:9092", "subscribe": "t",
        "kafka.sasl.jaas.config": ["hunter2-secret"]}})
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(bad)
    assert "hunter2" not in str(info.value.context)
    assert "hunter2" not in info.value.render()


@pytest.mark.parametrize("policy", [
    {"rate", "console"},
    {"sources": ["rate"], "sinks": ["console"]},
])
def test_format_policy_collections(policy: Any) -> None:
    validator = StreamingValidator(format_policy=policy)
    validator.validate_streaming_node_config(node(output={"format": "console"}))
    with pytest.raises(StreamingFormatNotSupportedError) as info:
        validator.validate_streaming_node_config(node())
    assert info.value.context["field"] == "output.format"
    assert info.value.context["actual"] == "delta"


def test_format_policy_object() -> None:
    class NoKafka:
        def is_supported_streaming(self, fmt: str) -> bool:
            return fmt != "kafka"

    validator = StreamingValidator(format_policy=NoKafka())
    validator.validate_streaming_node_config(node())
    kafka = node(input={"format": "kafka", "options": {
        "kafka.bootstrap.servers": "b:9092", "subscribe": "t"}})
    with pytest.raises(StreamingFormatNotSupportedError) as info:
        validator.validate_streaming_node_config(kafka)
    assert info.value.context["field"] == "input.format"


def test_pipeline_defaults_are_merged_under_nodes() -> None:
    pipeline = {
        "type": "streaming",
        "nodes": [node(streaming={"output_mode": "append"}),
                  node(name="other", output={"format": "console"},
                       streaming={"trigger": {"type": "once"}})],
        "streaming": {"trigger": {"type": "processing_time", "interval": "30 seconds"},
                      "options": {"a": "1"}},
    }
    first, second = StreamingValidator().validate_streaming_pipeline_config(pipeline)
    assert first.streaming.trigger.type.value == "processing_time"
    assert first.streaming.trigger.interval == "30 seconds"
    assert first.streaming.options == {"a": "1"}
    # a node's own trigger replaces the default trigger whole (no interval leaks into once)
    assert second.streaming.trigger.type.value == "once"
    assert second.streaming.trigger.interval is None


def test_pipeline_duplicates_are_errors() -> None:
    pipeline = {
        "type": "streaming",
        "nodes": [
            node(name="a", streaming={"checkpoint_location": "/chk/x",
                                      "trigger": {"type": "available_now"}}),
            node(name="b", streaming={"checkpoint_location": "/chk/x/",
                                      "trigger": {"type": "available_now"}}),
            node(name="a", output={"format": "console"}),
        ],
    }
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_pipeline_config(pipeline)
    issues = info.value.context["issues"]
    by_field = {(i["node_name"], i["field"]): i for i in issues}
    assert ("b", "streaming.checkpoint_location") in by_field
    assert ("b", "output.path") in by_field  # b writes a's sink
    assert "node 'a' (nodes[0])" in by_field[("b", "output.path")]["message"]
    assert ("a", "streaming.checkpoint_location") in by_field  # every claimant is named
    assert ("a", "name") in by_field
    assert "node 'a' (nodes[0])" in by_field[("a", "name")]["message"]
    assert info.value.context["node_name"] == "a"


def test_pipeline_shape_errors() -> None:
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_pipeline_config({"type": "batch", "nodes": []})
    fields = [i["field"] for i in info.value.context["issues"]]
    assert fields == ["type", "nodes"]


def test_node_issues_in_pipeline_name_the_node() -> None:
    pipeline = {"nodes": [node(), node(name="broken", output={"format": "parquet"})]}
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_pipeline_config(pipeline)
    assert info.value.context["node_name"] == "broken"
    assert info.value.context["field"] == "output.path"
    assert "node 'broken'" in info.value.message


def test_pipeline_defaults_merge_like_the_compiler_a_node_trigger_replaces_the_default() -> None:
    """One merge rule: the node's trigger is taken whole, never merged into the default's."""
    pipeline = {"type": "streaming",
                "streaming": {"trigger": {"type": "available_now"}, "output_mode": "append"},
                "nodes": [node(streaming={"trigger": {"interval": "5 seconds"}}), node(
                    name="b", output={"format": "delta", "path": "/tmp/out/b"}, streaming={})]}
    first, second = StreamingValidator().validate_streaming_pipeline_config(pipeline)
    assert first.streaming.trigger.type.value == "processing_time"
    assert first.streaming.trigger.interval == "5 seconds"
    assert second.streaming.trigger.type.value == "available_now"


@pytest.mark.parametrize("name", ["my node", "a/b", "../up", "-dash"])
def test_node_names_follow_the_compilers_rule(name: str) -> None:
    """A name becomes a checkpoint folder and a query name: the library refuses what compile does."""
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(node(name=name))
    assert info.value.context["field"] == "name"


def test_the_library_and_the_compiler_translate_a_model_error_the_same_way() -> None:
    """One translation: same field, message, expected, found and hint from both front ends."""
    from pydantic import ValidationError

    from tauro_compile.compiler.problems import validation_problems

    bad = node(input={"format": "rate", "optionz": {}},
               streaming={"trigger": {"type": "processing_time", "interval": "ten"}})
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator().validate_streaming_node_config(bad)
    library = {(i["field"], i["message"], i["expected"], i["found"], i["hint"])
               for i in info.value.context["issues"]}
    with pytest.raises(ValidationError) as raw:
        NodeConfig.model_validate(bad)
    compiled = {(p.field, p.message, p.expected, p.found, p.hint) for p in validation_problems(
        raw.value, NodeConfig, file="nodes/events.yml", locate=lambda path: (None, "source"))}
    assert library == compiled
    assert ("input.optionz", "unknown field 'optionz'") in {(f, m) for f, m, *_ in library}


def test_the_library_checks_the_nodes_code_and_contract_like_the_compiler(tmp_path) -> None:
    """Unimportable transforms, a missing contract, a watermark on no input column: refused
    by the library as by the compiler (they used to pass the library and fail at start)."""
    (tmp_path / "steps.py").write_text("def clean(df):\n    return df\n")
    bad = node(input={"format": "file_stream", "file_format": "json", "path": "/tmp/in",
                      "schema": "id BIGINT, ts TIMESTAMP",
                      "watermark": {"column": "event_time", "delay": "1 minute"}},
               transforms=[{"python": "steps:clena"}, {"python": "nosuchmodule:f"}],
               contract={"path": "contracts/missing.yaml", "policy": "warn"})
    with pytest.raises(StreamingValidationError) as info:
        StreamingValidator(project_dir=tmp_path).validate_streaming_node_config(bad)
    issues = {i["field"]: i for i in info.value.context["issues"]}
    assert issues["input.watermark.column"]["expected"] == "one of: id, ts"
    assert issues["transforms[0].python"]["hint"] == "did you mean 'clean'?"
    assert "cannot be found" in issues["transforms[1].python"]["message"]
    assert "does not exist" in issues["contract.path"]["message"]

    good = node(input={"format": "rate"}, transforms=[{"python": "steps:clean"}])
    assert StreamingValidator(project_dir=tmp_path).validate_streaming_node_config(good)
