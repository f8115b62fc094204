"""Which nodes `tauro replay-dead-letters` refuses, before Spark starts (exit 2)."""

from __future__ import annotations

import pytest

from tauro_compile.errors import UsageError
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.tasks.replay import check_replayable

KAFKA_IN = {"format": "kafka", "options": {"subscribe": "raw"}, "parse_json": True,
            "json_schema": "id BIGINT"}


def node(inp: dict, output: dict | None = None) -> NodeConfig:
    return NodeConfig.model_validate({"name": "events", "input": {**KAFKA_IN, **inp},
                                      "output": output or {"format": "delta", "path": "/o"}})


@pytest.mark.parametrize(("inp", "output", "message", "hint"), [
    ({}, None, "node 'events' has no dead letters to replay (on_parse_error: fail)",
     "only a node with `on_parse_error: dead_letter` keeps the records that did not parse"),
    ({"on_parse_error": "dead_letter", "dead_letter": {"format": "kafka", "topic": "dlq"}}, None,
     "node 'events' sends its dead letters to the Kafka topic 'dlq': there is no table to "
     "replay them from", "re-publish the fixed records"),
    ({"on_parse_error": "dead_letter", "dead_letter": {"path": "/dl"}},
     {"format": "kafka", "options": {"topic": "t"}},
     "node 'events' writes to kafka: a replay is written exactly once only into a Delta output",
     "replay into a Delta output"),
])
def test_refused_with_the_reason(inp: dict, output: dict | None, message: str,
                                 hint: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_replayable(node(inp, output))
    assert caught.value.exit_code == 2
    assert caught.value.message == message
    assert (caught.value.hint or "").startswith(hint)


def test_a_delta_dead_letter_table_and_a_delta_output_are_replayable() -> None:
    check_replayable(node({"on_parse_error": "dead_letter", "dead_letter": {"path": "/dl"}}))


def test_an_unknown_node_is_refused_with_a_suggestion(tmp_path) -> None:
    from tauro_compile.compiler.options import ProjectOptions
    from tauro_compile.console import CaptureConsole
    from tauro_compile.tasks.replay import run_replay

    (tmp_path / "nodes").mkdir()
    (tmp_path / "tauro_project.yml").write_text("name: p\nprofile: dev\n")
    (tmp_path / "profiles.yml").write_text("profiles:\n  dev:\n    paths: {checkpoints: chk}\n")
    (tmp_path / "nodes/events.yml").write_text(
        "input: {format: rate}\noutput: {format: delta, path: wh/e}\n")
    with pytest.raises(UsageError) as caught:
        run_replay(ProjectOptions(project_dir=tmp_path), CaptureConsole(), "evnts", where=None,
                   dry_run=False)
    assert caught.value.message == "no node named 'evnts'"
    assert caught.value.hint == "did you mean 'events'?"
