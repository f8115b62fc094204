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


# The graph keeps its own dicts; networkx (a dependency still) is the reference it must match.
def _random_graphs() -> list[tuple[list[str], list[tuple[str, str]]]]:
    import random

    rng = random.Random(7)
    graphs = []
    for size in (1, 2, 5, 12, 30):
        names = [f"n{rng.randrange(1000):03d}" for _ in range(size)]
        edges = [(rng.choice(names), rng.choice(names)) for _ in range(size * 2)]
        graphs.append((names, edges))                                            # cycles likely
        graphs.append((names, [(a, b) for a, b in edges if a < b]))              # a DAG
    graphs.append((["a", "b", "c", "d"], [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"),
                                          ("d", "d"), ("a", "ghost")]))
    return graphs


@pytest.mark.parametrize(("names", "edges"), _random_graphs())
def test_matches_networkx(names, edges):
    import networkx as nx

    graph = NodeGraph(names, edges)
    reference: nx.DiGraph = nx.DiGraph()
    reference.add_nodes_from(sorted(set(names)))
    reference.add_edges_from(sorted((a, b) for a, b in set(edges)
                                    if a in reference and b in reference))
    assert graph.nodes == sorted(reference.nodes)
    assert graph.edges == sorted(reference.edges)
    assert len(graph) == reference.number_of_nodes()
    assert repr(graph) == (f"NodeGraph({reference.number_of_nodes()} nodes, "
                           f"{reference.number_of_edges()} edges)")
    for name in reference:
        assert graph.parents(name) == sorted(reference.predecessors(name))
        assert graph.children(name) == sorted(reference.successors(name))
        assert graph.ancestors(name) == nx.ancestors(reference, name)
        assert graph.descendants(name) == nx.descendants(reference, name)
    keep = sorted(set(names))[::2] + ["ghost"]
    sub = graph.subgraph(keep)
    assert sub.edges == sorted(reference.subgraph(keep).edges)
    assert sub.nodes == sorted(reference.subgraph(keep).nodes)
    try:
        expected = [up for up, _ in nx.find_cycle(reference)]
    except nx.NetworkXNoCycle:
        assert graph.find_cycle() is None
        assert graph.generations() == [sorted(g) for g in nx.topological_generations(reference)]
    else:
        start = expected.index(min(expected))
        expected = expected[start:] + expected[:start]
        assert graph.find_cycle() == [*expected, expected[0]]
        with pytest.raises(GraphCycleError) as info:
            graph.generations()
        assert info.value.cycle == [*expected, expected[0]]


def test_compile_imports_no_networkx(tmp_path):
    """networkx costs ~0.2 s to import: a compile without a cycle must not load it."""
    import subprocess
    import sys

    code = ("import sys; from tauro_compile.compiler.graph import NodeGraph\n"
            "g = NodeGraph(['a', 'b'], [('a', 'b')]); g.generations(); g.find_cycle\n"
            "g.subgraph(['a']).generations(); g.ancestors('b'); g.descendants('a')\n"
            "import tauro_compile.compiler.compile, tauro_compile.cli\n"
            "print('networkx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path)
    assert out.stdout.strip() == "False"
