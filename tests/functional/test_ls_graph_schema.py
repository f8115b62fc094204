"""`tauro ls`, `tauro graph` and `tauro schema` on a small project written to tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tauro_compile.cli import main
from tauro_compile.streaming import formats

REPO = Path(__file__).resolve().parents[2]

PROJECT = {
    "tauro_project.yml": """
name: shop
version: "1.0.0"
profile: dev
sources:
  landing_orders:
    format: file_stream
    path: "{{ target.paths.landing }}/orders"
    file_format: json
    schema: "order_id STRING, customer_id STRING, amount DOUBLE"
""",
    "profiles.yml": """
profiles:
  dev:
    paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/checkpoints}
    nodes:
      "*": {streaming: {trigger: {type: available_now}}}
""",
    "nodes/bronze/raw_orders.yml": """
name: raw_orders
tags: [bronze]
input: {source: landing_orders}
output: {format: delta, path: "{{ target.paths.warehouse }}/raw_orders"}
""",
    "nodes/silver/clean_orders.yml": """
name: clean_orders
tags: [silver]
input: {ref: raw_orders}
transforms:
  - sql: "SELECT * FROM {{ input }} WHERE customer_id IS NOT NULL"
output: {format: delta, path: "{{ target.paths.warehouse }}/clean_orders"}
""",
    "nodes/gold/customer_totals.yml": """
name: customer_totals
tags: [gold]
input: {ref: clean_orders}
transforms:
  - sql: "SELECT customer_id, sum(amount) AS total FROM {{ input }} GROUP BY customer_id"
output: {format: delta, path: "{{ target.paths.warehouse }}/customer_totals"}
streaming: {output_mode: complete}
""",
    "nodes/gold/big_orders.yml": """
name: big_orders
tags: [gold, alerts]
input: {ref: clean_orders}
transforms:
  - sql: "SELECT * FROM {{ input }} WHERE amount > 1000"
output: {format: console}
streaming:
  trigger: {type: processing_time, interval: "1 minute"}
