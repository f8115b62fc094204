"""`tauro compile` on the next layer of bad input: each mistake reported once, where it was made.

Every case goes through the CLI (exit 2, no traceback, no `Internal error`) and asserts on
the located Problem (file, line, field, found, hint) through `compile_project`.
"""

from __future__ import annotations

import pytest

from tauro_compile.compiler.compile import compile_project
from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.errors import Problem, ProjectError

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
    "nodes/clean_events.yml": """
        input: {ref: raw_events}
        transforms:
          - sql: "SELECT * FROM {{ input }}"
        output: {format: delta, path: "{{ target.paths.warehouse }}/clean_events"}
    """,
    "transforms/__init__.py": "",
    "transforms/events.py": """
        def deduplicate(df, keys=("id",), *, spark=None):
            return df
    """,
}


def project(make_project, **files: str):
    """BASE with `files` replacing/adding entries (keys are paths)."""
    return make_project({**BASE, **files})


def problems(path, **options) -> list[Problem]:
    with pytest.raises(ProjectError) as caught:
        compile_project(ProjectOptions(project_dir=path, **options), write_artifacts=False)
    return caught.value.problems


def cli_fails(tauro, path, *args: str, env=None) -> str:
    result = tauro("compile", "--project-dir", path, *args, env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    return result.stderr


def only(found: list[Problem]) -> Problem:
    assert len(found) == 1, "\n".join(p.render() for p in found)
    return found[0]


# -- 1. duplicate keys ------------------------------------------------------------------

def test_duplicate_key_in_a_node_names_both_lines(make_project, tauro):
    path = project(make_project, **{"nodes/raw_events.yml": """
        input: {source: landing}
        output: {format: console}
        streaming: {output_mode: append}
        output: {format: delta, path: wh/x}
    """})
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.field) == ("nodes/raw_events.yml", 4, "output")
    assert "lines 2 and 4" in problem.message and problem.code == "duplicate_key"
    assert "lines 2 and 4" in cli_fails(tauro, path)


def test_duplicate_key_lines_are_source_lines_when_jinja_shifts_them(make_project):
    path = project(make_project, **{"nodes/raw_events.yml": """
        {% if true %}
        {% endif %}
        input: {source: landing}
        output: {format: console}
        output: {format: delta, path: wh/x}
    """})
    problem = only(problems(path))
    assert (problem.line, problem.line_kind) == (5, "source")
    assert "lines 4 and 5" in problem.message


def test_duplicate_option_and_source_and_profile(make_project, tauro):
    path = project(make_project, **{
        "tauro_project.yml": """
            name: shop
            profile: dev
            sources:
              landing:
                format: rate
              landing:
                format: rate
        """,
        "profiles.yml": """
            profiles:
              dev:
                paths: {warehouse: wh, checkpoints: chk}
              dev:
                paths: {warehouse: wh2, checkpoints: chk}
        """,
    })
    problem = only(problems(path))  # the project file fails first: nothing else is read
    assert (problem.file, problem.line, problem.field) == ("tauro_project.yml", 6,
                                                           "sources.landing")
    path = project(make_project, name="p2", **{"profiles.yml": """
        profiles:
          dev:
            paths: {warehouse: wh, checkpoints: chk}
          dev:
            paths: {warehouse: wh2, checkpoints: chk}
    """})
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.field) == ("profiles.yml", 4, "profiles.dev")
    assert "lines 2 and 4" in cli_fails(tauro, path)
    path = project(make_project, name="p3", **{"nodes/raw_events.yml": """
        input:
          source: landing
          options: {rowsPerSecond: 1, rowsPerSecond: 2}
        output: {format: console}
    """})
    problem = only(problems(path))
    assert problem.field == "input.options.rowsPerSecond" and problem.line == 3


def test_duplicate_key_in_a_contract(make_project):
    path = project(make_project, **{
        "nodes/clean_events.yml": """
            input: {ref: raw_events}
            output: {format: delta, path: wh/clean}
            contract: contracts/c.yaml
        """,
        "contracts/c.yaml": """
            apiVersion: v3.0.2
            kind: DataContract
            id: c
            version: 1.0.0
            schema:
              - name: c
                properties:
                  - name: value
                    required: true
                    required: false
        """,
    })
    found = problems(path)
    assert any(p.file == "contracts/c.yaml" and p.line == 10 and p.code == "duplicate_key"
               and "lines 9 and 10" in p.message for p in found), found


