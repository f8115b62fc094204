"""YAML with line numbers: fast loading through libyaml, field-path -> line lookups on demand.

Loading goes through `yaml.CSafeLoader` (libyaml): the C parser composes the node tree and
a small builder turns it into dicts, lists and scalars, skipping PyYAML's generator-based
constructor (which costs more than the parsing itself). Anything unusual (merge keys `<<`,
`!!set`/`!!omap`, recursive aliases, unknown tags) goes through the ordinary `yaml.load`,
so the result is always what PyYAML's safe loader gives. Lines are only needed when there
is a problem to report, so a `LineIndex` composes the tree again lazily, when asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from tauro_compile.errors import Problem
from tauro_compile.textfiles import (
    DUPLICATE_HINT,
    TAB_HINT,
    DuplicateKey,
    duplicate_keys,
    field_text,
    tab_indented,
)

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

FieldPath = Sequence[str | int]
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALAR_TAGS: dict[tuple[str, bool], str] = {}


class _FastLoader(Loader):  # type: ignore[misc, valid-type]
    """CSafeLoader whose implicit scalar resolution is cached by value (keys repeat a lot)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            key = (value, implicit[1])
            tag = _SCALAR_TAGS.get(key)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_SCALAR_TAGS) > 50_000:
                    _SCALAR_TAGS.clear()
                _SCALAR_TAGS[key] = tag
            return tag
        return super().resolve(kind, value, implicit)


class _Unusual(Exception):
    """The document needs PyYAML's full constructor."""


class _Duplicate(Exception):
    """A mapping repeats a key: the document is walked again to list every repetition."""


class YamlSyntaxError(ValueError):
    """Text that is not valid YAML; `line` is 1-based (None when libyaml gives no mark)."""

    def __init__(self, message: str, line: int | None, column: int | None = None,
                 *, tab: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.tab = tab          # the error comes from a tab used for indentation


class YamlDuplicateKeyError(YamlSyntaxError):
    """A mapping gives one key twice (PyYAML would silently keep the last value)."""

    def __init__(self, duplicates: list[DuplicateKey]) -> None:
        first = duplicates[0]
        super().__init__(first.message, first.line)
        self.duplicates = duplicates


def yaml_problems(exc: YamlSyntaxError, file: str, *, line_kind: str = "source",
                  prefix: str = "YAML syntax error: ", hint: str | None = None,
                  **kw: object) -> list[Problem]:
    """The Problems of a YAML load failure: one per duplicated key, else one syntax error."""
    if isinstance(exc, YamlDuplicateKeyError):
        return [
            Problem(d.message, file=file, line=d.line, line_kind=line_kind,
                    field=field_text(d.path, d.key), found=f"'{d.key}' on lines {d.first_line} "
                    f"and {d.line}", expected="each key once per mapping", hint=DUPLICATE_HINT,
                    code="duplicate_key", **kw)  # type: ignore[arg-type]
            for d in exc.duplicates
        ]
    if exc.tab:
        where = f" (column {exc.column})" if exc.column else ""
        return [Problem(f"a tab is used for indentation{where}", file=file, line=exc.line,
                        line_kind=line_kind, found="a tab character", expected="spaces",
                        hint=TAB_HINT, code="yaml_tab", **kw)]  # type: ignore[arg-type]
    return [Problem(f"{prefix}{exc.message}", file=file, line=exc.line, line_kind=line_kind,
                    code="yaml_syntax", hint=hint, **kw)]  # type: ignore[arg-type]


def load_yaml(text: str) -> Any:
    """Parse one YAML document; raise YamlSyntaxError with the line of the problem."""
    try:
        try:
            return _load_fast(text)
        except (_Unusual, RecursionError):
            duplicates = duplicate_keys(yaml.compose(text, Loader=Loader))
            if duplicates:
                raise YamlDuplicateKeyError(duplicates) from None
            return yaml.load(text, Loader=Loader)  # noqa: S506 - CSafeLoader is the safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        raise YamlSyntaxError(problem, line, column,
                              tab=tab_indented(text, line, problem)) from None
    except YamlSyntaxError:
        raise
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc).splitlines()[0], None) from None
    except (TypeError, ValueError) as exc:  # e.g. an unhashable key: `path: {{ x }}` unquoted
        raise YamlSyntaxError(f"cannot build the YAML value: {exc}", None) from None


def _load_fast(text: str) -> Any:
    loader = _FastLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            return _build(node, loader, loader.yaml_constructors)
        except _Duplicate:
            duplicates = duplicate_keys(node)
            if not duplicates:  # equal once built, written differently (`1` and `0x1`)
                raise YamlSyntaxError("a mapping gives one key twice, written differently",
                                      None) from None
            raise YamlDuplicateKeyError(duplicates) from None
    finally:
        loader.dispose()


def _build(node: yaml.Node, loader: Any, constructors: dict[str, Any]) -> Any:
    """Python values of a composed node (a plain function: no closure cycle to collect)."""
    cls = node.__class__
    tag = node.tag
    if cls is yaml.ScalarNode:
        if tag == _STR:
            return node.value
        constructor = constructors.get(tag)
        if constructor is None:
            raise _Unusual
        return constructor(loader, node)
    if cls is yaml.MappingNode and tag == _MAP:
        result = {}
        for key, value in node.value:
            # Plain string keys and values (most of a node file) are taken inline: the same
            # as the scalar case above, without a call per scalar.
            if key.__class__ is yaml.ScalarNode and key.tag == _STR:
                built = key.value
            elif key.tag == "tag:yaml.org,2002:merge":
                raise _Unusual
            else:
                built = _build(key, loader, constructors)
            if built in result:
                raise _Duplicate
            if value.__class__ is yaml.ScalarNode and value.tag == _STR:
                result[built] = value.value
            else:
                result[built] = _build(value, loader, constructors)
        return result
    if cls is yaml.SequenceNode and tag == _SEQ:
        return [item.value if item.__class__ is yaml.ScalarNode and item.tag == _STR
                else _build(item, loader, constructors) for item in node.value]
    raise _Unusual


def first_content_line(text: str) -> int:
    """Line of the first non-blank, non-comment line (where a one-node file's node starts)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "---", "%")):
            return number
    return 1


class LineIndex:
    """Maps a field path (`("input", "options", "subscribe")`) to its 1-based line in `text`."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._root: yaml.Node | None = None
        self._composed = False

    def _node(self) -> yaml.Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self._text, Loader=Loader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def line_of(self, path: FieldPath) -> int | None:
        """Line of the deepest part of `path` present in the document (None if not even the root)."""
        return self._walk(path, exact=False)

    def exact_line_of(self, path: FieldPath) -> int | None:
        """Line of `path` only when every part of it is present."""
        return self._walk(path, exact=True)

    def _walk(self, path: FieldPath, *, exact: bool) -> int | None:
        node = self._node()
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            found = _child(node, part)
            if found is None:
                return None if exact else line
            key_node, node = found
            line = (key_node or node).start_mark.line + 1
        return line


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(key node, value node) of `part` in a mapping, or (None, item) of an index in a sequence."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None
