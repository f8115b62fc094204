"""Which layer set each value of a node: project defaults, node file, profile overrides.

A node's raw config is `deep_merge` of its layers, lowest first (see `loader.py`): the
project's `streaming:`/`on_failure:` defaults, the node file, then the profile's `nodes:`
entries `"*"`, `tag:<t>` and `<node name>`. The layer that set a field path is the last
one that writes it, or writes a prefix of it that replaces the whole value (a scalar, a
list, or a `trigger`, which merge.py replaces whole). Nothing here runs during a normal
compile: the layers are kept as references and this is computed only for
`tauro compile --explain` or when a problem must be located.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tauro_compile.errors import Problem
from tauro_compile.streaming.merge import REPLACED_WHOLE

Path = tuple[str | int, ...]
_INDEX = re.compile(r"\[(\d+)\]")


@dataclass(frozen=True)
class Layer:
    """One layer of a node's config: what it holds and where its values are written."""

    kind: str                   # "project defaults" | "node file" | "profile"
    label: str                  # e.g. `profile 'dev' nodes."*"`
    file: str
    data: Mapping[str, Any]
    locate: Callable[[Path], tuple[int | None, str]]   # field path -> (line, line kind)
    # the label at one path (a profile override merged from an `extends` chain names the
    # profile that wrote that path)
    label_of: Callable[[Path], str] | None = None

    def label_at(self, path: Path) -> str:
        return self.label_of(path) if self.label_of else self.label


def writes(data: Any, path: Sequence[str | int]) -> bool:
    """True when a layer holding `data` sets `path` (itself, or a prefix replaced whole)."""
    current = data
    last = len(path) - 1
    for depth, part in enumerate(path):
        if not isinstance(current, Mapping):
            # a list is replaced whole by the layer that writes it
            return isinstance(current, list) and isinstance(part, int)
        if part not in current:
            return False
        current = current[part]
        if depth < last and (part in REPLACED_WHOLE or not isinstance(current, Mapping)):
            return True
    return True


def origin(layers: Sequence[Layer], path: Sequence[str | int]) -> Layer | None:
    """The last layer that writes `path`, or None (a default or a derived value)."""
    for layer in reversed(layers):
        if writes(layer.data, path):
            return layer
    return None


def field_path(field: str) -> Path:
    """`transforms[0].sql` -> ("transforms", 0, "sql"); option keys with dots stay whole."""
    parts: list[str | int] = []
    for piece in field.split("."):
        name, *indexes = _INDEX.split(piece)
        if name:
            parts.append(name)
        parts.extend(int(i) for i in indexes if i)
    if "options" in parts:
        at = parts.index("options")
        if at + 1 < len(parts):
            parts[at + 1:] = [".".join(map(str, parts[at + 1:]))]
    return tuple(parts)


def relocate(problems: Sequence[Problem], layers_of: Callable[[str], Sequence[Layer]],
             keep: Callable[[Problem], bool] = lambda p: False) -> list[Problem]:
    """Problems whose field a profile override (or the project defaults) set, pointed at
    that layer's file and line instead of the node file's; the same problem of several
    nodes (one `"*"` override) is reported once, naming the nodes. `keep`: leave as is."""
    out: list[Problem] = []
    moved: dict[tuple[Any, ...], tuple[Problem, list[str]]] = {}
    for problem in problems:
        layer = None
        if problem.node and problem.field and not keep(problem):
            layer = origin(layers_of(problem.node), field_path(problem.field))
        if layer is None or layer.kind == "node file":
            out.append(problem)
            continue
        line, kind = layer.locate(field_path(problem.field))
        placed = dataclasses.replace(problem, file=layer.file, line=line, line_kind=kind,
                                     message=f"{problem.message} (set by "
                                     f"{layer.label_at(field_path(problem.field))})")
        key = (placed.file, placed.line, placed.field, placed.message, placed.expected,
               placed.found, placed.hint)
        if key in moved:
            moved[key][1].append(problem.node)
            continue
        moved[key] = (placed, [problem.node])
        out.append(placed)
    if not moved:
        return out
    merged = {id(first): (first, nodes) for first, nodes in moved.values() if len(nodes) > 1}
    return [p if id(p) not in merged else dataclasses.replace(
        p, message=f"{p.message[:-1]}, for nodes {', '.join(merged[id(p)][1])})")
        for p in out]


def leaves(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    """Every setting of a dumped config as (path, value); lists of scalars are one value."""
    if isinstance(value, Mapping):
        if not value and path:
            return [(path, {})]
        out: list[tuple[Path, Any]] = []
        for key, item in value.items():
            out.extend(leaves(item, (*path, key)))
        return out
    if isinstance(value, list) and any(isinstance(v, Mapping) for v in value):
        out = []
        for index, item in enumerate(value):
            out.extend(leaves(item, (*path, index)))
        return out
    return [(path, value)]