def test_duplicate_key_in_vars(make_project, tauro):
    path = project(make_project)
    result = tauro("compile", "--project-dir", path, "--vars", "{a: 1, a: 2}")
    assert result.exit_code == 2 and "key 'a' is given twice" in result.output
    assert "Traceback" not in result.output


# -- 2. encodings -----------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["tauro_project.yml", "profiles.yml", "nodes/raw_events.yml"])
def test_a_byte_that_is_not_utf8_is_located(make_project, tauro, rel):
    path = project(make_project)
    data = (path / rel).read_bytes().replace(b"\n", b"  # caf\xe9\n", 1)
    (path / rel).write_bytes(data)
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.code) == (rel, 1, "encoding")
    assert problem.found.startswith("byte 0xe9 at column ")
    assert "UTF-8" in problem.hint
    assert f"{rel}:1: the file is not UTF-8" in cli_fails(tauro, path)


def test_a_contract_that_is_not_utf8(make_project):
    path = project(make_project, **{
        "nodes/clean_events.yml": """
            input: {ref: raw_events}
            output: {format: delta, path: wh/clean}
            contract: contracts/c.yaml
        """,
        "contracts/c.yaml": "apiVersion: v3.0.2\n",
    })
    (path / "contracts/c.yaml").write_bytes(b"apiVersion: v3.0.2\nkind: DataContract \xff\n")
    found = problems(path)
    assert any(p.code == "encoding" and p.line == 2 for p in found), found


def test_bom_and_crlf_keep_working(make_project, tauro):
    path = project(make_project)
    for rel in ("tauro_project.yml", "profiles.yml", "nodes/raw_events.yml"):
        text = (path / rel).read_text()
        (path / rel).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = tauro("compile", "--project-dir", path)
    assert result.exit_code == 0, result.output


# -- 3. python code of the project --------------------------------------------------------

def node_with_python(reference: str, args: str = "") -> str:
    return f"""
        input: {{ref: raw_events}}
        transforms:
          - python: {reference}
        {args}
        output: {{format: delta, path: wh/clean}}
    """


def test_syntax_error_in_a_transform_module_is_reported_at_its_line(make_project, tauro):
    path = project(make_project, **{
        "transforms/events.py": "def deduplicate(df):\n    return df\n\ndef broken(:\n    pass\n",
        "nodes/clean_events.yml": node_with_python("transforms.events:deduplicate"),
    })
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.code) == ("transforms/events.py", 4,
                                                          "python_syntax")
    assert "has no" not in cli_fails(tauro, path)


def test_import_of_a_missing_package_is_reported(make_project):
    path = project(make_project, **{
        "transforms/events.py": """
            import os
            from . import helpers
            import not_an_installed_package_xyz

            try:
                import also_missing_but_guarded
            except ImportError:
                pass

            def deduplicate(df):
                return df
        """,
        "transforms/helpers.py": "",
        "nodes/clean_events.yml": node_with_python("transforms.events:deduplicate"),
    })
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.code) == ("transforms/events.py", 3,
                                                          "missing_import")
    assert "not_an_installed_package_xyz" in problem.message


def test_compile_never_runs_the_module(make_project, tmp_path):
    marker = tmp_path / "ran"
    path = project(make_project, **{
        "transforms/events.py": f"""
            open({str(marker)!r}, "w").close()
            def deduplicate(df):
                return df
        """,
        "nodes/clean_events.yml": node_with_python("transforms.events:deduplicate"),
    })
    compile_project(ProjectOptions(project_dir=path), write_artifacts=False)
    assert not marker.exists()


def test_args_checked_against_the_signature(make_project, tauro):
    path = project(make_project, **{
        "transforms/events.py": """
            def scale(df, factor, column="x", *, spark=None):
                return df
        """,
        "nodes/clean_events.yml": node_with_python(
            "transforms.events:scale", "    args: {colum: y}"),
    })
    found = {p.message: p for p in problems(path)}
    unknown = found["transforms.events:scale takes no argument 'colum'"]
    assert unknown.field == "transforms.0.args.colum" and unknown.hint == \
        "did you mean 'column'?"
    missing = found["transforms.events:scale needs argument 'factor'"]
    assert missing.expected == "`factor` in args"
    assert len(found) == 2
    cli_fails(tauro, path)


