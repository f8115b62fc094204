"""The DAG of a project's nodes: a small class over two adjacency maps, with stable ordering.

Every listing this class returns breaks ties by node name, so `tauro compile`, `tauro ls`
and `tauro graph` print the same thing on every run and on every machine. Plain dicts of
sets rather than networkx: importing networkx cost `tauro compile` ~75 ms of its start-up,
and the compiler needs only ordering, reachability and one cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

from tauro_compile.streaming.plan import CycleError, topological_generations

GraphCycleError = CycleError  # the core's: an ordering asked of a graph with a cycle


class NodeGraph:
    """Nodes and `(upstream, downstream)` edges; an edge is kept only if both ends are nodes."""

    def __init__(self, nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> None:
        self._parents: dict[str, set[str]] = {name: set() for name in sorted(set(nodes))}
        self._children: dict[str, set[str]] = {name: set() for name in self._parents}
        self._generations: list[list[str]] | None = None   # the graph never changes
        for up, down in edges:
            if up in self._parents and down in self._parents:
                self._parents[down].add(up)
                self._children[up].add(down)

    @property
    def nodes(self) -> list[str]:
        """Every node name, sorted."""
        return list(self._parents)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """Every `(upstream, downstream)` edge, sorted."""
        return sorted((up, down) for up, downs in self._children.items() for down in downs)

    def __contains__(self, name: object) -> bool:
        return name in self._parents

    def __len__(self) -> int:
        return len(self._parents)

    def parents(self, name: str) -> list[str]:
        """The direct upstream nodes of `name`, sorted."""
        return sorted(self._parents[name])

    def children(self, name: str) -> list[str]:
        """The direct downstream nodes of `name`, sorted."""
        return sorted(self._children[name])

    def ancestors(self, name: str, depth: int | None = None) -> set[str]:
        """Upstream nodes of `name` (not itself), at most `depth` edges away when given."""
        return _within(self._parents.__getitem__, name, depth)

    def descendants(self, name: str, depth: int | None = None) -> set[str]:
        """Downstream nodes of `name` (not itself), at most `depth` edges away when given."""
        return _within(self._children.__getitem__, name, depth)

    def subgraph(self, names: Iterable[str]) -> NodeGraph:
        """The graph induced by `names` (unknown names are ignored)."""
        keep = {n for n in names if n in self._parents}
        return NodeGraph(keep, ((up, down) for down in keep for up in self._parents[down]
                                if up in keep))

    def generations(self) -> list[list[str]]:
        """Topological generations: every node comes after all its parents; each sorted by name.

        Raises GraphCycleError when the graph has a cycle.
        """
        if self._generations is None:
            self._generations = topological_generations(self._parents)
        return [list(generation) for generation in self._generations]

    def topological_order(self) -> list[str]:
        """The generations flattened: a stable start order."""
        return [name for gen in self.generations() for name in gen]

    def find_cycle(self) -> list[str] | None:
        """One cycle as a closed path starting at its smallest name (`[a, b, a]`), or None."""
        try:
            topological_generations(self._parents)
        except CycleError as exc:
            return exc.cycle or None
        return None

    def to_mermaid(self, labels: Mapping[str, str] | None = None) -> str:
        """A mermaid `flowchart LR`; `labels` maps a node to its text (newlines become breaks)."""
        ids = _diagram_ids(self.nodes)
        lines = ["flowchart LR"]
        for name in self.nodes:
            text = (labels or {}).get(name, name)
            lines.append(f'    {ids[name]}["{_mermaid_text(text)}"]')
        for up, down in self.edges:
            lines.append(f"    {ids[up]} --> {ids[down]}")
        return "\n".join(lines)

    def to_dot(self, labels: Mapping[str, str] | None = None) -> str:
        """A Graphviz `digraph`; `labels` maps a node to its text (newlines kept as line breaks)."""
        lines = ["digraph tauro {", "    rankdir=LR;", "    node [shape=box];"]
        for name in self.nodes:
            text = (labels or {}).get(name, name)
            lines.append(f"    {_dot_quote(name)} [label={_dot_quote(text)}];")
        for up, down in self.edges:
            lines.append(f"    {_dot_quote(up)} -> {_dot_quote(down)};")
        lines.append("}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        edges = sum(len(downs) for downs in self._children.values())
        return f"NodeGraph({len(self)} nodes, {edges} edges)"


def _within(neighbours: Callable[[str], Iterable[str]], name: str,
            depth: int | None) -> set[str]:
    """Nodes reachable from `name` through `neighbours` (in at most `depth` steps when given)."""
    seen: set[str] = set()
    frontier = {name}
    steps = 0
    while frontier and (depth is None or steps < depth):
        frontier = {n for node in frontier for n in neighbours(node) if n not in seen and n != name}
        seen.update(frontier)
        steps += 1
    return seen


_SAFE_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Words mermaid treats as keywords, which cannot be used as node ids.
_MERMAID_RESERVED = {"end", "graph", "flowchart", "subgraph", "style", "class", "click"}


def _diagram_ids(names: list[str]) -> dict[str, str]:
    """Mermaid node ids: the name when it is a safe identifier, else a numbered id."""
    safe = {n for n in names if _SAFE_ID.match(n) and n.lower() not in _MERMAID_RESERVED}
    ids: dict[str, str] = {}
    counter = 0
    for name in names:
        if name in safe:
            ids[name] = name
            continue
        while f"node_{counter}" in safe:
            counter += 1
        ids[name] = f"node_{counter}"
        counter += 1
    return ids


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
