"""The lineage graph of a manifest: nodes plus the datasets around them, laid out in layers.

Elements besides nodes: declared sources, external inputs (a format and location no node
writes), Kafka topics (one element per topic name, so a topic one node writes and another
reads links them), terminal outputs (a node output no node reads), contract quarantine
sinks and dead-letter sinks. Node-to-node edges stand for the upstream's output.

Layout: each element's layer is its longest path from a root (a layered, Sugiyama-style
drawing); within a layer, elements are ordered by the mean position of their parents
(two barycenter sweeps), ties by label, so the drawing is stable for a given manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LAYER_GAP = 240      # px between layers (x)
ROW_GAP = 46         # px between elements of a layer (y)


@dataclass
class Element:
    """One box of the drawing."""

    id: str
    kind: str                    # node | source | input | topic | output | quarantine | dead_letter
    label: str
    detail: str = ""             # format and location, shown under the label
    node: str | None = None      # the node whose detail a click opens
    layer: int = 0
    row: int = 0
    parents: list[str] = field(default_factory=list)


def _location(section: dict[str, Any]) -> str:
    for key in ("table_name", "path"):
        if section.get(key):
            return str(section[key])
    options = section.get("options") or {}
    for key in ("subscribe", "subscribePattern", "assign", "topic"):
        if options.get(key):
            return f"{key} {options[key]}"
    return ""


def _topics(section: dict[str, Any], reading: bool) -> list[str]:
    """Kafka topic names of an input (subscribe list) or output (topic option)."""
    if section.get("format") != "kafka":
        return []
    options = section.get("options") or {}
    if reading:
        value = options.get("subscribe")
        return [t.strip() for t in str(value).split(",") if t.strip()] if value else []
    value = options.get("topic") or section.get("topic")
    return [str(value)] if value else []


def _short(location: str) -> str:
    """The last part of a path or table name (the box label; the detail has it whole)."""
    return location.rstrip("/").rsplit("/", 1)[-1]


class Lineage:
    """Elements and edges built from a manifest document (already masked)."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.elements: dict[str, Element] = {}
        self.edges: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()
        nodes = {n["name"]: n for n in manifest["nodes"].values()}
        by_uid = {n["unique_id"]: n["name"] for n in nodes.values()}
        sources = {s["unique_id"]: s for s in manifest.get("sources", {}).values()}
        read_by: set[str] = set()
        for node in nodes.values():
            read_by.update(by_uid[u] for u in node["depends_on"]["nodes"] if u in by_uid)
        written = {_location(n["config"]["output"]) for n in nodes.values()}
        for name in sorted(nodes):
            node = nodes[name]
            config = node["config"]
            self._add(Element(f"node:{name}", "node", name, node=name,
                              detail=config["output"]["format"]))
            for uid in node["depends_on"]["nodes"]:
                if uid in by_uid:
                    self._edge(f"node:{by_uid[uid]}", f"node:{name}")
            for uid in node["depends_on"]["sources"]:
                source = sources.get(uid)
                if source is None:
                    continue
                sid = f"source:{source['name']}"
                self._add(Element(sid, "source", source["name"], node=None,
                                  detail=f"{source['config']['format']} "
                                         f"{_location(source['config'])}".strip()))
                for topic in _topics(source["config"], reading=True):
                    self._add(Element(f"topic:{topic}", "topic", topic, detail="kafka topic"))
                    self._edge(f"topic:{topic}", sid)
                self._edge(sid, f"node:{name}")
            inp = config["input"]
            reads_source = bool(node["depends_on"]["sources"])
            for topic in [] if reads_source else _topics(inp, reading=True):
                self._add(Element(f"topic:{topic}", "topic", topic, detail="kafka topic"))
                self._edge(f"topic:{topic}", f"node:{name}")
            if (not node["depends_on"]["nodes"] and not node["depends_on"]["sources"]
                    and not _topics(inp, reading=True) and _location(inp) not in written - {""}):
                iid = f"input:{inp['format']}:{_location(inp)}"
                self._add(Element(iid, "input", inp["format"], detail=_location(inp)))
                self._edge(iid, f"node:{name}")
            out = config["output"]
            out_topics = _topics(out, reading=False)
            for topic in out_topics:
                self._add(Element(f"topic:{topic}", "topic", topic, detail="kafka topic"))
                self._edge(f"node:{name}", f"topic:{topic}")
            if not out_topics and name not in read_by:
                self._add(Element(f"output:{name}", "output", _short(_location(out)) or out["format"],
                                  node=name, detail=f"{out['format']} {_location(out)}".strip()))
                self._edge(f"node:{name}", f"output:{name}")
            contract = config.get("contract") or {}
            if contract.get("quarantine"):
                q = contract["quarantine"]
                self._add(Element(f"quarantine:{name}", "quarantine", "quarantine", node=name,
                                  detail=f"{q['format']} {_location(q)}".strip()))
                self._edge(f"node:{name}", f"quarantine:{name}")
            dead = inp.get("dead_letter")
            if dead:
                self._add(Element(f"dead_letter:{name}", "dead_letter", "dead letters",
                                  node=name, detail=f"{dead['format']} "
                                  f"{dead.get('table_name') or dead.get('path') or dead.get('topic') or ''}".strip()))
                self._edge(f"node:{name}", f"dead_letter:{name}")
        self._layout()

    def _add(self, element: Element) -> None:
        self.elements.setdefault(element.id, element)

    def _edge(self, src: str, dst: str) -> None:
        if src != dst and (src, dst) not in self._seen:
            self._seen.add((src, dst))
            self.edges.append((src, dst))
            self.elements[dst].parents.append(src)

    def _layout(self) -> None:
        """Longest-path layers (Kahn's order), then barycenter ordering within layers."""
        children: dict[str, list[str]] = {e: [] for e in self.elements}
        indegree = dict.fromkeys(self.elements, 0)
        for src, dst in self.edges:
            children[src].append(dst)
            indegree[dst] += 1
        ready = sorted(e for e, d in indegree.items() if d == 0)
        seen = 0
        while ready:
            following: list[str] = []
            for eid in ready:
                seen += 1
                layer = self.elements[eid].layer
                for child in children[eid]:
                    element = self.elements[child]
                    element.layer = max(element.layer, layer + 1)
                    indegree[child] -= 1
                    if indegree[child] == 0:
                        following.append(child)
            ready = following
        layers: dict[int, list[Element]] = {}
        for element in self.elements.values():  # elements of a cycle (via topics) keep theirs
            layers.setdefault(element.layer, []).append(element)
        ordered = [sorted(layers[k], key=lambda e: (e.kind != "node", e.label, e.id))
                   for k in sorted(layers)]
        for group in ordered:
            for row, element in enumerate(group):
                element.row = row
        for _ in range(2):
            for group in ordered:
                keys = {}
                for element in group:
                    rows = [self.elements[p].row for p in element.parents]
                    keys[element.id] = sum(rows) / len(rows) if rows else element.row
                group.sort(key=lambda e: (keys[e.id], e.label))
                for row, element in enumerate(group):
                    element.row = row

    def to_data(self) -> dict[str, Any]:
        """Elements with pixel positions and edges as index pairs (compact JSON)."""
        ids = list(self.elements)
        index = {eid: i for i, eid in enumerate(ids)}
        height = max((e.row for e in self.elements.values()), default=0)
        return {
            "elements": [
                {"id": e.id, "kind": e.kind, "label": e.label, "detail": e.detail,
                 "node": e.node, "x": e.layer * LAYER_GAP, "y": e.row * ROW_GAP}
                for e in self.elements.values()
            ],
            "edges": [[index[s], index[d]] for s, d in self.edges],
            "width": (max((e.layer for e in self.elements.values()), default=0) + 1) * LAYER_GAP,
            "height": (height + 1) * ROW_GAP,
        }