def test_args_accepted_by_kwargs_and_spark_injected(make_project, tauro):
    path = project(make_project, **{
        "transforms/events.py": """
            def scale(df, spark, **options):
                return df
        """,
        "nodes/clean_events.yml": node_with_python(
            "transforms.events:scale", "    args: {anything: 1}"),
    })
    result = tauro("compile", "--project-dir", path)
    assert result.exit_code == 0, result.output


# -- 4. no cascades -------------------------------------------------------------------------

def test_downstream_of_a_broken_file_is_not_an_unknown_ref(make_project, tauro):
    path = project(make_project, **{"nodes/raw_events.yml": """
        input: {source: landing}
        output: {format: console
    """})
    problem = only(problems(path))
    assert problem.file == "nodes/raw_events.yml"
    assert "unknown ref" not in cli_fails(tauro, path)


def test_downstream_of_a_broken_template_is_not_an_unknown_ref(make_project):
    path = project(make_project, **{
        "nodes/raw_events.yml": """
            name: raw_events
            input: {source: landing}
            output: {format: delta, path: "{{ nope }}"}
        """,
        "nodes/clean_events.yml": """
            input: {ref: raw_events}
            transforms:
              - sql: "SELECT * FROM {{ input }} JOIN {{ ref('raw_events') }}"
            output: {format: delta, path: wh/clean}
        """,
    })
    assert only(problems(path)).file == "nodes/raw_events.yml"


# -- 5. placeholders and templates ----------------------------------------------------------

def test_input_outside_a_sql_step(make_project, tauro):
    path = project(make_project, **{"nodes/clean_events.yml": """
        input: {ref: raw_events}
        transforms:
          - sql: "SELECT * FROM {{ input }}"
        output: {format: delta, path: "wh/{{ input }}"}
    """})
    problem = only(problems(path))
    assert (problem.line, problem.field, problem.code) == (4, "output.path",
                                                           "input_outside_sql")
    assert "only meaningful in a sql transform" in cli_fails(tauro, path)


def test_sql_step_without_input(make_project):
    path = project(make_project, **{"nodes/clean_events.yml": """
        input: {ref: raw_events}
        transforms:
          - sql: "SELECT * FROM {{ input }}"
          - sql: "SELECT 1 AS one"
        output: {format: delta, path: wh/clean}
    """})
    problem = only(problems(path))
    assert (problem.line, problem.field, problem.code) == (4, "transforms.1.sql",
                                                           "sql_without_input")
    assert "{{ input }}" in problem.hint


@pytest.mark.parametrize("tag", ["{% include 'x.sql' %}", "{% import 'm.jinja' as m %}",
                                 "{% from 'm.jinja' import f %}", "{% extends 'base.yml' %}"])
def test_include_import_extends_say_use_a_macro(make_project, tauro, tag):
    path = project(make_project, **{"nodes/clean_events.yml": f"""
        input: {{ref: raw_events}}
        # {tag.split()[1]} is not how to share code
        output: {{format: delta, path: wh/clean}}
        {tag}
    """})
    problem = only(problems(path))
    assert problem.message == (f"{{% {tag.split()[1]} %}} is not supported in project files: "
                               "use a macro from macros/")
    assert (problem.file, problem.line) == ("nodes/clean_events.yml", 4)
    assert "no loader" not in cli_fails(tauro, path)


def test_tab_indentation_says_tab(make_project, tauro):
    path = project(make_project)
    (path / "nodes/raw_events.yml").write_text(
        "input:\n\tsource: landing\noutput: {format: console}\n")
    problem = only(problems(path))
    assert (problem.line, problem.code) == (2, "yaml_tab")
    assert "tab" in problem.message
    cli_fails(tauro, path)


