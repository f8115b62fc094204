"""YAML loading (same values as PyYAML's safe loader) and field-path line lookups."""

from __future__ import annotations

import datetime

import pytest
import yaml

from tauro_compile.compiler.yaml_source import (
    LineIndex,
    YamlSyntaxError,
    first_content_line,
    load_yaml,
)

DOCUMENTS = [
    "a: 1\nb: [1, 2.5, true, null, 2024-01-01, '007', x]\n",
    "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n",      # merge keys take the full constructor
    "s: !!set {a, b}\n",
    "a: &x [1, {k: v}]\nb: *x\n",
    "just a string\n",
    "- 1\n- two\n",
    "",
    "# only a comment\n",
    # keys and values of every kind, inline strings next to other scalars and containers
    "'1': one\n1: int\nnull: ~\n'q': \"v\"\nl: [a, '2', 2, [b]]\n"
    "m: {k: v, 'n': 3}\nt: !!str 5\nbin: !!binary aGk=\nx: 1.5\n",
    "? [a]\n: a sequence key (unhashable)\n",
    "- {<<: {a: 1}, b: 2}\n- [x, {y: z}]\n",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_values_match_the_safe_loader(text):
    try:
        expected = yaml.safe_load(text)
    except yaml.constructor.ConstructorError:  # an unhashable (sequence) key
        with pytest.raises(YamlSyntaxError):
            load_yaml(text)
        return
    assert load_yaml(text) == expected


def test_scalar_types():
    data = load_yaml("d: 2024-01-02\nb: yes\nn: ~\nf: 1e3\ns: '1'\n")
    assert data == {"d": datetime.date(2024, 1, 2), "b": True, "n": None, "f": "1e3", "s": "1"}


@pytest.mark.parametrize("text, line", [
    ("a: [1\nb: 2\n", 2),
    ("a: 1\n  b: 2\n", 2),
    ("a: !custom 1\n", 1),
    ("a: {{ x }}\n", None),  # an unquoted template left unrendered: unhashable key
])
def test_syntax_errors_carry_lines(text, line):
    with pytest.raises(YamlSyntaxError) as caught:
        load_yaml(text)
    assert caught.value.line == line


def test_line_index():
    text = "# c\nname: a\ninput:\n  format: kafka\n  options:\n    kafka.bootstrap.servers: h\n" \
           "transforms:\n  - sql: x\n  - python: m:f\n"
    index = LineIndex(text)
    assert index.line_of(()) == 2
    assert index.line_of(("input", "options", "kafka.bootstrap.servers")) == 6
    assert index.line_of(("transforms", 1, "python")) == 9
    assert index.line_of(("input", "options", "subscribe")) == 5  # deepest existing part
    assert index.exact_line_of(("input", "options", "subscribe")) is None
    assert LineIndex("a: [").line_of(("a",)) is None


def test_first_content_line():
    assert first_content_line("\n# comment\n---\nname: x\n") == 4
    assert first_content_line("") == 1
