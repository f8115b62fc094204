"""Template skeletons render exactly like the original templates, and share compiled code."""

from __future__ import annotations

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tauro_compile.compiler import skeleton

CONTEXT = {"var": lambda name, default=None: {"a": 1, "cols": ["x", "y"]}.get(name, default),
           "items": [10, 20], "name": "n", "flag": True, "input": "{{ input }}"}

TEMPLATES = [
    "plain: text\n",
    "a: {{ var('a') }}\nb: {{ name }}\n",
    "t: [{% for t in ['a','b'] %}{{ t }}{% if not loop.last %}, {% endif %}{% endfor %}]\n",
    "x:  {{- ' y' -}}   z\n  {#- c -#}  \nq: {% raw %}{{ keep }} {% if %}{% endraw %}\n",
    "sql: \"SELECT * FROM {{ input }} WHERE v > {{ 3 * 2 }} AND w = {{ 1.5e3 }}\"\n",
    "{% if var('flag', true) %}\nk: 1\n{% else %}\nk: 2\n{% endif %}\n",
    "a: {{ \"}}\" }} {{ '{%' }} {{ 'it\\'s' if false else \"it's\" }}\n",
    "a: {{ items.0 }} {{ items[1] }} {{ 17 % 5 }} {{ 1_000 }}\n",
    "{% set x %}hello {{ 'w' }}{% endset %}a: {{ x | upper }}\n",
    "{% macro m(v='d') %}<{{ v }}>{% endmacro %}a: {{ m() }}{{ m('e') }}\n",
    "a: {{ '\\n\\t\\u00e9' | length }} {{ 'x' ~ \"y\" }}\n",
    "{% for c in var('cols') -%}\n  - {{ c }}\n{%- endfor %}\n",
    "{# only a comment #}\nkey: value  {# trailing #}\n",
    "a: {{ 'a' 'b' }}\n",  # adjacent constants concatenate: the skeleton cannot, falls back
    "no trailing newline {{ name }}",
]


@pytest.fixture(scope="module")
def env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)


@pytest.mark.parametrize("source", TEMPLATES)
def test_skeleton_renders_like_the_original(env, source):
    expected = env.from_string(source).render(CONTEXT)
    parts = skeleton.split(source)
    if parts is None:
        return  # the caller renders the original; nothing to compare
    try:
        template = env.from_string(parts.text)
    except Exception:  # noqa: BLE001 - a skeleton that does not compile also falls back
        return
    assert template.render({**CONTEXT, **parts.values()}) == expected


def test_every_template_but_adjacent_constants_takes_the_fast_path(env):
    slow = []
    for source in TEMPLATES:
        parts = skeleton.split(source)
        try:
            env.from_string(parts.text) if parts else slow.append(source)
        except Exception:  # noqa: BLE001
            slow.append(source)
    assert slow == ["a: {{ 'a' 'b' }}\n"]


def test_files_differing_in_text_strings_and_numbers_share_one_skeleton():
    first = skeleton.split("name: a\nx: {{ ref('up_1') }} {% if 3 % 2 == 0 %}even{% endif %}\n")
    second = skeleton.split("name: bb\nx: {{ ref('up_22') }} {% if 4 % 2 == 0 %}even{% endif %}\n")
    assert first is not None and second is not None
    assert first.text == second.text
    assert first.data != second.data and first.constants != second.constants


@pytest.mark.parametrize("source", [
    "a: {{ {'k': 1}['k'] }}\n",            # braces inside {{ }}
    "a: {%- raw %}{{ x }}{% endraw %}\n",  # whitespace control on raw
    "a: {{ unclosed\n",                    # an opener the splitter does not understand
    "a: {% if x %}{{ y \n",
])
def test_unsure_cases_fall_back(source):
    assert skeleton.split(source) is None


def test_unclosed_tags_do_not_backtrack_forever():
    import time

    start = time.perf_counter()
    assert skeleton.split("{{ " + "a 'b " * 5000) is None
    assert skeleton.split("{% " + "x \"y " * 5000) is None
    assert time.perf_counter() - start < 1.0


def test_has_jinja():
    assert not skeleton.has_jinja("a: {b: 1}\n")
    assert skeleton.has_jinja("a: {{ b }}") and skeleton.has_jinja("{# c #}")
