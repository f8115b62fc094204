"""A strict reader of Spark DDL schema strings, so a typo is found at compile time without a JVM.

Accepts what `DataStreamReader.schema(ddl)` accepts (and `from_json`, which also takes a
`STRUCT<...>` wrapper): `name TYPE [NOT NULL] [COMMENT '...']` separated by commas (a colon
after the name only inside `STRUCT<...>`); types `boolean`, `tinyint`/`byte`,
`smallint`/`short`, `int`/`integer`, `bigint`/`long`, `float`/`real`, `double`,
`decimal`/`dec`/`numeric[(p[,s])]`, `string [COLLATE x]`, `binary`, `date`, `timestamp`,
`timestamp_ntz`, `timestamp_ltz`, `void`, `variant`, `interval ... [to ...]`, `array<T>`,
`map<K, V>`, `struct<...>` (case-insensitive). `char(n)`/`varchar(n)` are refused, as Spark
refuses them outside table schemas. tests/integration/streaming/test_ddl_agrees_with_spark.py
holds Spark to these answers. `contracts.types.parse_ddl` stays the lenient reader the
contract checks use (it reads what Spark already produced).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SIMPLE_TYPES = frozenset({
    "boolean", "tinyint", "byte", "smallint", "short", "int", "integer", "bigint", "long",
    "float", "real", "double", "string", "binary", "date", "timestamp", "timestamp_ntz",
    "timestamp_ltz", "void", "variant",
})
DECIMAL_TYPES = frozenset({"decimal", "dec", "numeric"})
SIZED_TYPES = frozenset({"char", "character", "varchar"})
INTERVAL_UNITS = frozenset({"year", "month", "day", "hour", "minute", "second"})
ALL_TYPE_NAMES = sorted(SIMPLE_TYPES | DECIMAL_TYPES | SIZED_TYPES
                        | {"array", "map", "struct", "interval"})

_TOKEN = re.compile(r"\s*(?:(`(?:[^`]|``)*`)|([A-Za-z_][\w$]*)|(\d+)|('(?:[^'\\]|\\.)*')|(\S))")


@dataclass(frozen=True)
class DDLError(ValueError):
    """Why a DDL string is not a schema Spark reads, and the 1-based character position."""

    message: str
    position: int

    def __str__(self) -> str:
        return f"{self.message} (at character {self.position})"


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str, int]] = []   # (kind, text, 1-based position)
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None:  # only trailing whitespace is left
                break
            kind = ("quoted", "word", "number", "string", "symbol")[match.lastindex - 1]
            self.items.append((kind, match.group(match.lastindex), match.start(match.lastindex) + 1))
            pos = match.end()
        self.end = len(text) + 1
        self.index = 0

    def peek(self) -> tuple[str, str, int]:
        return self.items[self.index] if self.index < len(self.items) else ("end", "", self.end)

    def take(self) -> tuple[str, str, int]:
        token = self.peek()
        self.index += 1
        return token

    def word(self, *words: str) -> bool:
        kind, text, _ = self.peek()
        if kind == "word" and text.lower() in words:
            self.index += 1
            return True
        return False

    def symbol(self, char: str) -> bool:
        kind, text, _ = self.peek()
        if kind == "symbol" and text == char:
            self.index += 1
            return True
        return False

    def expect(self, char: str, what: str) -> None:
        if not self.symbol(char):
            _, text, pos = self.peek()
            raise DDLError(f"expected '{char}' {what}, found {_shown(text)}", pos)


def check_ddl(text: str, *, struct_wrapper: bool = False) -> DDLError | None:
    """None when `text` is a schema Spark can read, else the first error and its position.

    `struct_wrapper`: also accept `STRUCT<...>` around the columns (`from_json` does).
    """
    tokens = _Tokens(text)
    try:
        if not tokens.items:
            raise DDLError("the schema is empty", 1)
        kind, word, _ = tokens.peek()
        if struct_wrapper and kind == "word" and word.lower() == "struct" and \
                tokens.items[1:2] and tokens.items[1][1] == "<":
            _type(tokens)
        else:
            _fields(tokens, nested=False)
        kind, word, pos = tokens.peek()
        if kind != "end":
            raise DDLError(f"unexpected {_shown(word)} after the schema", pos)
    except DDLError as exc:
        return exc
    return None


def _fields(tokens: _Tokens, *, nested: bool) -> None:
    while True:
        kind, name, pos = tokens.take()
        if kind not in ("word", "quoted"):
            raise DDLError(f"expected a column name, found {_shown(name)}", pos)
        if tokens.peek()[1] == ":" and not nested:
            raise DDLError("a top-level column is `name TYPE`, without ':' (only fields "
                           "inside STRUCT<...> take one)", tokens.peek()[2])
        tokens.symbol(":")
        _type(tokens)
        if tokens.word("not") and not tokens.word("null"):
            _, text, at = tokens.peek()
            raise DDLError(f"expected NULL after NOT, found {_shown(text)}", at)
        if tokens.word("comment"):
            kind, text, at = tokens.take()
            if kind != "string":
                raise DDLError(f"expected a quoted comment, found {_shown(text)}", at)
        if not tokens.symbol(","):
            return


def _type(tokens: _Tokens) -> None:
    kind, word, pos = tokens.take()
    name = word.lower()
    if kind != "word":
        raise DDLError(f"expected a type, found {_shown(word)}", pos)
    if name in SIMPLE_TYPES:
        if name == "string" and tokens.word("collate") and tokens.take()[0] != "word":
            raise DDLError("expected a collation name after COLLATE", pos)
        return
    if name in DECIMAL_TYPES:
        if tokens.symbol("("):
            _number(tokens)
            if tokens.symbol(","):
                _number(tokens)
            tokens.expect(")", f"to close {word}(")
        return
    if name in SIZED_TYPES:
        raise DDLError(f"{word} is only allowed in table schemas; a stream's schema uses STRING",
                       pos)
    if name == "interval":
        if not tokens.word(*INTERVAL_UNITS):
            raise DDLError("expected a unit after INTERVAL (YEAR, MONTH, DAY, ...)", pos)
        if tokens.word("to") and not tokens.word(*INTERVAL_UNITS):
            raise DDLError("expected a unit after TO", tokens.peek()[2])
        return
    if name == "array":
        tokens.expect("<", "after ARRAY")
        _type(tokens)
        tokens.expect(">", "to close ARRAY<")
        return
    if name == "map":
        tokens.expect("<", "after MAP")
        _type(tokens)
        tokens.expect(",", "between the key and value types of MAP<")
        _type(tokens)
        tokens.expect(">", "to close MAP<")
        return
    if name == "struct":
        tokens.expect("<", "after STRUCT")
        if not tokens.symbol(">"):
            _fields(tokens, nested=True)
            tokens.expect(">", "to close STRUCT<")
        return
    from tauro_compile.errors import did_you_mean

    near = did_you_mean(name, ALL_TYPE_NAMES)
    raise DDLError(f"unknown type '{word}'" + (f"; {near}" if near else ""), pos)


def _number(tokens: _Tokens) -> None:
    kind, text, pos = tokens.take()
    if kind != "number":
        raise DDLError(f"expected a number, found {_shown(text)}", pos)


def _shown(text: str) -> str:
    return f"'{text}'" if text else "the end"
