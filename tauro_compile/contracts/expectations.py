"""Expectations derived from an ODCS v3 schema object, checked on every micro-batch.

Each rule becomes a metric over the batch and a threshold. All metrics of a batch are
computed together in one aggregation (see `evaluation`); nothing here needs Spark.

| contract                                   | rule name              | violating rows / metric              |
|--------------------------------------------|------------------------|--------------------------------------|
| `required: true`                           | `<col>.required`       | value is null                        |
| `unique: true`                             | `<col>.unique`         | value repeats in the SAME BATCH      |
|                                            |                        | (not across batches: a stream has no |
|                                            |                        | global view; all copies are flagged) |
| logicalType vs column type                 | (schema check)         | checked once at query start          |
| physicalType string + logicalType          | `<col>.logicalType`    | value does not convert (try_cast, or |
| integer/number/boolean/date/timestamp      |                        | `format` for dates/timestamps)       |
| logicalTypeOptions `pattern`               | `<col>.pattern`        | value does not match (RLIKE: the     |
|                                            |                        | regex may match anywhere; anchor it) |
| logicalTypeOptions `minLength`/`maxLength` | `<col>.minLength`, ... | string length out of bounds          |
| logicalTypeOptions `minimum`/`maximum`/    | `<col>.minimum`, ...   | value out of bounds                  |
| `exclusiveMinimum`/`exclusiveMaximum`      |                        |                                      |
| logicalTypeOptions `multipleOf`            | `<col>.multipleOf`     | value % multipleOf != 0              |
| property `enum` (list of values)           | `<col>.enum`           | value not in the list                |
| property quality without `metric`/`query`: | `<col>.<operator>` or  | the value itself fails the operator: |
| `mustBe` (value or list), `mustNotBe`,     | the rule's name/id     | `mustBeGreaterThan: 0` means every   |
| `mustBeGreaterThan`, `mustBeGreaterOrEqualTo`, |                    | value > 0; `mustBe: [a, b]` is an    |
| `mustBeLessThan`, `mustBeLessOrEqualTo`,   |                        | enum                                 |
| `mustBeBetween`, `mustNotBeBetween`        |                        |                                      |
| quality `metric: nullValues`               | rule name or           | count of nulls vs the operators      |
| `missingValues` (args.missingValues)       | `<col>.<metric>`       | null or one of the missing values    |
| `invalidValues` (args.validValues/pattern) |                        | not valid                            |
| `duplicateValues` (args.properties at      |                        | repeats within the batch             |
| schema level)                              |                        |                                      |
| `rowCount`                                 |                        | rows in the batch (needs an operator)|
| quality `type: sql`, `query:`              | rule name or `sql[i]`  | rows matching the WHERE condition    |
| `SELECT COUNT(*) FROM ${object}            |                        | (`${property}`/`${column}` name the  |
| [WHERE <condition>]`                       |                        | column of a property-level rule)     |

Metric rules without an operator mean `mustBe: 0`; `unit: percent` compares the share of
the batch. Value rules and absent values: nulls pass every value rule (use `required`).
`severity: warning` (or `info`) records a failure without applying the node's policy.
Rules of `type: text` are documentation; `type: custom` rules and descriptive formats
(email, uuid, ...) are listed in `Contract.not_enforced`. Only top-level properties are
enforced; nested ones are listed there too. Other SQL forms (joins, GROUP BY, subqueries,
several statements) are rejected when the contract loads: each would need its own job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from open_data_contract_standard.model import DataQuality, SchemaObject, SchemaProperty

from tauro_compile.contracts import rule_names
from tauro_compile.contracts.model import OPERATORS, ColumnSpec, Expectation, Threshold
from tauro_compile.contracts.types import (
    LOGICAL_TYPES,
    UNCHECKED_LOGICAL_TYPES,
    is_string_type,
    logical_from_physical,
)
from tauro_compile.errors import Problem, did_you_mean

Locate = Callable[[tuple[Any, ...]], int | None]
_CONVERTIBLE = ("integer", "number", "boolean", "date", "timestamp")
_WARNING_SEVERITIES = ("warning", "warn", "info")

_COUNT_QUERY = re.compile(
    r"^\s*select\s+count\s*\(\s*(?:\*|1)\s*\)\s+(?:as\s+\w+\s+)?from\s+(?P<object>\S+)"
    r"(?:\s+where\s+(?P<condition>.+?))?\s*;?\s*$",
    flags=re.I | re.S,
)
_FORBIDDEN_SQL = re.compile(
    r"\b(select|join|group\s+by|having|union|intersect|except|order\s+by|limit|over)\b|;",
    flags=re.I,
)
_OBJECT_PLACEHOLDERS = ("${object}", "${table}", "{object}", "{table}", "{{object}}", "{{ object }}")
_COLUMN_PLACEHOLDERS = ("${property}", "${column}", "{property}", "{column}", "{{property}}",
                        "{{ property }}")


def quote(name: str) -> str:
    """A Spark SQL identifier: `name`, backquotes doubled."""
    return "`" + name.replace("`", "``") + "`"


def literal(value: Any) -> str:
    """A Spark SQL literal for a YAML scalar."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class Deriver:
    """Turns one schema object into columns and expectations, collecting problems."""

    def __init__(self, obj: SchemaObject, obj_path: tuple[Any, ...], file: str | None,
                 locate: Locate) -> None:
        self.obj = obj
        self.obj_path = obj_path
        self.file = file
        self.locate = locate
        self.problems: list[Problem] = []
        self.not_enforced: list[str] = []
        self.expectations: list[Expectation] = []
        self.columns: list[ColumnSpec] = []

    def problem(self, path: tuple[Any, ...], message: str, **kw: Any) -> None:
        self.problems.append(Problem(
            message, file=self.file, line=self.locate(path), field=_dotted(path), **kw,
        ))

    def add(self, expectation: Expectation) -> None:
        names = {e.name for e in self.expectations}
        name, n = expectation.name, 2
        while name in names:
            name, n = f"{expectation.name}#{n}", n + 1
        if name != expectation.name:
            expectation = replace(expectation, name=name)
        self.expectations.append(expectation)

    def derive(self) -> None:
        for i, prop in enumerate(self.obj.properties or []):
            self.derive_property(prop, (*self.obj_path, "properties", i))
        for i, rule in enumerate(self.obj.quality or []):
            self.derive_quality(rule, (*self.obj_path, "quality", i), None, f"sql[{i}]")

    def derive_property(self, prop: SchemaProperty, path: tuple[Any, ...]) -> None:
        line = self.locate(path)
        if not prop.name:
            self.problem(path, "a property needs a `name`", expected="the column name",
                         found="nothing")
            return
        col = prop.name
        logical = prop.logicalType
        if logical and logical not in LOGICAL_TYPES + UNCHECKED_LOGICAL_TYPES:
            self.problem((*path, "logicalType"), f"unknown logicalType '{logical}'",
                         expected=", ".join(LOGICAL_TYPES), found=logical,
                         hint=did_you_mean(logical, LOGICAL_TYPES))
            return
        if logical in UNCHECKED_LOGICAL_TYPES:
            self.not_enforced.append(f"{col}: logicalType '{logical}' has no Spark type")
            logical = None
        physical_logical = logical_from_physical(prop.physicalType)
        if logical == "date" and physical_logical == "timestamp":
            # ODCS v3.0's `date` covers dates and date-times; the physicalType says which.
            logical = "timestamp"
        logical = logical or physical_logical
        stored_as_string = logical in _CONVERTIBLE and is_string_type(prop.physicalType)
        spec = ColumnSpec(col, logical, prop.physicalType, bool(prop.required), bool(prop.unique),
                          stored_as_string, line)
        self.columns.append(spec)
        for nested in prop.properties or []:
            self.not_enforced.append(f"{col}.{nested.name}: nested properties are not enforced")
        src = _dotted(path)
        q = quote(col)
        value = _converted(q, spec, prop.logicalTypeOptions or {})
        if prop.required:
            self.add(Expectation(f"{col}.required", f"{col} is not null", "matching_rows",
                                 f"{q} IS NULL", (col,), source=src, line=line))
        if prop.unique:
            self.add(Expectation(f"{col}.unique", f"{col} is unique within a batch",
                                 "duplicates", None, (col,), source=src, line=line))
        if stored_as_string:
            self.add(Expectation(f"{col}.logicalType", f"{col} converts to {logical}",
                                 "matching_rows", f"{q} IS NOT NULL AND {value} IS NULL", (col,),
                                 source=src, line=line))
        self.derive_options(spec, prop.logicalTypeOptions or {}, value, (*path, "logicalTypeOptions"))
        if prop.enum:
            values = [e.value for e in prop.enum]
            self.add(Expectation(f"{col}.enum", f"{col} in {values}", "matching_rows",
                                 f"{value} IS NOT NULL AND {value} NOT IN "
                                 f"({', '.join(literal(v) for v in values)})", (col,),
                                 source=src, line=line))
        for i, rule in enumerate(prop.quality or []):
            self.derive_quality(rule, (*path, "quality", i), spec, f"{col}.quality[{i}]", value)

    def derive_options(self, spec: ColumnSpec, options: dict[str, Any], value: str,
                       path: tuple[Any, ...]) -> None:
        col, q = spec.name, quote(spec.name)
        line, src = self.locate(path), _dotted(path)
        checks = {
            "minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<",
        }

        def add(key: str, description: str, condition: str) -> None:
            self.add(Expectation(f"{col}.{key}", description, "matching_rows",
                                 f"{q} IS NOT NULL AND ({condition})", (col,),
                                 source=src, line=line))

        for key, bound in options.items():
            if key == "pattern":
                try:
                    re.compile(str(bound))
                except re.error as exc:
                    self.problem((*path, key), f"invalid regex pattern: {exc}",
                                 expected="a regular expression", found=str(bound))
                    continue
                add(key, f"{col} matches {bound}", f"NOT ({q} RLIKE {literal(str(bound))})")
            elif key in ("minLength", "maxLength"):
                op = "<" if key == "minLength" else ">"
                add(key, f"{col} {key} {bound}", f"length({q}) {op} {literal(bound)}")
            elif key in checks:
                add(key, f"{col} {checks[key]} {bound}",
                    f"NOT ({value} {checks[key]} {literal(bound)})")
            elif key == "multipleOf":
                add(key, f"{col} multiple of {bound}", f"{value} % {literal(bound)} != 0")
            elif key == "format" and spec.stored_as_string:
                continue  # used by the conversion rule
            elif key in ("format", "timezone", "defaultTimezone", "maxItems", "minItems",
                         "uniqueItems", "maxProperties", "minProperties", "required"):
                self.not_enforced.append(f"{col}: logicalTypeOptions.{key} is not enforced")
            else:
                self.problem((*path, key), f"unknown logicalTypeOptions key '{key}'",
                             expected="pattern, minLength, maxLength, minimum, maximum, "
                             "exclusiveMinimum, exclusiveMaximum, multipleOf, format",
                             found=key, hint=did_you_mean(key, [*checks, "pattern", "minLength",
                                                                "maxLength", "multipleOf"]))

    def derive_quality(self, rule: DataQuality, path: tuple[Any, ...], spec: ColumnSpec | None,
                       default_name: str, value: str | None = None) -> None:
        """One ODCS quality rule: dispatched on its type, library metrics through a table."""
        kind = (rule.type or ("library" if (rule.metric or rule.rule) else "")).lower()
        if kind == "text":
            return
        if kind == "custom":
            self.not_enforced.append(f"{rule.name or default_name}: custom rule "
                                     f"(engine {rule.engine or 'unspecified'})")
            return
        q = QualityRule.of(rule, path, spec, value, self.locate(path))
        if kind == "sql":
            self.derive_sql(rule, path, spec, q.name or default_name, q.operators, q.common)
        elif kind not in ("", "library"):
            self.problem((*path, "type"), f"unknown quality rule type '{rule.type}'",
                         expected="library, sql, text or custom", found=rule.type,
                         hint=did_you_mean(rule.type or "", ["library", "sql", "text", "custom"]))
        elif q.metric is None:
            self.derive_value_rule(q)
        elif rule_names.canonical(q.metric) is None:
            what = "metric" if q.metric_field == "metric" else "rule"
            self.problem((*path, q.metric_field), f"unknown quality {what} '{q.metric}'",
                         expected=", ".join(rule_names.ALL_NAMES), found=q.metric,
                         hint=rule_names.REFUSED_HINTS.get(q.metric.lower())
                         or did_you_mean(q.metric, rule_names.ALL_NAMES))
        else:
            expectation = _HANDLERS[rule_names.canonical(q.metric) or ""](self, q)
            if expectation is not None:
                self.add(expectation)

    def derive_value_rule(self, q: QualityRule) -> None:
        """A property rule without a metric: every value must satisfy the operators."""
        if q.spec is None or q.value is None:
            self.problem(q.path, "a schema-level quality rule needs `metric` or `type: sql`",
                         expected="metric: rowCount|duplicateValues, or type: sql with query",
                         found="neither")
            return
        if not q.operators:
            self.problem(q.path, "a quality rule needs an operator",
                         expected=", ".join(OPERATORS), found="none")
            return
        condition = " OR ".join(_value_violation(q.value, op, bound) for op, bound in q.operators)
        col = q.spec.name
        label = q.name or f"{col}.{'+'.join(op for op, _ in q.operators)}"
        self.add(Expectation(label, f"{col} {_describe(q.operators)}", "matching_rows",
                             f"{quote(col)} IS NOT NULL AND ({condition})", (col,),
                             **{**q.common, "unit": "rows"}))

    def row_count(self, q: QualityRule) -> Expectation | None:
        if not q.operators:
            self.problem(q.path, "a rowCount rule needs an operator",
                         expected="e.g. mustBeGreaterThan: 0", found="none")
            return None
        return Expectation(q.name or "rowCount", f"row count {_describe(q.operators)}",
                           "row_count", None, (), q.threshold, **q.common)

    def duplicate_values(self, q: QualityRule) -> Expectation | None:
        cols = tuple(q.args.get("properties") or ([q.spec.name] if q.spec else []))
        if not cols:
            self.problem((*q.path, "arguments", "properties"),
                         "a schema-level duplicateValues rule needs `arguments.properties`",
                         expected="a list of column names", found="nothing")
            return None
        return Expectation(q.name or f"{'+'.join(cols)}.{q.metric}",
                           f"duplicates of {', '.join(cols)} {q.threshold.describe()}",
                           "duplicates", None, cols, q.threshold, **q.common)

    def null_values(self, q: QualityRule) -> Expectation | None:
        return self._matching_rows(q, lambda col: f"{col} IS NULL")

    def missing_values(self, q: QualityRule) -> Expectation | None:
        missing = [v for v in q.args.get("missingValues", [""]) if v is not None]
        listed = f" OR {{col}} IN ({', '.join(literal(v) for v in missing)})" if missing else ""
        return self._matching_rows(q, lambda col: f"{col} IS NULL" + listed.format(col=col))

    def invalid_values(self, q: QualityRule) -> Expectation | None:
        valid, pattern = q.args.get("validValues"), q.args.get("pattern")
        if valid is None and pattern is None:
            self.problem((*q.path, "arguments"), "invalidValues needs `validValues` or `pattern`",
                         expected="arguments.validValues: [...] or arguments.pattern: '...'",
                         found=str(q.args or "nothing"))
            return None

        def condition(col: str) -> str:
            parts = []
            if valid is not None:
                parts.append(f"{q.value} NOT IN ({', '.join(literal(v) for v in valid)})")
            if pattern is not None:
                parts.append(f"NOT ({col} RLIKE {literal(str(pattern))})")
            return f"{col} IS NOT NULL AND ({' OR '.join(parts)})"

        return self._matching_rows(q, condition)

    def not_null(self, q: QualityRule) -> Expectation | None:
        """dc43's `not_null`/`required`: every value present (operators bound the nulls)."""
        return self._matching_rows(q, lambda col: f"{col} IS NULL")

    def enum(self, q: QualityRule) -> Expectation | None:
        """dc43's `enum`: every value in `mustBe: [...]`."""
        values = q.rule.mustBe
        if not isinstance(values, list) or not values:
            self.problem((*q.path, "mustBe"), f"rule '{q.metric}' needs the allowed values",
                         expected="mustBe: [value, ...]", found=repr(values))
            return None
        listed = ", ".join(literal(v) for v in values)
        return self._matching_rows(q, lambda col: f"{q.value} IS NOT NULL AND {q.value} NOT IN "
                                   f"({listed})", q.threshold_without("mustBe"))

    def regex(self, q: QualityRule) -> Expectation | None:
        """dc43's `regex`: every value matches the pattern in `mustBe` (RLIKE: anchor it)."""
        pattern = q.rule.mustBe
        if not isinstance(pattern, str) or not pattern:
            self.problem((*q.path, "mustBe"), f"rule '{q.metric}' needs a pattern",
                         expected="mustBe: '<regular expression>'", found=repr(pattern))
            return None
        try:
            re.compile(pattern)
        except re.error as exc:
            self.problem((*q.path, "mustBe"), f"invalid regex pattern: {exc}",
                         expected="a regular expression", found=pattern)
            return None
        return self._matching_rows(q, lambda col: f"{col} IS NOT NULL AND NOT ({col} RLIKE "
                                   f"{literal(pattern)})", q.threshold_without("mustBe"))

    def _matching_rows(self, q: QualityRule, condition: Callable[[str], str],
                       threshold: Threshold | None = None) -> Expectation | None:
        """A property-level metric counting the rows where `condition(quoted column)` holds."""
        if q.spec is None or q.value is None:
            self.problem((*q.path, q.metric_field),
                         f"{q.metric_field} '{q.metric}' belongs on a property",
                         expected="a property-level quality rule", found="schema level")
            return None
        col = q.spec.name
        threshold = threshold or q.threshold
        return Expectation(q.name or f"{col}.{q.metric}",
                           f"{q.metric} of {col} {threshold.describe()}", "matching_rows",
                           condition(quote(col)), (col,), threshold, **q.common)

    def derive_sql(self, rule: DataQuality, path: tuple[Any, ...], spec: ColumnSpec | None,
                   name: str, operators: tuple[tuple[str, Any], ...], common: dict[str, Any]) -> None:
        query = (rule.query or "").strip()
        supported = "SELECT COUNT(*) FROM ${object} [WHERE <row condition>]"
        match = _COUNT_QUERY.match(query)
        condition = match.group("condition") if match else None
        if not match or (condition and _FORBIDDEN_SQL.search(condition)):
            self.problem((*path, "query"), "unsupported SQL quality rule: Tauro computes every "
                         "rule in one pass over the batch, so only a row count is supported",
                         expected=supported, found=query or "nothing",
                         hint="express the rule as a condition on one row, e.g. "
                         "SELECT COUNT(*) FROM ${object} WHERE amount < 0")
            return
        target = match.group("object")
        names = {n for n in (self.obj.name, self.obj.physicalName) if n}
        if target not in _OBJECT_PLACEHOLDERS and target.strip("`") not in names:
            self.problem((*path, "query"), f"the query reads '{target}', not this schema object",
                         expected=f"FROM ${{object}} or FROM {self.obj.name}", found=target)
            return
        threshold = Threshold(operators) if operators else Threshold()
        if condition is None:
            self.add(Expectation(name, f"row count {threshold.describe()}", "row_count", None, (),
                                 threshold, **common))
            return
        if spec is not None:
            for placeholder in _COLUMN_PLACEHOLDERS:
                condition = condition.replace(placeholder, quote(spec.name))
        elif any(p in condition for p in _COLUMN_PLACEHOLDERS):
            self.problem((*path, "query"), "${property} is only defined in property-level rules",
                         expected="a column name", found=query)
            return
        self.add(Expectation(name, f"rows where {condition.strip()}: {threshold.describe()}",
                             "matching_rows", f"({condition.strip()})",
                             (spec.name,) if spec else (), threshold, **common))


