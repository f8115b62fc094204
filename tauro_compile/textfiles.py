"""Reading a project's text files as a user means them: UTF-8 (BOM or not, CRLF or not).

Shared by the compiler and the contracts layer (no pyspark, no layer above):

- `read_text` decodes UTF-8, drops a BOM and turns CRLF/CR into LF (as Python's text mode
  does); a byte that is not UTF-8 raises `EncodingProblem` with its line and column.
- `duplicate_keys` finds keys given twice in one YAML mapping, which PyYAML would silently
  resolve by keeping the last one.
- `tab_indented` says whether a YAML error sits on a line indented with a tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ENCODING_HINT = "save the file as UTF-8 (in most editors: Save with Encoding > UTF-8)"
DUPLICATE_HINT = "keep one of them (merge their contents if both matter)"
TAB_HINT = "indent with spaces: YAML does not allow tabs for indentation"


class EncodingProblem(ValueError):
    """A byte sequence that is not UTF-8, with its 1-based line and column."""

    def __init__(self, byte: int, line: int, column: int) -> None:
        super().__init__(f"byte 0x{byte:02x} at line {line}, column {column} is not UTF-8")
        self.byte = byte
        self.line = line
        self.column = column

    @property
    def message(self) -> str:
        return f"the file is not UTF-8: byte 0x{self.byte:02x} cannot be decoded"

    @property
    def found(self) -> str:
        return f"byte 0x{self.byte:02x} at column {self.column}"


def decode_text(data: bytes) -> str:
    """`data` as text: UTF-8 with an optional BOM, newlines normalized to LF."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start
        line = data.count(b"\n", 0, start) + 1
        line_start = data.rfind(b"\n", 0, start) + 1
        prefix = data[line_start:start].decode("utf-8-sig", errors="replace")
        raise EncodingProblem(data[start], line, len(prefix) + 1) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_text(path: Path | str) -> str:
    """The text of a project file (see `decode_text`); OSError and EncodingProblem propagate."""
    return decode_text(Path(path).read_bytes())


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping: where the mapping is, and both lines (1-based)."""

    path: tuple[str | int, ...]   # the mapping holding the key
    key: str
    first_line: int
    line: int

    @property
    def message(self) -> str:
        return (f"key '{self.key}' is given twice (lines {self.first_line} and {self.line}); "
                "only one value can hold")


def duplicate_keys(root: yaml.Node | None) -> list[DuplicateKey]:
    """Every key repeated within one mapping of a composed YAML document (merge keys aside)."""
    found: list[DuplicateKey] = []
    if root is None:
        return found
    pending: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    seen_nodes: set[int] = set()
    while pending:
        node, path = pending.pop()
        if id(node) in seen_nodes:  # aliases share nodes (and may be recursive)
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[str, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key.start_mark.line + 1
                if key.value in lines:
                    found.append(DuplicateKey(path, key.value, lines[key.value], line))
                else:
                    lines[key.value] = line
                pending.append((value, (*path, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend((item, (*path, i)) for i, item in enumerate(node.value))
    return sorted(found, key=lambda d: (d.line, d.key))


def tab_indented(text: str, line: int | None, message: str = "") -> bool:
    """True when a YAML error at `line` comes from a tab used for indentation."""
    if "'\\t'" in message:
        return True
    if line is None:
        return False
    lines = text.split("\n")
    candidates = lines[max(0, line - 2):line]  # libyaml may report the line before
    for current in candidates:
        indent = current[: len(current) - len(current.lstrip(" \t"))]
        if "\t" in indent:
            return True
    return False


def field_text(path: tuple[str | int, ...], key: Any = None) -> str:
    """`a.b[0].c` for a YAML path (plus `key` when given)."""
    parts = [*path, key] if key is not None else list(path)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
