"""Which layer wrote a field path, and moving problems to the layer's file and line."""

from __future__ import annotations

from tauro_compile.compiler.provenance import Layer, field_path, leaves, origin, relocate, writes
from tauro_compile.errors import Problem


def layer(kind, label, file, data, line=1):
    return Layer(kind, label, file, data, lambda path: (line, "source"))


NODE = layer("node file", "node file", "nodes/a.yml", {
    "streaming": {"trigger": {"type": "processing_time", "interval": "1 minute"},
                  "output_mode": "append"},
    "tags": ["a", "b"]}, line=3)
STAR = layer("profile", 'profile \'dev\' nodes."*"', "profiles.yml",
             {"streaming": {"trigger": {"type": "available_now"}}}, line=12)


def test_a_layer_writes_a_path_itself_or_through_a_prefix_replaced_whole():
    assert writes(NODE.data, ("streaming", "output_mode"))
    assert not writes(NODE.data, ("streaming", "pool"))
    # merge.py replaces a trigger whole: the override also decides the interval (unset)
    assert writes(STAR.data, ("streaming", "trigger", "interval"))
    assert writes(NODE.data, ("tags", 1))           # lists are replaced whole
    assert not writes(STAR.data, ("tags",))


def test_origin_is_the_last_layer_that_writes_the_path():
    layers = [NODE, STAR]
    assert origin(layers, ("streaming", "trigger", "type")) is STAR
    assert origin(layers, ("streaming", "trigger", "interval")) is STAR
    assert origin(layers, ("streaming", "output_mode")) is NODE
    assert origin(layers, ("output", "mode")) is None


def test_field_path_parses_indexes_and_keeps_option_keys_whole():
    assert field_path("transforms[1].python") == ("transforms", 1, "python")
    assert field_path("input.options.kafka.bootstrap.servers") == (
        "input", "options", "kafka.bootstrap.servers")
    assert field_path("streaming.trigger.type") == ("streaming", "trigger", "type")


def test_relocate_moves_profile_set_problems_and_merges_nodes():
    def problem(node, field):
        return Problem("bad", file=f"nodes/{node}.yml", line=3, field=field, node=node,
                       found="x")

    layers = {"a": [NODE, STAR], "b": [NODE, STAR]}
    moved = relocate([problem("a", "streaming.trigger.type"),
                      problem("b", "streaming.trigger.type"),
                      problem("a", "streaming.output_mode")], layers.__getitem__)
    assert [(p.file, p.line) for p in moved] == [("profiles.yml", 12), ("nodes/a.yml", 3)]
    assert moved[0].message == 'bad (set by profile \'dev\' nodes."*", for nodes a, b)'
    kept = relocate([problem("a", "streaming.trigger.type")], layers.__getitem__,
                    keep=lambda p: True)
    assert kept[0].file == "nodes/a.yml"


def test_leaves_flattens_mappings_and_lists_of_mappings():
    assert leaves({"a": {"b": 1, "c": []}, "t": [{"sql": "x"}], "e": {}}) == [
        (("a", "b"), 1), (("a", "c"), []), (("t", 0, "sql"), "x"), (("e",), {})]
