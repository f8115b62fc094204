"""pydantic errors become located problems with did-you-mean hints."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tauro_compile.compiler.models import NodeSpec
from tauro_compile.compiler.problems import field_path_text, split_field, validation_problems


def problems_for(data):
    with pytest.raises(ValidationError) as caught:
        NodeSpec.model_validate(data)
    return validation_problems(caught.value, NodeSpec, file="n.yml",
                               locate=lambda path: (len(path), "source"))


NODE = {"name": "n", "input": {"format": "rate"}, "output": {"format": "console"}}


def test_unknown_nested_field_suggests_the_right_one():
    found = problems_for({**NODE, "output": {"format": "console", "optoins": {}}})
    assert [(p.field, p.hint, p.line) for p in found] == [
        ("output.optoins", "did you mean 'options'?", 2)]
    assert "partition_by" in found[0].expected


def test_unknown_field_in_a_list_item_and_in_a_dict_value():
    found = problems_for({**NODE, "transforms": [{"sql": "x"}, {"pyton": "m:f"}]})
    assert [(p.field, p.hint) for p in found] == [("transforms[1].pyton",
                                                   "did you mean 'python'?")]
    found = problems_for({**NODE, "input": {"format": "rate", "watermark": {"colum": "t",
                                                                            "delay": "1 s"}}})
    by_field = {p.field: p for p in found}
    assert by_field["input.watermark.colum"].hint == "did you mean 'column'?"
    assert by_field["input.watermark.column"].message == "missing required field 'column'"


def test_alias_names_are_suggested():
    found = problems_for({**NODE, "input": {"format": "rate", "shema": "a INT"}})
    assert found[0].hint == "did you mean 'schema'?"


def test_union_errors_become_one_problem():
    found = problems_for({**NODE, "output": {"format": "console", "options": {"k": [1, 2]}}})
    assert len(found) == 1
    assert found[0].field == "output.options.k" and found[0].message == "wrong type"
    assert found[0].expected == "a string or an integer or a number or true or false"


def test_intervals_and_missing_fields():
    found = problems_for({"name": "n", "output": {"format": "console"},
                          "streaming": {"trigger": {"interval": "ten seconds"}}})
    by_field = {p.field: p for p in found}
    assert by_field["input"].message == "missing required field 'input'"
    interval = by_field["streaming.trigger.interval"]
    assert interval.found == "ten seconds" and "30 seconds" in interval.expected


def test_field_paths():
    assert field_path_text(("transforms", 1, "python")) == "transforms[1].python"
    assert split_field("input.options.kafka.bootstrap.servers") == (
        "input", "options", "kafka.bootstrap.servers")
    assert split_field("streaming.trigger.type") == ("streaming", "trigger", "type")
