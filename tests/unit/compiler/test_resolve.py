"""Resolution of refs, sources, defaults and overrides, through `compile_project`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tauro_compile.compiler.compile import compile_project
from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.errors import ProjectError

PROJECT = """
name: p
profile: dev
streaming:
  output_mode: append
  trigger: {type: processing_time, interval: 1 minute}
on_failure: {action: restart, max_restarts: 2}
sources:
  topic_in:
    format: kafka
    options: {kafka.bootstrap.servers: "k:9092", subscribe: in}
  table_in:
    format: delta
    table_name: bronze.events
"""
PROFILES = """
dev:
  paths: {checkpoints: chk, warehouse: wh}
  nodes:
    "*": {streaming: {trigger: {type: available_now}}}
    "tag:fast": {streaming: {trigger: {type: processing_time, interval: 5 seconds}}}
"""
SPECIAL = "    special: {streaming: {query_name: very_special}}\n"


def compile_nodes(root: Path, nodes: dict[str, str], profiles: str = PROFILES, **options):
    files = {"tauro_project.yml": PROJECT, "profiles.yml": profiles, **nodes}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return compile_project(ProjectOptions(project_dir=root, **options), write_artifacts=False)


def config(compiled, name):
    return compiled.nodes[name].config


def test_ref_inputs_follow_the_upstream_sink(tmp_path):
    compiled = compile_nodes(tmp_path, {
        "nodes/d.yml": "input: {format: rate}\noutput: {format: delta, path: out/d}\n",
        "nodes/t.yml": "input: {format: rate}\noutput: {format: delta, table_name: silver.t}\n",
        "nodes/k.yml": """
            input: {format: rate}
            output:
              format: kafka
              options: {kafka.bootstrap.servers: "k:9092", kafka.security.protocol: SSL, topic: k_out}
        """,
        "nodes/j.yml": "input: {format: rate}\noutput: {format: json, path: out/j}\n",
        "nodes/from_d.yml": "input: {ref: d}\noutput: {format: console}\n",
        "nodes/cdf_d.yml": "input: {ref: d, format: delta_stream, options: {startingVersion: 0}}\n"
                           "output: {format: console}\n",
        "nodes/from_t.yml": "input: {ref: t}\noutput: {format: console}\n",
        "nodes/from_k.yml": "input: {ref: k, options: {startingOffsets: earliest}}\n"
                            "output: {format: console}\n",
        "nodes/from_j.yml": "input: {ref: j, schema: 'id INT'}\noutput: {format: console}\n",
    })
    assert config(compiled, "from_d").input.model_dump(exclude_defaults=True) == {
        "format": "delta", "path": f"{tmp_path}/out/d"}
    cdf = config(compiled, "cdf_d").input
    assert (cdf.format, cdf.path, cdf.options) == ("delta_stream", f"{tmp_path}/out/d",
                                                   {"startingVersion": 0})
    assert config(compiled, "from_t").input.table_name == "silver.t"
    assert config(compiled, "from_k").input.options == {
        "kafka.bootstrap.servers": "k:9092", "kafka.security.protocol": "SSL",
        "subscribe": "k_out", "startingOffsets": "earliest"}
    from_j = config(compiled, "from_j").input
    assert (from_j.format, from_j.file_format, from_j.schema_) == ("file_stream", "json", "id INT")
    assert compiled.nodes["from_k"].depends_on == ("k",)
    assert compiled.graph.parents("cdf_d") == ["d"]


def test_sources_defaults_and_overrides(tmp_path):
    compiled = compile_nodes(tmp_path, {
        "nodes/a.yml": """
            input: {source: topic_in, options: {maxOffsetsPerTrigger: 10}}
            output: {format: delta, path: wh/a}
        """,
        "nodes/b.yml": """
            tags: [fast]
            input: {source: table_in}
            output: {format: delta, path: /abs/b}
            streaming: {checkpoint_location: my/chk}
        """,
        "nodes/special.yml": """
            input: {format: rate}
            output: {format: memory}
            on_failure: {max_restarts: 5}
        """,
    }, profiles=PROFILES + SPECIAL)
    a, b, special = (config(compiled, n) for n in ("a", "b", "special"))
    assert a.input.options == {"kafka.bootstrap.servers": "k:9092", "subscribe": "in",
                               "maxOffsetsPerTrigger": 10}
    assert compiled.nodes["a"].sources == ("topic_in",)
    assert a.streaming.trigger.type.value == "available_now"          # "*" override
    assert (b.streaming.trigger.type.value, b.streaming.trigger.interval) == (
        "processing_time", "5 seconds")                                 # tag override wins
    assert a.streaming.checkpoint_location == f"{tmp_path}/chk/a"
    assert b.streaming.checkpoint_location == f"{tmp_path}/my/chk"      # relative -> absolute
    assert b.output.path == "/abs/b" and a.output.path == f"{tmp_path}/wh/a"
    assert b.input.table_name == "bronze.events"
    assert special.query_name == "very_special"                        # name override
    assert a.streaming.query_name == "a"
    assert (special.on_failure.action, special.on_failure.max_restarts) == ("restart", 5)
    assert a.on_failure.max_restarts == 2                               # project default


def test_string_refs_resolve_to_identifiers_and_make_edges(tmp_path):
    compiled = compile_nodes(tmp_path, {
        "nodes/t.yml": "input: {format: rate}\noutput: {format: delta, table_name: s.t}\n",
        "nodes/m.yml": "input: {format: rate}\noutput: {format: memory}\n",
        "nodes/x.yml": """
            input: {format: rate}
            transforms:
              - sql: "SELECT * FROM {{ input }} JOIN {{ ref('t') }} JOIN {{ ref('m') }} JOIN {{ source('topic_in') }}"
            output: {format: console}
        """,
    })
    sql = config(compiled, "x").transforms[0].sql
    assert sql == "SELECT * FROM {{ input }} JOIN s.t JOIN m JOIN in"
    assert compiled.nodes["x"].depends_on == ("t", "m")
    assert compiled.nodes["x"].sources == ("topic_in",)


def test_unknown_override_key_is_a_problem(tmp_path):
    with pytest.raises(ProjectError) as caught:
        compile_nodes(tmp_path, {"nodes/speciall.yml": "input: {format: rate}\n"
                                                       "output: {format: console}\n"},
                      profiles=PROFILES + SPECIAL)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.code) == ("profiles.yml", 6, "unknown_override")
    assert problem.hint == "did you mean 'speciall'?"


def test_node_list_files_and_shapes(tmp_path):
    with pytest.raises(ProjectError) as caught:
        compile_nodes(tmp_path, {
            "nodes/list.yml": """
                nodes:
                  - name: one
                    input: {format: rate}
                    output: {format: console}
                  - input: {format: rate}
                    output: {format: console}
                  - just a string
            """,
            "nodes/mixed.yml": "nodes: []\nname: x\n",
            "nodes/empty.yml": "# nothing here yet\n",
        })
    found = sorted((p.file, p.line, p.message) for p in caught.value.problems)
    assert found == [
        ("nodes/empty.yml", 1, "the node file is empty"),
        ("nodes/list.yml", 5, "missing required field 'name'"),
        ("nodes/list.yml", 7, "a node must be a mapping"),
        ("nodes/mixed.yml", 1, "a file with `nodes:` holds only that list of nodes"),
    ]


def test_input_spec_rules(tmp_path):
    with pytest.raises(ProjectError) as caught:
        compile_nodes(tmp_path, {
            "nodes/a.yml": "input: {format: rate}\noutput: {format: delta, path: wh/a}\n",
            "nodes/b.yml": "input: {ref: a, source: topic_in}\noutput: {format: console}\n",
            "nodes/c.yml": "input: {ref: a, format: kafka}\noutput: {format: console}\n",
            "nodes/d.yml": "input: {ref: a, path: x}\noutput: {format: console}\n",
            "nodes/e.yml": "output: {format: console}\ninput: {}\n",
        })
    messages = {p.file: p.message for p in caught.value.problems}
    assert messages["nodes/b.yml"] == "give `ref` or `source`, not both"
    assert messages["nodes/c.yml"].startswith("with `ref`, `format` may only be `delta_stream`")
    assert messages["nodes/d.yml"].startswith("`path`/`table_name` come from the ref")
    assert messages["nodes/e.yml"] == "an input needs `format`, `ref: <node>` or `source: <name>`"
    assert {p.line for p in caught.value.problems if p.file == "nodes/e.yml"} == {2}