@dataclass(frozen=True)
class QualityRule:
    """What every handler of one ODCS quality rule needs, read once from the rule."""

    rule: DataQuality
    path: tuple[Any, ...]
    spec: ColumnSpec | None
    value: str | None                     # the column as its logical type (SQL), if a property
    operators: tuple[tuple[str, Any], ...]
    common: dict[str, Any]                # severity, source, line, unit of the Expectation

    @classmethod
    def of(cls, rule: DataQuality, path: tuple[Any, ...], spec: ColumnSpec | None,
           value: str | None, line: int | None) -> QualityRule:
        operators = tuple((op, getattr(rule, op)) for op in OPERATORS
                          if getattr(rule, op) is not None)
        severity = "warning" if (rule.severity or "").lower() in _WARNING_SEVERITIES else "error"
        unit = "percent" if (rule.unit or "").lower() in ("percent", "%") else "rows"
        common = {"severity": severity, "source": _dotted(path), "line": line, "unit": unit}
        return cls(rule, path, spec, value, operators, common)

    @property
    def name(self) -> str | None:
        return self.rule.name or self.rule.id

    @property
    def metric(self) -> str | None:
        return self.rule.metric or self.rule.rule

    @property
    def metric_field(self) -> str:
        """The key the file used for the metric: `metric` (ODCS v3.1) or `rule` (v3.0)."""
        return "metric" if self.rule.metric or not self.rule.rule else "rule"

    @property
    def args(self) -> dict[str, Any]:
        return self.rule.arguments or {}

    @property
    def threshold(self) -> Threshold:
        return Threshold(self.operators) if self.operators else Threshold()

    def threshold_without(self, parameter: str) -> Threshold:
        """The threshold of the operators other than `parameter` (dc43's `mustBe`)."""
        rest = tuple((op, bound) for op, bound in self.operators if op != parameter)
        return Threshold(rest) if rest else Threshold()