def test_empty_node_file_is_reported_with_how_to_disable(make_project, tauro):
    path = project(make_project, **{"nodes/empty.yml": "# todo\n\n"})
    problem = only(problems(path))
    assert (problem.file, problem.code) == ("nodes/empty.yml", "empty_node_file")
    assert "{% if" in problem.hint
    cli_fails(tauro, path)


def test_a_node_rendered_to_nothing_is_disabled_not_an_error(make_project, tauro):
    path = project(make_project, **{"nodes/prod_only.yml": """
        {% if target.name == 'prod' %}
        input: {source: landing}
        output: {format: console}
        {% endif %}
    """})
    result = tauro("compile", "--project-dir", path)
    assert result.exit_code == 0, result.output


# -- 8. where a name came from -----------------------------------------------------------------

def test_unknown_profile_from_the_environment_says_so(make_project, tauro):
    path = project(make_project)
    err = cli_fails(tauro, path, env={"TAURO_PROFILE": "prd"})
    assert "unknown profile 'prd' (from $TAURO_PROFILE)" in err
    assert "did you mean 'prod'?" in err
    err = cli_fails(tauro, path, "--profile", "prd")
    assert "(from --profile)" in err


# -- 6. values with a meaning Spark defines ------------------------------------------------------

def file_node(options: str = "{}", schema: str = "id BIGINT, name STRING") -> str:
    return f"""
        input:
          format: file_stream
          path: landing
          file_format: json
          schema: "{schema}"
          options: {options}
        output: {{format: console}}
    """


def test_ddl_schema_with_an_unknown_type_is_located(make_project, tauro):
    path = project(make_project, **{"nodes/files.yml": file_node(schema="id BIGINT, p DOUBEL")})
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.field) == ("nodes/files.yml", 5, "input.schema")
    assert "unknown type 'DOUBEL'" in problem.message and "character 14" in problem.message
    assert "did you mean 'double'?" in problem.message
    cli_fails(tauro, path)


def test_kafka_json_schema_syntax_error(make_project):
    path = project(make_project, **{"nodes/k.yml": """
        input:
          format: kafka
          options: {kafka.bootstrap.servers: "b:9092", subscribe: t}
          parse_json: true
          json_schema: "a ARRAY<INT, b STRING"
        output: {format: console}
    """})
    problem = only(problems(path))
    assert problem.field == "input.json_schema" and "expected '>'" in problem.message


@pytest.mark.parametrize(("options", "field", "expected"), [
    ("{maxFilesPerTrigger: 0}", "input.options.maxFilesPerTrigger", "a positive integer"),
    ("{latestFirst: 'yes'}", "input.options.latestFirst", "true or false"),
    ("{cleanSource: move}", "input.options.cleanSource", "one of: archive, delete, off"),
    ("{cleanSource: archive}", "input.options.sourceArchiveDir",
     "a directory to move processed files to"),
])
def test_file_source_option_values(make_project, options, field, expected):
    path = project(make_project, **{"nodes/files.yml": file_node(options)})
    problem = only(problems(path))
    assert (problem.field, problem.expected) == (field, expected)


@pytest.mark.parametrize(("option", "expected"), [
    ("startingOffsets: earlest", "earliest or latest"),
    ("maxOffsetsPerTrigger: -5", "a positive integer"),
    ("failOnDataLoss: nope", "true or false"),
    ("kafka.security.protocol: SASL", "one of: PLAINTEXT"),
    ("endingOffsets: latest", "no such option"),
    ("kafka.auto.offset.reset: earliest", "no such option"),
])
def test_kafka_option_values(make_project, tauro, option, expected):
    path = project(make_project, **{"nodes/k.yml": f"""
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "b:9092"
            subscribe: t
            {option}
        output: {{format: console}}
    """})
    problem = only(problems(path))
    assert problem.expected.startswith(expected) and problem.line == 6
    cli_fails(tauro, path)


def test_valid_option_values_pass(make_project, tauro):
    path = project(make_project, **{"nodes/k.yml": """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "b:9092"
            subscribe: t
            startingOffsets: '{"t": {"0": 23, "1": -2}}'
            maxOffsetsPerTrigger: 1000
            failOnDataLoss: "False"
            kafka.security.protocol: sasl_ssl
        output: {format: console}
    """})
    result = tauro("compile", "--project-dir", path)
    assert result.exit_code == 0, result.output


