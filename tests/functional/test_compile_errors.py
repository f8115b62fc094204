"""`tauro compile` on bad projects: every problem reported at once, located, exit code 2.

Each case asserts on the Problem fields (file, line, field, expected/found, hint) through
`compile_project`, and on what the CLI prints.
"""

from __future__ import annotations

import json

import pytest

from tauro_compile.compiler.compile import compile_project
from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.errors import Problem, ProjectError, UsageError

BASE = {
    "tauro_project.yml": """
        name: shop
        profile: dev
        sources:
          landing:
            format: rate
    """,
    "profiles.yml": """
        profiles:
          dev:
            paths: {warehouse: wh, checkpoints: chk}
          prod:
            paths: {warehouse: /prod/wh, checkpoints: /prod/chk}
    """,
    "nodes/raw_events.yml": """
        input: {source: landing}
        output: {format: delta, path: "{{ target.paths.warehouse }}/raw_events"}
    """,
    "transforms/__init__.py": "",
    "transforms/events.py": """
        def deduplicate(df):
            return df
    """,
}


def project_with(make_project, **files: str):
    """BASE plus `files` (keys use `__` for `/` and end in `_yml`: nodes__a_yml)."""
    merged = dict(BASE)
    for key, text in files.items():
        merged[key.replace("__", "/").replace("_yml", ".yml")] = text
    return make_project(merged)


def problems(project, **options) -> list[Problem]:
    with pytest.raises(ProjectError) as caught:
        compile_project(ProjectOptions(project_dir=project, **options), write_artifacts=False)
    return caught.value.problems


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(p.render() for p in found)
    return found[0]


