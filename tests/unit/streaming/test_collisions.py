"""What nodes may not share: one rule, and the compiler and the library agree on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tauro_compile.streaming import NodeConfig, StreamingValidationError, StreamingValidator
from tauro_compile.streaming.collisions import collisions, location_key


def node(name: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "input": {"format": "rate"},
            "output": {"format": "delta", "path": path},
            "streaming": {"trigger": {"type": "available_now"}}, **extra}


@pytest.mark.parametrize("spelling", ["/wh/a/./b", "/wh/a//b", "/wh/a/c/../b", "/wh/a/b/"])
def test_one_location_in_any_spelling(spelling: str) -> None:
    assert location_key(spelling) == location_key("/wh/a/b")
    assert location_key("s3a://bucket/x/./y/") == "s3a://bucket/x/y"
    nodes = [NodeConfig.model_validate(node("a", "/wh/a/b")),
             NodeConfig.model_validate(node("b", spelling))]
    (collision,) = collisions(nodes)
    assert (collision.what, collision.positions) == ("output", (0, 1))


def quarantined(name: str, path: str, quarantine: str) -> dict[str, Any]:
    return node(name, path, contract={"path": "contracts/c.yaml", "policy": "quarantine",
                                      "quarantine": {"format": "delta", "path": quarantine}})


CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:test:c
version: 1.0.0
status: active
schema:
  - name: events
    properties:
      - name: value
        logicalType: integer
"""


def validate(*nodes: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's issues, validated in a project that has the contract the nodes name."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "contracts").mkdir()
        (project / "contracts" / "c.yaml").write_text(CONTRACT)
        return _issues(StreamingValidator(project_dir=project), list(nodes))


def _issues(validator: StreamingValidator, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        validator.validate_streaming_pipeline_config({"nodes": nodes})
    except StreamingValidationError as exc:
        return exc.context["issues"]
    return []


def test_nodes_may_share_a_quarantine_table_but_not_with_a_main_output() -> None:
    assert validate(quarantined("a", "/wh/a", "/wh/bad"), quarantined("b", "/wh/b", "/wh/bad")) == []
    issues = validate(quarantined("a", "/wh/a", "/wh/b"), node("b", "/wh/b"))
    assert {(i["node_name"], i["field"]) for i in issues} == {
        ("a", "contract.quarantine.path"), ("b", "output.path")}
    assert issues[0]["hint"].startswith("a quarantine or dead-letter sink may be shared")


def test_a_quarantine_that_is_the_nodes_own_output_is_refused() -> None:
    (issue, other) = validate(quarantined("a", "/wh/a", "/wh/a/"))
    assert {issue["field"], other["field"]} == {"output.path", "contract.quarantine.path"}
    assert "its own" in issue["message"]


def test_two_memory_sinks_collide_through_their_query_name() -> None:
    memory = {"format": "memory"}
    issues = validate(node("a", "/x", output=memory, streaming={"query_name": "q"}),
                      node("b", "/y", output=memory, streaming={"query_name": "q"}))
    assert [(i["node_name"], i["field"]) for i in issues] == [
        ("a", "streaming.query_name"), ("b", "streaming.query_name")]