""",
}
ORDER = ["raw_orders", "clean_orders", "big_orders", "customer_totals"]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("TAURO_PROFILE", raising=False)
    root = tmp_path / "shop"
    for rel, text in PROJECT.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip())
    return root


def tauro(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_ls_names_in_topological_order(project):
    result = tauro("ls", "--project-dir", str(project))
    assert result.exit_code == 0, result.output
    assert result.output.split() == ORDER


def test_ls_does_not_write_artifacts(project):
    assert tauro("ls", "--project-dir", str(project)).exit_code == 0
    assert not (project / "target" / "manifest.json").exists()


def test_ls_paths_are_project_relative(project):
    result = tauro("ls", "--project-dir", str(project), "--output", "path", "-s", "tag:gold")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["nodes/gold/big_orders.yml", "nodes/gold/customer_totals.yml"]


def test_ls_json(project):
    result = tauro("ls", "--project-dir", str(project), "--output", "json", "-s", "+big_orders")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.output)
    assert [n["name"] for n in listing] == ["raw_orders", "clean_orders", "big_orders"]
    big = listing[2]
    assert big["unique_id"] == "shop.big_orders"
    assert big["file"] == "nodes/gold/big_orders.yml"
    assert big["tags"] == ["gold", "alerts"]
    assert big["depends_on"] == ["clean_orders"]
    assert big["input_format"] == "delta" and big["output_format"] == "console"
    # the profile's "*" override is applied on top of the node's own trigger
    assert big["trigger"] == {"type": "available_now", "interval": None}
    raw = listing[0]
    assert raw["input_format"] == "file_stream" and raw["depends_on"] == []
    assert raw["trigger"] == {"type": "available_now", "interval": None}


def test_ls_select_exclude_and_intersection(project):
    result = tauro("ls", "--project-dir", str(project), "-s", "clean_orders+ tag:bronze",
                   "--exclude", "tag:alerts")
    assert result.output.split() == ["raw_orders", "clean_orders", "customer_totals"]
    result = tauro("ls", "--project-dir", str(project), "-s", "tag:gold,tag:alerts")
    assert result.output.split() == ["big_orders"]


def test_ls_unknown_selector_exits_2_with_did_you_mean(project):
    result = tauro("ls", "--project-dir", str(project), "-s", "clean_order")
    assert result.exit_code == 2
    assert "'clean_order' matches no node" in result.output
    assert "did you mean 'clean_orders'?" in result.output


def test_graph_mermaid(project):
    result = tauro("graph", "--project-dir", str(project))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "flowchart LR"
    assert '    raw_orders["raw_orders<br/>delta"]' in lines
    assert '    big_orders["big_orders<br/>console"]' in lines
    edges = [line.strip() for line in lines if "-->" in line]
    assert edges == ["clean_orders --> big_orders", "clean_orders --> customer_totals",
                     "raw_orders --> clean_orders"]


def test_graph_dot_of_selection(project):
    result = tauro("graph", "--project-dir", str(project), "--format", "dot", "-s", "tag:silver+")
    assert result.exit_code == 0, result.output
    text = result.output
    assert text.startswith("digraph tauro {")
    assert '"clean_orders" [label="clean_orders\\ndelta"];' in text
    assert '"clean_orders" -> "customer_totals";' in text
    assert "raw_orders" not in text


def schema_json() -> dict:
    result = tauro("schema")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _format_enum(schema: dict, section: str) -> list[str]:
    prop = _resolve(schema, schema["properties"][section])
    if "anyOf" in prop:  # optional section
        prop = _resolve(schema, next(p for p in prop["anyOf"] if p.get("type") != "null"))
    fmt = prop["properties"]["format"]
    if "anyOf" in fmt:
        fmt = next(p for p in fmt["anyOf"] if p.get("type") == "string")
    return fmt["enum"]


def test_schema_is_draft_2020_12_with_registry_formats():
    schema = schema_json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert _format_enum(schema, "input") == sorted(formats.sources())
    assert _format_enum(schema, "output") == sorted(formats.sinks())
    assert "name" in schema["properties"] and "transforms" in schema["properties"]
    assert schema.get("additionalProperties") is False


def test_schema_follows_a_newly_registered_format():
    spec = formats.FormatSpec("test_only_sink", "sink", "a sink registered by this test")
    formats.register_format(spec)
    try:
        assert "test_only_sink" in _format_enum(schema_json(), "output")
    finally:
        formats._SINKS.pop("test_only_sink", None)


def test_schema_validates_the_example_projects_rendered_nodes(tmp_path):
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed: schema validation of the example "
        "project's node files skipped (pip install jsonschema to run it)")
    project = tmp_path / "example_project"
    shutil.copytree(REPO / "example_project", project,
                    ignore=shutil.ignore_patterns("target", "warehouse", "checkpoints"))
    assert tauro("compile", "--project-dir", str(project)).exit_code == 0
    schema = schema_json()
    compiled = sorted((project / "target" / "compiled").glob("*.yml"))
    assert len(compiled) >= 4
    for path in compiled:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "x", "input": {"format": "nope"}, "output": {"format": "delta"}},
                            schema)


def test_schema_accepts_the_shapes_the_compiler_accepts_and_rejects_typos():
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed: schema validation checks skipped")
    validator = jsonschema.Draft202012Validator(schema_json())
    node = {"input": {"ref": "a"}, "output": {"format": "delta", "path": "x"}}
    good = [node, {"name": "b", **node}, {"nodes": [{"name": "b", **node}]},
            {**node, "contract": "contracts/x.yaml"},
            {**node, "contract": {"path": "c.yaml", "policy": "warn"}}]
    bad = [{"nodes": [node], "name": "x"}, {**node, "tagz": []},
           {"input": {"format": "kafkaa"}, "output": {"format": "delta"}},
           {**node, "streaming": {"trigger": {"type": "sometimes"}}}]
    for doc in good:
        assert not list(validator.iter_errors(doc)), doc
    for doc in bad:
        assert list(validator.iter_errors(doc)), doc