def cli_fails(tauro, project, *args: str) -> str:
    """Run `tauro compile`, expect exit 2 and no traceback; return stderr."""
    result = tauro("compile", "--project-dir", project, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr


def test_yaml_syntax_error(make_project, tauro):
    project = project_with(make_project, nodes__broken_yml="""
        input: {format: rate}
        output: {format: console
        streaming: {}
    """)
    problem = only(problems(project))
    assert problem.file == "nodes/broken.yml"
    assert problem.line == 3 and problem.line_kind == "source"
    assert problem.message.startswith("YAML syntax error")
    assert "nodes/broken.yml:3: YAML syntax error" in cli_fails(tauro, project)


def test_jinja_syntax_error(make_project, tauro):
    project = project_with(make_project, nodes__broken_yml="""
        input: {format: rate}
        output: {format: console}
        transforms:
          - sql: "SELECT * FROM {{ input }} {% if %}"
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.code) == ("nodes/broken.yml", 4, "jinja_syntax")
    assert "nodes/broken.yml:4: Jinja syntax error" in cli_fails(tauro, project)


def test_undefined_variable(make_project, tauro):
    project = project_with(make_project, nodes__broken_yml="""
        input: {format: rate}

        output: {format: console, path: "{{ target.pathz }}"}
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.code) == ("nodes/broken.yml", 3, "undefined")
    assert "pathz" in problem.message
    assert "nodes/broken.yml:3: undefined name in template" in cli_fails(tauro, project)


def test_undefined_name_and_var(make_project, tauro):
    project = project_with(make_project, nodes__broken_yml="""
        input: {format: rate}
        output: {format: console}
        description: "{{ var('owner') }} {{ var('team') }}"
    """)
    found = problems(project)
    assert [(p.line, p.code) for p in found] == [(3, "undefined_var"), (3, "undefined_var")]
    assert {p.message for p in found} == {"var 'owner' is not defined", "var 'team' is not defined"}
    assert "var('owner', <default>)" in found[0].expected


def test_unknown_ref_with_did_you_mean(make_project, tauro):
    project = project_with(make_project, nodes__clean_yml="""
        input:
          ref: raw_evnts
        output: {format: console}
    """)
    problem = only(problems(project))
    assert problem.file == "nodes/clean.yml" and problem.line == 2
    assert problem.field == "input.ref" and problem.found == "raw_evnts"
    assert problem.hint == "did you mean 'raw_events'?"
    assert "did you mean 'raw_events'?" in cli_fails(tauro, project)


def test_unknown_ref_in_a_string(make_project):
    project = project_with(make_project, nodes__clean_yml="""
        input: {format: rate}
        transforms:
          - sql: "SELECT * FROM {{ input }} JOIN delta.`{{ ref('raw_event') }}`"
        output: {format: console}
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.code) == ("nodes/clean.yml", 3, "unknown_ref")
    assert problem.hint == "did you mean 'raw_events'?"


def test_unknown_source(make_project):
    project = project_with(make_project, nodes__clean_yml="""
        input: {source: landng}
        output: {format: console}
    """)
    problem = only(problems(project))
    assert (problem.line, problem.field, problem.hint) == (
        1, "input.source", "did you mean 'landing'?")


def test_cycle_is_printed_as_a_path(make_project, tauro):
    project = project_with(
        make_project,
        nodes__a_yml="input: {ref: b}\noutput: {format: delta, path: wh/a}\n",
        nodes__b_yml="input: {ref: c}\noutput: {format: delta, path: wh/b}\n",
        nodes__c_yml="input: {ref: a}\noutput: {format: delta, path: wh/c}\n",
    )
    problem = only(problems(project))
    assert problem.code == "cycle"
    assert "a --> c --> b --> a" in problem.message
    assert (problem.file, problem.line, problem.field) == ("nodes/a.yml", 1, "input.ref")
    assert "a --> c --> b --> a" in cli_fails(tauro, project)


def test_duplicate_node_names_name_both_files(make_project, tauro):
    project = project_with(make_project, nodes__copy_yml="""
        # a copy
        name: raw_events
        input: {format: rate}
        output: {format: console}
    """)
    found = [p for p in problems(project) if p.code == "duplicate_node"]
    assert sorted((p.file, p.line) for p in found) == [("nodes/copy.yml", 2),
                                                       ("nodes/raw_events.yml", 1)]
    assert all("nodes/copy.yml:2" in p.message and "nodes/raw_events.yml:1" in p.message
               for p in found)
    err = cli_fails(tauro, project)
    assert "nodes/copy.yml" in err and "nodes/raw_events.yml" in err


def test_two_nodes_sharing_a_checkpoint(make_project):
    project = project_with(
        make_project,
        nodes__a_yml="""
            input: {format: rate}
            output: {format: console}
            streaming: {checkpoint_location: chk/shared}
        """,
        nodes__b_yml="""
            input: {format: rate}
            output: {format: console}
            streaming:
              checkpoint_location: chk/shared
        """,
    )
    found = problems(project)
    assert sorted((p.file, p.line, p.field) for p in found) == [
        ("nodes/a.yml", 3, "streaming.checkpoint_location"),
        ("nodes/b.yml", 4, "streaming.checkpoint_location"),
    ]
    assert "'b' (nodes/b.yml)" in found[0].message and "'a' (nodes/a.yml)" in found[1].message


def test_two_nodes_writing_the_same_output(make_project):
    project = project_with(make_project, nodes__b_yml="""
        input: {format: rate}
        output:
          format: delta
          path: wh/raw_events
    """)
    found = problems(project)
    assert sorted((p.file, p.code) for p in found) == [
        ("nodes/b.yml", "shared_output"), ("nodes/raw_events.yml", "shared_output")]
    (mine,) = [p for p in found if p.file == "nodes/b.yml"]
    assert (mine.line, mine.field) == (4, "output.path")  # the line that names the sink
    assert "'raw_events' (nodes/raw_events.yml)" in mine.message


def test_unknown_format_lists_valid_ones(make_project, tauro):
    project = project_with(make_project, nodes__b_yml="""
        input: {format: kafak, options: {kafka.bootstrap.servers: "h:9092", subscribe: t}}
        output: {format: console}
    """)
    problem = only(problems(project))
    assert (problem.line, problem.field, problem.found) == (1, "input.format", "kafak")
    assert "delta, delta_stream, file_stream, kafka, rate, socket" in problem.expected
    assert problem.hint == "did you mean 'kafka'?"
    assert "expected: one of: delta, delta_stream" in cli_fails(tauro, project)


@pytest.mark.parametrize("options, found", [
    ("{kafka.bootstrap.servers: 'h:9092'}", "none of them"),
    ("{kafka.bootstrap.servers: 'h:9092', subscribe: a, subscribePattern: 'b.*'}",
     "subscribe, subscribePattern"),
])
def test_kafka_needs_exactly_one_subscription(make_project, options, found):
    project = project_with(make_project, nodes__b_yml=f"""
        input:
          format: kafka
          options: {options}
        output: {{format: console}}
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.field) == ("nodes/b.yml", 3, "input.options")
    assert problem.expected == "exactly one of: subscribe, subscribePattern, assign"
    assert problem.found == found


@pytest.mark.parametrize("interval, expected", [
    ("0 seconds", "a positive interval"),
    ("-5 seconds", "a positive interval"),
    ("400 days", "at most 365 days"),
    ("ten seconds", "'<positive number> <unit>', e.g. '30 seconds', '5 minutes', '500 ms'"),
])
def test_bad_trigger_intervals(make_project, tauro, interval, expected):
    project = project_with(make_project, nodes__b_yml=f"""
        input: {{format: rate}}
        output: {{format: console}}
        streaming:
          trigger:
            type: processing_time
            interval: {interval}
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line) == ("nodes/b.yml", 6)
    assert problem.field == "streaming.trigger.interval"
    assert problem.expected == expected and problem.found == interval
    assert "streaming.trigger.interval" in cli_fails(tauro, project)


def test_unknown_profile_lists_valid_ones(make_project, tauro):
    project = make_project(BASE)
    with pytest.raises(UsageError) as caught:
        compile_project(ProjectOptions(project_dir=project, profile="staging"))
    assert caught.value.hint == "valid profiles: dev, prod"
    err = cli_fails(tauro, project, "--profile", "staging")
    assert "unknown profile 'staging'" in err and "valid profiles: dev, prod" in err


def test_env_var_unset_without_default(make_project, tauro, monkeypatch):
    monkeypatch.delenv("TAURO_TEST_BROKERS", raising=False)
    project = project_with(make_project, nodes__b_yml="""
        input: {format: rate}
        output:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('TAURO_TEST_BROKERS') }}"
            topic: t
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.code) == ("nodes/b.yml", 5, "undefined_env_var")
    assert "TAURO_TEST_BROKERS" in problem.message
    assert "env_var('TAURO_TEST_BROKERS', <default>)" in problem.expected
    monkeypatch.setenv("TAURO_TEST_BROKERS", "broker:9092")
    compiled = compile_project(ProjectOptions(project_dir=project), write_artifacts=False)
    assert compiled.nodes["b"].config.output.options["kafka.bootstrap.servers"] == "broker:9092"


