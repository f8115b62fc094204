"""The Jinja context of node files, the sandbox, and exact problem lines."""

from __future__ import annotations

import pytest

from tauro_compile.compiler.rendering import INPUT_TEXT, Renderer, ref_token, source_token


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(
        variables={"threshold": 3, "columns": ["a", "b"]},
        project={"name": "shop", "version": "1.0", "vars": {"threshold": 3}},
        target={"name": "dev", "paths": {"warehouse": "/wh"}, "vars": {}, "spark": {}},
        sources=["landing"],
        environ={"BROKERS": "b:9092"},
    )


def test_context_functions(renderer):
    text = (
        "a: {{ var('threshold') }} {{ var('missing', 'dflt') }}\n"
        "b: {{ env_var('BROKERS') }} {{ env_var('UNSET', 'x') }}\n"
        "c: {{ target.paths.warehouse }} {{ target.name }} {{ project.name }}\n"
        "d: {{ secret('KAFKA_PW') }}\n"
        "e: {{ ref('raw') }} {{ source('landing') }}\n"
        "f: SELECT * FROM {{ input }}\n"
    )
    result = renderer.render("nodes/x.yml", text)
    assert result.problems == []
    assert result.text.splitlines() == [
        "a: 3 dflt", "b: b:9092 x", "c: /wh dev shop", "d: ${secret:KAFKA_PW}",
        f"e: {ref_token('raw')} {source_token('landing')}", f"f: SELECT * FROM {INPUT_TEXT}",
    ]
    assert result.refs == ["raw"] and result.sources == ["landing"]
    assert result.env_values == {"BROKERS": "b:9092"}  # defaults are not environment values


def test_text_without_jinja_is_returned_as_is(renderer):
    text = "input: {format: rate}\n"
    assert renderer.render("nodes/x.yml", text).text is text


def test_problems_carry_the_exact_line_even_on_the_fast_path(renderer):
    text = "a: 1\nb: {{ var('nope') }}\nc: 2\nd: {{ env_var('UNSET_X') }} {{ source('landig') }}\n"
    result = renderer.render("nodes/x.yml", text)
    assert result.text is None
    assert [(p.line, p.code) for p in result.problems] == [
        (2, "undefined_var"), (4, "undefined_env_var"), (4, "unknown_source")]
    assert result.problems[2].hint == "did you mean 'landing'?"
    assert all(p.file == "nodes/x.yml" for p in result.problems)


@pytest.mark.parametrize("template, code", [
    ("{{ ''.__class__.__mro__ }}", "sandbox"),
    ("{{ cycler.__init__.__globals__ }}", "sandbox"),
    ("{{ target.paths.update({'a': 1}) }}", "sandbox"),  # immutable: no mutation either
    ("{{ undefined_thing }}", "undefined"),
    ("{{ target.nope.deeper }}", "undefined"),
    ("{{ 1 / 0 }}", "template_error"),
    ("{% for %}", "jinja_syntax"),
])
def test_template_failures_are_problems_not_crashes(renderer, template, code):
    result = renderer.render("nodes/x.yml", f"a: 1\nb: {template}\n")
    assert result.text is None
    assert [(p.line, p.code) for p in result.problems] == [(2, code)]


def test_macros_are_global_and_report_their_own_file(renderer):
    problems = renderer.load_macros([
        ("macros/a.jinja", "{% macro pos(c) %}{{ c }} > {{ var('threshold') }}{% endmacro %}"),
        ("macros/b.sql", "\n{% macro bad() %}{{ var('nope') }}{% endmacro %}"),
    ])
    assert problems == []
    assert renderer.render("n.yml", "w: {{ pos('x') }}\n").text == "w: x > 3\n"
    result = renderer.render("n.yml", "a: 1\nw: {{ bad() }}\n")
    assert [(p.file, p.line) for p in result.problems] == [("macros/b.sql", 2)]


def test_macros_loaded_after_a_render_reach_its_skeleton(renderer):
    """Skeleton templates copy the globals: loading macros must not leave them stale (the
    exact path would still render right, so the fast path is asked directly)."""
    before = renderer.render("n.yml", "w: {{ pos('x') }}\n")
    assert before.text is None and before.problems[0].code == "undefined"
    renderer.load_macros([("macros/a.jinja", "{% macro pos(c) %}{{ c }}!{% endmacro %}")])
    assert renderer.render("n.yml", "w: {{ pos('y') }}\n").text == "w: y!\n"
    fast = renderer._render_fast("n.yml", "w: {{ pos('z') }}\n", True)
    assert fast is not None and fast.text == "w: z!\n"


def test_duplicate_macro_names(renderer):
    problems = renderer.load_macros([
        ("macros/a.jinja", "{% macro m() %}1{% endmacro %}"),
        ("macros/b.jinja", "{% macro m() %}2{% endmacro %}"),
    ])
    assert [(p.file, p.code) for p in problems] == [("macros/b.jinja", "duplicate_macro")]


def test_ref_can_be_refused(renderer):
    result = renderer.render_value("{{ ref('x') }}", "tauro_project.yml")
    assert result.text is None and "ref() cannot be used here" in result.problems[0].message


def test_renders_agree_across_the_shared_skeleton(renderer):
    """Two files with one structure render through one compiled skeleton, each correctly."""
    one = renderer.render("a.yml", "name: a\nsql: {{ ref('up_a') }} > {{ 1 }}\n")
    two = renderer.render("b.yml", "name: bee\nsql: {{ ref('up_b') }} > {{ 22 }}\n")
    assert one.text == f"name: a\nsql: {ref_token('up_a')} > 1\n"
    assert two.text == f"name: bee\nsql: {ref_token('up_b')} > 22\n"
    assert len(renderer._skeletons) == 1


def test_secret_needs_a_variable_name(renderer):
    result = renderer.render("n.yml", "a: {{ secret('not a name') }}\n")
    assert [(p.line, p.found) for p in result.problems] == [(1, "'not a name'")]
