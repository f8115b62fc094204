"""The merge rule of profile extends, node overrides and project defaults."""

from __future__ import annotations

from tauro_compile.streaming.merge import deep_merge


def test_mappings_merge_lists_and_scalars_replace():
    base = {"spark": {"master": "local[2]", "conf": {"a": "1", "b": "2"}}, "tags": ["x"], "n": 1}
    override = {"spark": {"conf": {"b": "3"}}, "tags": ["y"], "n": 2}
    assert deep_merge(base, override) == {
        "spark": {"master": "local[2]", "conf": {"a": "1", "b": "3"}}, "tags": ["y"], "n": 2}


def test_trigger_is_replaced_whole():
    node = {"streaming": {"trigger": {"type": "processing_time", "interval": "1 minute"},
                          "output_mode": "append"}}
    dev = {"streaming": {"trigger": {"type": "available_now"}}}
    assert deep_merge(node, dev) == {"streaming": {"trigger": {"type": "available_now"},
                                                   "output_mode": "append"}}


def test_inputs_are_not_mutated():
    base = {"a": {"b": {"c": 1}}}
    override = {"a": {"b": {"d": 2}}}
    merged = deep_merge(base, override)
    assert base == {"a": {"b": {"c": 1}}} and override == {"a": {"b": {"d": 2}}}
    assert merged == {"a": {"b": {"c": 1, "d": 2}}}
