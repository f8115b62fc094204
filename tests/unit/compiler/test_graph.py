"""NodeGraph: stable ordering, cycles as paths, depth-limited traversal, diagrams."""

from __future__ import annotations

import pytest

from tauro_compile.compiler.graph import GraphCycleError, NodeGraph


def diamond() -> NodeGraph:
    #   src -> b_left  -> sink
    #   src -> a_right -> sink        other (isolated)
    return NodeGraph(
        ["sink", "src", "b_left", "a_right", "other"],
        [("src", "b_left"), ("src", "a_right"), ("b_left", "sink"), ("a_right", "sink")],
    )


def chain(n: int) -> NodeGraph:
    names = [f"n{i}" for i in range(n)]
    return NodeGraph(names, list(zip(names, names[1:], strict=False)))


def test_nodes_sorted_and_edges_to_unknown_nodes_dropped():
    g = NodeGraph(["b", "a"], [("a", "b"), ("a", "ghost"), ("ghost", "b")])
    assert g.nodes == ["a", "b"]
    assert g.edges == [("a", "b")]
    assert "ghost" not in g


def test_parents_and_children_sorted():
    g = diamond()
    assert g.parents("sink") == ["a_right", "b_left"]
    assert g.children("src") == ["a_right", "b_left"]
    assert g.parents("src") == []


def test_generations_break_ties_by_name():
    assert diamond().generations() == [["other", "src"], ["a_right", "b_left"], ["sink"]]
    assert diamond().topological_order() == ["other", "src", "a_right", "b_left", "sink"]


def test_generations_independent_of_insertion_order():
    edges = [("src", "b_left"), ("src", "a_right"), ("b_left", "sink"), ("a_right", "sink")]
    g = NodeGraph(["other", "a_right", "b_left", "src", "sink"], list(reversed(edges)))
    assert g.generations() == diamond().generations()


def test_node_waits_for_its_deepest_parent():
    g = NodeGraph(["a", "b", "c"], [("a", "b"), ("b", "c"), ("a", "c")])
    assert g.generations() == [["a"], ["b"], ["c"]]


def test_ancestors_and_descendants_unbounded():
    g = chain(5)
    assert g.ancestors("n3") == {"n0", "n1", "n2"}
    assert g.descendants("n1") == {"n2", "n3", "n4"}
    assert g.ancestors("n0") == set()


def test_depth_limited_ancestors_and_descendants():
    g = chain(5)
    assert g.ancestors("n4", depth=1) == {"n3"}
    assert g.ancestors("n4", depth=2) == {"n3", "n2"}
    assert g.ancestors("n4", depth=0) == set()
    assert g.ancestors("n4", depth=10) == {"n0", "n1", "n2", "n3"}
    assert g.descendants("n0", depth=2) == {"n1", "n2"}


def test_depth_counts_shortest_path():
    # a -> b -> c -> d and a shortcut a -> d: d is one step from a.
    g = NodeGraph("abcd", [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")])
    assert g.ancestors("d", depth=1) == {"c", "a"}


def test_subgraph_keeps_only_internal_edges():
    sub = diamond().subgraph(["src", "b_left", "sink", "unknown"])
    assert sub.nodes == ["b_left", "sink", "src"]
    assert sub.edges == [("b_left", "sink"), ("src", "b_left")]


def test_no_cycle():
    assert diamond().find_cycle() is None


def test_cycle_path_starts_at_smallest_name():
    g = NodeGraph(["c", "a", "b", "d"], [("b", "c"), ("c", "a"), ("a", "b"), ("d", "a")])
    assert g.find_cycle() == ["a", "b", "c", "a"]


def test_self_loop_is_a_cycle():
    assert NodeGraph(["a"], [("a", "a")]).find_cycle() == ["a", "a"]


def test_generations_of_cyclic_graph_raise_with_path():
    g = NodeGraph(["x", "y"], [("x", "y"), ("y", "x")])
    with pytest.raises(GraphCycleError) as info:
        g.generations()
    assert info.value.cycle == ["x", "y", "x"]
    assert "x --> y --> x" in str(info.value)


def test_mermaid_with_labels_and_unsafe_names():
    g = NodeGraph(["raw", "my-node", "end"], [("raw", "my-node"), ("my-node", "end")])
    text = g.to_mermaid({"raw": 'raw\n"delta"'})
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert '    raw["raw<br/>#quot;delta#quot;"]' in lines
    # ids for names mermaid cannot take are generated, labels keep the real name
    assert '    node_0["end"]' in lines
    assert '    node_1["my-node"]' in lines
    assert "    raw --> node_1" in lines
    assert "    node_1 --> node_0" in lines


def test_mermaid_generated_ids_never_clash_with_real_names():
    g = NodeGraph(["node_0", "a-b"], [("a-b", "node_0")])
    assert "    node_1 --> node_0" in g.to_mermaid().splitlines()


def test_dot_quotes_and_escapes():
    g = NodeGraph(["a", 'b"q'], [("a", 'b"q')])
    text = g.to_dot({"a": "a\ndelta"})
    assert text.startswith("digraph tauro {")
    assert text.rstrip().endswith("}")
    assert '    "a" [label="a\\ndelta"];' in text
    assert '    "a" -> "b\\"q";' in text


def test_one_ordering_rule_for_compiler_supervisor_and_library() -> None:
    """NodeGraph's generations are the core's `topological_generations` (ties by name)."""
    from tauro_compile.streaming.plan import CycleError, topological_generations

    depends_on = {"gold": ["silver"], "silver": ["bronze", "outside"], "bronze": [], "aux": []}
    assert topological_generations(depends_on) == [["aux", "bronze"], ["silver"], ["gold"]]
    graph = NodeGraph(depends_on, [(up, down) for down, ups in depends_on.items() for up in ups])
    assert graph.generations() == topological_generations(depends_on)
    with pytest.raises(CycleError) as info:
        topological_generations({"b": ["a"], "a": ["c"], "c": ["b"], "d": []})
    assert info.value.cycle == ["a", "b", "c", "a"]  # a feeds b feeds c feeds a
