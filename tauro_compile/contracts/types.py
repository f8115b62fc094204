"""Logical types of ODCS and the Spark column types compatible with each, without pyspark.

Types are compared as Spark's type strings (`DataType.simpleString()`: `bigint`,
`decimal(10,2)`, `array<string>`, ...), so a declared Spark DDL string at compile time
and a live `StructType` at query start go through the same rules.

| logicalType | compatible Spark types                                              |
|-------------|---------------------------------------------------------------------|
| string      | string, varchar(n), char(n)                                         |
| integer     | tinyint, smallint, int, bigint, decimal(p,0)                        |
| number      | every integer type, float, double, decimal(p,s)                     |
| boolean     | boolean                                                             |
| date        | date                                                                |
| timestamp   | timestamp, timestamp_ntz                                            |
| time        | string (Spark has no time type), timestamp                          |
| object      | struct<...>, map<...>                                               |
| map         | map<...>                                                            |
| array       | array<...>                                                          |

A property whose `physicalType` is a string type (`string`, `varchar(n)`, `text`, ...) but
whose `logicalType` is integer/number/boolean/date/timestamp is "stored as string": the
column must be a string, and each value must convert to the logical type (a row rule).
Without `logicalType`, a `physicalType` that names a Spark type gives the logical type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOGICAL_TYPES = (
    "string", "integer", "number", "boolean", "date", "timestamp", "time",
    "object", "map", "array",
)
# ODCS also lists `vector`; Spark has no such type, so it is not checked.
UNCHECKED_LOGICAL_TYPES = ("vector",)

_INTEGER = {"tinyint", "smallint", "int", "bigint", "byte", "short", "integer", "long"}
_FLOATING = {"float", "double", "real"}
_STRINGS = {"string", "varchar", "char", "text", "nvarchar", "nchar", "clob"}

# physicalType (lower-cased, parameters stripped) -> the logical type it implies.
_PHYSICAL_TO_LOGICAL = {
    **{t: "integer" for t in _INTEGER},
    **{t: "number" for t in _FLOATING | {"decimal", "numeric", "number"}},
    **{t: "string" for t in _STRINGS},
    "boolean": "boolean", "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp", "timestamp_ntz": "timestamp", "timestamp_ltz": "timestamp",
    "datetime": "timestamp",
    "struct": "object", "map": "map", "array": "array",
}


@dataclass(frozen=True)
class ColumnType:
    """One column of a schema as a normalized Spark type string."""

    name: str
    type: str
    nullable: bool = True


def base_type(type_string: str) -> str:
    """`decimal(10,2)` -> `decimal`, `array<int>` -> `array`, `BIGINT` -> `bigint`."""
    return re.split(r"[(<\s]", type_string.strip().lower(), maxsplit=1)[0]


def is_string_type(type_string: str | None) -> bool:
    return type_string is not None and base_type(type_string) in _STRINGS


def logical_from_physical(physical_type: str | None) -> str | None:
    """The logical type a `physicalType` implies, or None when it names no known type."""
    if not physical_type:
        return None
    return _PHYSICAL_TO_LOGICAL.get(base_type(physical_type))


def is_compatible(logical_type: str, spark_type: str) -> bool:
    """True when a column of Spark type `spark_type` can hold values of `logical_type`."""
    base = base_type(spark_type)
    if base == "decimal":
        scale = re.search(r"decimal\(\s*\d+\s*,\s*(\d+)\s*\)", spark_type.lower())
        is_integral = scale is not None and scale.group(1) == "0"
        return logical_type == "number" or (logical_type == "integer" and is_integral)
    accepted = {
        "string": _STRINGS,
        "integer": _INTEGER,
        "number": _INTEGER | _FLOATING,
        "boolean": {"boolean"},
        "date": {"date"},
        "timestamp": {"timestamp", "timestamp_ntz", "timestamp_ltz"},
        "time": _STRINGS | {"timestamp", "timestamp_ntz"},
        "object": {"struct", "map"},
        "map": {"map"},
        "array": {"array"},
    }.get(logical_type)
    return accepted is None or base in accepted


def expected_spark_types(logical_type: str) -> str:
    """Human text of the Spark types accepted for a logical type (for error messages)."""
    return {
        "string": "string",
        "integer": "tinyint, smallint, int, bigint or decimal(p,0)",
        "number": "a numeric type (int, bigint, float, double, decimal)",
        "boolean": "boolean",
        "date": "date",
        "timestamp": "timestamp or timestamp_ntz",
        "time": "string or timestamp",
        "object": "struct or map",
        "map": "map",
        "array": "array",
    }.get(logical_type, logical_type)


class DDLParseError(ValueError):
    """A Spark DDL string that this parser cannot read."""


def parse_ddl(ddl: str) -> list[ColumnType]:
    """Columns of a Spark DDL string like `id BIGINT NOT NULL, tags ARRAY<STRING>, d DECIMAL(10,2)`."""
    text = ddl.strip()
    if text.lower().startswith("struct<") and text.endswith(">"):
        text = text[len("struct<"):-1]
    columns = []
    for part in _split_top_level(text):
        match = re.match(r"\s*(`[^`]+`|[A-Za-z_][\w$]*)\s*:?\s*(.+)$", part, flags=re.S)
        if not match:
            raise DDLParseError(f"cannot read column definition '{part.strip()}'")
        name = match.group(1).strip("`")
        rest = re.sub(r"\s+COMMENT\s+'(?:[^'\\]|\\.)*'\s*$", "", match.group(2), flags=re.I)
        not_null = re.search(r"\s+NOT\s+NULL\s*$", rest, flags=re.I)
        if not_null:
            rest = rest[: not_null.start()]
        type_string = re.sub(r"\s+", "", rest).lower()
        if not type_string:
            raise DDLParseError(f"column '{name}' has no type")
        columns.append(ColumnType(name, type_string, nullable=not_null is None))
    return columns


def _split_top_level(text: str) -> list[str]:
    parts, depth, current, quote = [], 0, [], ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'`\"":
            quote = ch
        elif ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current))
    if depth != 0:
        raise DDLParseError("unbalanced '<' / '(' in the schema")
    return [p for p in parts if p.strip()]