def test_unknown_field_with_did_you_mean(make_project, tauro):
    project = project_with(make_project, nodes__b_yml="""
        input:
          format: rate
          optons: {rowsPerSecond: 5}
        output: {format: console}
        streming: {output_mode: append}
    """)
    found = problems(project)
    assert [(p.line, p.field, p.hint) for p in found] == [
        (3, "input.optons", "did you mean 'options'?"),
        (5, "streming", "did you mean 'streaming'?"),
    ]
    assert "output" in found[1].expected and "streaming" in found[1].expected
    err = cli_fails(tauro, project)
    assert "unknown field 'optons'" in err and "did you mean 'streaming'?" in err


def test_wrong_type(make_project):
    project = project_with(make_project, nodes__b_yml="""
        input: {format: rate}
        output: {format: console}
        tags: bronze
    """)
    problem = only(problems(project))
    assert (problem.line, problem.field, problem.expected, problem.found) == (
        3, "tags", "a list", "bronze")


@pytest.mark.parametrize("reference, message, hint", [
    ("transforms.event:deduplicate", "module 'transforms.event' of "
     "'transforms.event:deduplicate' cannot be found", "did you mean 'transforms.events'?"),
    ("transforms.events:dedupe", "module 'transforms.events' (transforms/events.py) has no "
     "'dedupe'", "did you mean 'deduplicate'?"),
])
def test_transform_that_cannot_be_imported(make_project, tauro, reference, message, hint):
    project = project_with(make_project, nodes__b_yml=f"""
        input: {{format: rate}}
        transforms:
          - sql: "SELECT * FROM {{{{ input }}}}"
          - python: {reference}
        output: {{format: console}}
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.field) == ("nodes/b.yml", 4, "transforms.1.python")
    assert problem.message == message and problem.hint == hint
    assert message in cli_fails(tauro, project)


@pytest.mark.parametrize("template", [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ target.__class__ }}",
])
def test_sandbox_escape_is_a_problem(make_project, tauro, template):
    project = project_with(make_project, nodes__b_yml=f"""
        input: {{format: rate}}
        output: {{format: console}}
        description: "{template}"
    """)
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.code) == ("nodes/b.yml", 3, "sandbox")
    assert "Python internals are not reachable" in problem.hint
    assert "tried to leave the sandbox" in cli_fails(tauro, project)


def test_watermark_column_not_in_declared_schema(make_project):
    project = project_with(make_project, nodes__b_yml="""
        input:
          format: file_stream
          path: landing/b
          file_format: json
          schema: "id STRING, event_time TIMESTAMP"
          watermark: {column: event_ts, delay: 1 minute}
        output: {format: console}
    """)
    problem = only(problems(project))
    assert (problem.line, problem.field, problem.found) == (6, "input.watermark.column",
                                                            "event_ts")
    assert problem.expected == "one of: event_time, id"


def test_output_mode_incompatible_with_sink(make_project):
    project = project_with(make_project, nodes__b_yml="""
        input: {format: rate}
        output: {format: parquet, path: out/b}
        streaming: {output_mode: complete}
    """)
    problem = only(problems(project))
    assert (problem.line, problem.field, problem.found) == (3, "streaming.output_mode", "complete")
    assert problem.expected == "one of: append"


def test_ref_to_a_sink_nothing_can_read(make_project):
    project = project_with(
        make_project,
        nodes__show_yml="input: {format: rate}\noutput: {format: console}\n",
        nodes__after_yml="input: {ref: show}\noutput: {format: console}\n",
    )
    problem = only(problems(project))
    assert (problem.file, problem.line, problem.code) == ("nodes/after.yml", 1, "unreadable_ref")


def test_contract_file_missing_or_invalid(make_project):
    project = project_with(
        make_project,
        nodes__a_yml="input: {format: rate}\noutput: {format: console}\ncontract: contracts/nope.yaml\n",
        **{"contracts/bad.yaml": "apiVersion: v3.0.2\nkind: DataContract\n"},
        nodes__b_yml="input: {format: rate}\noutput: {format: console}\ncontract: bad.yaml\n",
    )
    found = problems(project)
    by_file = {}
    for p in found:
        by_file.setdefault(p.file, []).append(p)
    assert by_file["nodes/a.yml"][0].line == 3 and by_file["nodes/a.yml"][0].field == "contract"
    assert by_file["nodes/b.yml"][0].line == 3  # found under contract_paths, but invalid
    assert "contracts/bad.yaml" in by_file  # the contract's own problems, on its file


def test_missing_checkpoint_root(make_project):
    files = dict(BASE)
    files["profiles.yml"] = "profiles: {dev: {paths: {warehouse: wh}}}\n"
    project = make_project(files)
    problem = only(problems(project))
    assert problem.code == "no_checkpoint" and problem.field == "streaming.checkpoint_location"
    assert "profile 'dev'" in problem.hint


def test_all_problems_are_reported_at_once(make_project, tauro):
    project = project_with(
        make_project,
        nodes__a_yml="input: {ref: nowhere}\noutput: {format: console}\n",
        nodes__b_yml="input: {format: rate}\noutput: {format: console}\nstreaming: {trigger: {interval: 0 seconds}}\n",
        nodes__c_yml="input: {format: rate}\noutput: {format: consle}\n",
    )
    found = problems(project)
    assert sorted((p.file, p.line) for p in found) == [
        ("nodes/a.yml", 1), ("nodes/b.yml", 3), ("nodes/c.yml", 2)]
    err = cli_fails(tauro, project)
    assert "3 problems found in the project" in err
    for location in ("nodes/a.yml:1", "nodes/b.yml:3", "nodes/c.yml:2"):
        assert location in err


def test_failed_compile_keeps_the_previous_manifest(make_project, tauro):
    project = make_project(BASE)
    assert tauro("compile", "--project-dir", project).exit_code == 0
    manifest = project / "target" / "manifest.json"
    before = manifest.read_text()
    (project / "nodes/broken.yml").write_text("input: {format: rate\n")
    cli_fails(tauro, project)
    assert manifest.read_text() == before
    assert json.loads(before)["metadata"]["selected"] == ["raw_events"]
    assert not [p for p in manifest.parent.iterdir() if p.name.endswith(".tmp")]


def test_line_of_the_rendered_text_when_lines_shift(make_project, tauro):
    project = project_with(make_project, nodes__b_yml="""
        input: {format: rate}
        output: {format: console}
        tags:
        {% for t in ['a', 'b', 'c'] %}
          - {{ t }}
        {% endfor %}
        streaming: {output_mode: sideways}
    """)
    problem = only(problems(project))
    rendered = (project / "target" / "compiled" / "b.yml")
    assert not rendered.exists()  # write_artifacts=False above
    assert problem.line_kind == "rendered" and problem.field == "streaming.output_mode"
    cli_fails(tauro, project)
    lines = rendered.read_text().splitlines()
    assert lines[problem.line - 1].startswith("streaming: {output_mode: sideways}")


def test_no_traceback_for_a_broken_project_file(make_project, tauro):
    files = dict(BASE)
    files["tauro_project.yml"] = "name: shop\nprofile: dev\nnode_path: [nodes]\n"
    project = make_project(files)
    err = cli_fails(tauro, project)
    assert "tauro_project.yml:3: unknown field 'node_path'" in err
    assert "did you mean 'node_paths'?" in err


def test_missing_project_is_a_usage_error(tmp_path, tauro):
    err = cli_fails(tauro, tmp_path / "nowhere")
    assert "does not exist" in err


def test_invalid_declared_source_is_reported_once_on_the_project_file(make_project):
    files = dict(BASE)
    files["tauro_project.yml"] = """
        name: shop
        profile: dev
        sources:
          landing:
            format: kafka
            options: {subscribe: a}
          other:
            format: rate
            optoins: {}
    """
    project = make_project(files)
    found = problems(project)
    assert sorted((p.file, p.line, p.field) for p in found) == [
        ("tauro_project.yml", 6, "sources.landing.options.kafka.bootstrap.servers"),
        ("tauro_project.yml", 9, "sources.other.optoins"),
    ]
