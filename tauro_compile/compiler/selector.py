"""dbt's node selection grammar: `--select` / `--exclude` over a project's DAG.

Each item of `select` is one union member (the CLI has already split on spaces). An item
is a comma-separated intersection of atoms; an atom is

    [@][N+]<method>[+N]      <method> = name | glob (stg_*) | tag:x | path:nodes/silver

`+name` adds every ancestor, `2+name` ancestors up to two edges away, `name+` / `name+1`
descendants likewise, `@name` the node, its descendants and all their ancestors. Names,
tags and paths accept shell globs. `path:` matches the node file itself, the file without
its extension, or any directory above it. An empty `select` means every node; `exclude`
removes nodes. The result is in topological order (ties by name).

An atom that matches no node is an error, not an empty selection: a typo in `--select`
or `--exclude` should never silently run the wrong set of streams.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tauro_compile.compiler.graph import GraphCycleError, NodeGraph
from tauro_compile.errors import UsageError, did_you_mean

METHODS = ("name", "tag", "path")
SYNTAX = "[@][N+]name[+N], tag:x or path:dir (a,b for intersection)"

_ATOM = re.compile(
    r"^(?P<at>@)?(?:(?P<up_depth>\d*)(?P<up>\+))?"
    r"(?P<body>[^+@,\s]+)"
    r"(?:(?P<down>\+)(?P<down_depth>\d*))?$"
)


@dataclass(frozen=True)
class SelectableNode:
    """What selection looks at: the node's name, tags and project-relative posix file path."""

    name: str
    tags: tuple[str, ...]
    path: str