_HANDLERS: dict[str, Callable[[Deriver, QualityRule], Expectation | None]] = {
    "nullValues": Deriver.null_values,
    "missingValues": Deriver.missing_values,
    "invalidValues": Deriver.invalid_values,
    "duplicateValues": Deriver.duplicate_values,
    "rowCount": Deriver.row_count,
    "not_null": Deriver.not_null,
    "enum": Deriver.enum,
    "regex": Deriver.regex,
    "unique": Deriver.duplicate_values,
}
LIBRARY_METRICS = rule_names.METRICS  # ODCS v3.1's library metrics, all enforced


def _converted(q: str, spec: ColumnSpec, options: dict[str, Any]) -> str:
    """The column as its logical type (a string column converted with try_cast/format)."""
    if not spec.stored_as_string:
        return q
    fmt = options.get("format")
    if spec.logical_type == "date":
        return f"CAST(try_to_timestamp({q}, {literal(fmt)}) AS DATE)" if fmt else f"try_cast({q} AS DATE)"
    if spec.logical_type == "timestamp":
        return f"try_to_timestamp({q}, {literal(fmt)})" if fmt else f"try_cast({q} AS TIMESTAMP)"
    spark_type = {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN"}[spec.logical_type or ""]
    return f"try_cast({q} AS {spark_type})"


def _value_violation(value: str, op: str, bound: Any) -> str:
    if op in ("mustBe", "mustNotBe"):
        is_list = isinstance(bound, list | tuple)
        test = (f"{value} IN ({', '.join(literal(v) for v in bound)})" if is_list
                else f"{value} = {literal(bound)}")
        return f"NOT ({test})" if op == "mustBe" else f"({test})"
    if op in ("mustBeBetween", "mustNotBeBetween"):
        test = f"{value} BETWEEN {literal(bound[0])} AND {literal(bound[1])}"
        return f"NOT ({test})" if op == "mustBeBetween" else f"({test})"
    sign = {"mustBeGreaterThan": ">", "mustBeGreaterOrEqualTo": ">=", "mustBeLessThan": "<",
            "mustBeLessOrEqualTo": "<="}[op]
    return f"NOT ({value} {sign} {literal(bound)})"


def _describe(operators: tuple[tuple[str, Any], ...]) -> str:
    return ", ".join(f"{op} {bound}" for op, bound in operators)


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