def test_unknown_option_name_is_a_warning_with_did_you_mean(make_project, tauro):
    path = project(make_project, **{"nodes/files.yml": file_node("{maxFilesPerTriger: 1}")})
    result = tauro("compile", "--project-dir", path)
    assert result.exit_code == 0, result.output
    assert "Warning: nodes/files.yml:6" in result.stderr
    assert "did you mean 'maxFilesPerTrigger'?" in result.stderr


# -- 7. every profile counts ----------------------------------------------------------------------

def test_a_node_value_hidden_by_the_profile_is_still_reported(make_project, tauro):
    path = project(make_project, **{
        "profiles.yml": """
            profiles:
              dev:
                paths: {warehouse: wh, checkpoints: chk}
                nodes:
                  "*": {streaming: {trigger: {type: available_now}}}
        """,
        "nodes/raw_events.yml": """
            input: {source: landing}
            output: {format: delta, path: wh/raw}
            streaming:
              trigger: {type: processing_time, interval: "30 secnds"}
        """,
    })
    problem = only(problems(path))
    assert (problem.file, problem.line) == ("nodes/raw_events.yml", 4)
    assert problem.field == "streaming.trigger.interval"
    assert "profile 'dev' overrides it" in problem.message
    cli_fails(tauro, path)


def test_a_hidden_option_value_is_still_reported(make_project):
    path = project(make_project, **{
        "profiles.yml": """
            profiles:
              dev:
                paths: {warehouse: wh, checkpoints: chk}
                nodes:
                  k: {input: {options: {startingOffsets: latest}}}
        """,
        "nodes/k.yml": """
            input:
              format: kafka
              options: {kafka.bootstrap.servers: "b:9092", subscribe: t, startingOffsets: earlest}
            output: {format: console}
        """,
    })
    problem = only(problems(path))
    assert problem.field == "input.options.startingOffsets" and problem.line == 3


def test_all_profiles_reports_each_profiles_problems_once(make_project, tauro):
    path = project(make_project, **{
        "profiles.yml": """
            profiles:
              dev:
                paths: {warehouse: wh, checkpoints: chk, landing: land}
              prod:
                paths: {warehouse: /prod/wh, checkpoints: /prod/chk}
              staging:
                paths: {warehouse: /s/wh, checkpoints: /s/chk}
        """,
        "nodes/files.yml": """
            input:
              format: file_stream
              path: "{{ target.paths.landing }}/events"
              file_format: text
            output: {format: console}
        """,
    })
    assert tauro("compile", "--project-dir", path).exit_code == 0
    import shutil

    shutil.rmtree(path / "target")
    err = cli_fails(tauro, path, "--all-profiles")
    assert "(profiles prod, staging)" in err
    assert err.count("has no attribute 'landing'") == 1    # once, naming both profiles
    assert not (path / "target" / "manifest.json").exists()


def test_all_profiles_passes_on_the_example_project(tauro):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "example_project"
    result = tauro("compile", "--project-dir", example, "--all-profiles")
    assert result.exit_code == 0, result.output
    assert "All 2 profiles compile" in result.stdout


def test_input_in_a_declared_source(make_project, tauro):
    path = project(make_project, **{"tauro_project.yml": """
        name: shop
        profile: dev
        sources:
          landing:
            format: rate
            options: {rowsPerSecond: "{{ input }}"}
    """})
    problem = only(problems(path))
    assert (problem.file, problem.line, problem.field) == (
        "tauro_project.yml", 6, "sources.landing.options.rowsPerSecond")
    assert problem.code == "input_outside_sql"
    assert "unknown source" not in cli_fails(tauro, path)


def test_unknown_output_option_name_is_a_warning(make_project, tauro):
    path = project(make_project, **{"nodes/raw_events.yml": """
        input: {source: landing}
        output:
          format: delta
          path: wh/raw
          options: {mergeSchemas: "true"}
    """})
    result = tauro("compile", "--project-dir", path)
    assert result.exit_code == 0, result.output
    assert "Warning: nodes/raw_events.yml:5" in result.stderr
    assert "did you mean 'mergeSchema'?" in result.stderr