class SelectorError(UsageError):
    """A `--select`/`--exclude` value that is malformed or matches no node."""

    def __init__(self, message: str, *, selector: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.selector = selector


@dataclass(frozen=True)
class _Atom:
    text: str
    method: str
    value: str
    ancestors: bool = False
    ancestors_depth: int | None = None
    descendants: bool = False
    descendants_depth: int | None = None
    at: bool = False


def parse_atom(text: str) -> _Atom:
    """Parse one atom of the grammar; raises SelectorError saying what is expected."""
    match = _ATOM.match(text)
    if not match:
        raise SelectorError(
            f"invalid selector '{text}'", selector=text, hint=f"expected {SYNTAX}"
        )
    if match["at"] and (match["up"] or match["down"]):
        raise SelectorError(
            f"invalid selector '{text}': '@' cannot be combined with '+'",
            selector=text, hint="use '@name' alone, or '+name+'",
        )
    body = match["body"]
    method, sep, value = body.partition(":")
    if not sep:
        method, value = "name", body
    if method not in METHODS:
        hint = did_you_mean(method, METHODS) or f"valid methods: {', '.join(METHODS)}"
        raise SelectorError(
            f"unknown selector method '{method}:' in '{text}'", selector=text, hint=hint
        )
    if not value:
        raise SelectorError(
            f"selector '{text}' has no value after '{method}:'",
            selector=text, hint=f"expected e.g. {method}:{'silver' if method == 'tag' else 'x'}",
        )
    return _Atom(
        text=text, method=method, value=value,
        ancestors=bool(match["up"]),
        ancestors_depth=int(match["up_depth"]) if match["up_depth"] else None,
        descendants=bool(match["down"]),
        descendants_depth=int(match["down_depth"]) if match["down_depth"] else None,
        at=bool(match["at"]),
    )


def parse_item(item: str) -> list[_Atom]:
    """Parse one union member: atoms joined by commas (intersection)."""
    parts = item.split(",")
    if any(not p.strip() for p in parts):
        raise SelectorError(
            f"invalid selector '{item}': empty part around ','",
            selector=item, hint=f"expected {SYNTAX}",
        )
    return [parse_atom(p.strip()) for p in parts]


def select_nodes(
    graph: NodeGraph,
    nodes: Mapping[str, SelectableNode],
    select: Sequence[str],
    exclude: Sequence[str] = (),
) -> list[str]:
    """The names selected by `select` minus `exclude`, in topological order."""
    items = [s for s in select if s.strip()]
    excluded_items = [s for s in exclude if s.strip()]
    parsed_select = [(item, parse_item(item)) for item in items]
    parsed_exclude = [(item, parse_item(item)) for item in excluded_items]

    unmatched: list[tuple[str, _Atom | None]] = []
    chosen = set(nodes) if not parsed_select else set()
    for item, atoms in parsed_select:
        chosen |= _intersection(graph, nodes, item, atoms, unmatched)
    removed: set[str] = set()
    for item, atoms in parsed_exclude:
        removed |= _intersection(graph, nodes, item, atoms, unmatched)
    if unmatched:
        raise _no_match_error(unmatched, nodes)

    chosen -= removed
    try:
        order = graph.topological_order()
    except GraphCycleError:
        order = graph.nodes
    in_graph = [n for n in order if n in chosen]
    return in_graph + sorted(chosen - set(in_graph))


def _intersection(graph: NodeGraph, nodes: Mapping[str, SelectableNode], item: str,
                  atoms: list[_Atom], unmatched: list[tuple[str, _Atom | None]]) -> set[str]:
    """Nodes matched by every atom of one item; records what matched nothing."""
    result: set[str] | None = None
    before = len(unmatched)
    for atom in atoms:
        found = _expand(graph, atom, _match(atom, nodes))
        if not found:
            unmatched.append((atom.text, atom))
        result = found if result is None else result & found
    if not result and len(unmatched) == before:
        unmatched.append((item, None))
    return result or set()


def _match(atom: _Atom, nodes: Mapping[str, SelectableNode]) -> set[str]:
    """The nodes an atom's method matches, before graph operators."""
    if atom.method == "name":
        if not _is_glob(atom.value):
            return {atom.value} if atom.value in nodes else set()
        return {n for n in nodes if fnmatch.fnmatchcase(n, atom.value)}
    if atom.method == "tag":
        return {
            n for n, node in nodes.items()
            if any(fnmatch.fnmatchcase(tag, atom.value) for tag in node.tags)
        }
    wanted = _normal_path(atom.value)
    return {n for n, node in nodes.items() if _path_matches(_normal_path(node.path), wanted)}


def _expand(graph: NodeGraph, atom: _Atom, matched: set[str]) -> set[str]:
    """Apply `+`, `N+`, `+N` and `@` to the matched nodes."""
    result = set(matched)
    for name in matched:
        if name not in graph:
            continue
        if atom.at:
            below = graph.descendants(name)
            result |= below
            for n in {name, *below}:
                result |= graph.ancestors(n)
            continue
        if atom.ancestors:
            result |= graph.ancestors(name, atom.ancestors_depth)
        if atom.descendants:
            result |= graph.descendants(name, atom.descendants_depth)
    return result


def _normal_path(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/")


def _path_matches(path: str, wanted: str) -> bool:
    if path == wanted or path.startswith(wanted + "/"):
        return True
    stem = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
    if stem == wanted:
        return True
    if _is_glob(wanted):
        return fnmatch.fnmatchcase(path, wanted) or fnmatch.fnmatchcase(stem, wanted) or any(
            fnmatch.fnmatchcase(parent, wanted) for parent in _parents(path)
        )
    return False


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _no_match_error(unmatched: list[tuple[str, _Atom | None]],
                    nodes: Mapping[str, SelectableNode]) -> SelectorError:
    names = sorted(nodes)
    tags = sorted({t for node in nodes.values() for t in node.tags})
    paths = sorted({p for node in nodes.values() for p in [node.path, *_parents(node.path)]})
    texts = list(dict.fromkeys(text for text, _ in unmatched))
    hints: list[str] = []
    for text, atom in dict(unmatched).items():
        if atom is None:
            hint = "each part matches nodes, but no node matches all of them"
        else:
            hint = _suggest(atom, names, tags, paths)
        if hint:
            hints.append(f"'{text}': {hint}" if len(texts) > 1 else hint)
    message = "; ".join(f"selector '{text}' matches no node" for text in texts)
    return SelectorError(message, selector=texts[0], hint="; ".join(hints) if hints else None)


def _suggest(atom: _Atom, names: list[str], tags: list[str], paths: list[str]) -> str | None:
    if atom.method == "name":
        hint = did_you_mean(atom.value, names)
        if hint:
            return hint
        if atom.value in tags:
            return f"did you mean 'tag:{atom.value}'?"
        close_tag = did_you_mean(atom.value, tags)
        if close_tag:
            return close_tag.replace("'", "'tag:", 1)
        return f"nodes: {_short(names)}" if names else "the project has no nodes"
    if atom.method == "tag":
        return did_you_mean(atom.value, tags) or (
            f"tags: {_short(tags)}" if tags else "no node has tags"
        )
    return did_you_mean(_normal_path(atom.value), paths)


def _short(values: list[str], limit: int = 10) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", ... ({len(values) - limit} more)" if len(values) > limit else "")
