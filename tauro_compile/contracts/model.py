"""A loaded contract as Tauro enforces it: columns, expectations and their thresholds.

Every expectation is data (a SQL condition string and a threshold), not a Spark object,
so contracts load, print and go into the manifest without a JVM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from tauro_compile.contracts.types import ColumnType

# How an expectation measures one batch.
#   matching_rows: rows for which `condition` is TRUE (e.g. `amount` IS NULL)
#   duplicates:    non-null rows that repeat an earlier value of `columns` in the batch
#   row_count:     rows in the batch
MetricKind = Literal["matching_rows", "duplicates", "row_count"]
Severity = Literal["error", "warning"]

# ODCS comparison operators, applied to a metric (or, for value rules, to each value).
OPERATORS = (
    "mustBe", "mustNotBe", "mustBeGreaterThan", "mustBeGreaterOrEqualTo",
    "mustBeLessThan", "mustBeLessOrEqualTo", "mustBeBetween", "mustNotBeBetween",
)
_UPPER_BOUNDS = ("mustBeLessThan", "mustBeLessOrEqualTo")


@dataclass(frozen=True)
class Threshold:
    """ODCS operators a metric must satisfy; all of them must hold."""

    operators: tuple[tuple[str, Any], ...] = (("mustBe", 0),)

    def passes(self, value: float) -> bool:
        return all(_holds(op, bound, value) for op, bound in self.operators)

    def describe(self) -> str:
        return ", ".join(f"{op} {bound}" for op, bound in self.operators)

    @property
    def bounds_from_above(self) -> bool:
        """True when only too many matching rows can fail it (so those rows are the culprits)."""
        return all(
            op in _UPPER_BOUNDS or (op == "mustBe" and bound == 0) for op, bound in self.operators
        )


def _holds(op: str, bound: Any, value: float) -> bool:
    if op == "mustBe":
        return value == bound
    if op == "mustNotBe":
        return value != bound
    if op == "mustBeGreaterThan":
        return value > bound
    if op == "mustBeGreaterOrEqualTo":
        return value >= bound
    if op == "mustBeLessThan":
        return value < bound
    if op == "mustBeLessOrEqualTo":
        return value <= bound
    if op == "mustBeBetween":
        return bound[0] <= value <= bound[1]
    if op == "mustNotBeBetween":
        return not bound[0] <= value <= bound[1]
    raise ValueError(f"unknown operator {op}")


@dataclass(frozen=True)
class Expectation:
    """One rule checked on every batch; `name` is what results and quarantine rows report."""

    name: str
    description: str
    metric: MetricKind
    condition: str | None = None          # Spark SQL boolean, TRUE for a matching row
    columns: tuple[str, ...] = ()         # columns the rule reads
    threshold: Threshold = field(default_factory=Threshold)
    unit: Literal["rows", "percent"] = "rows"
    severity: Severity = "error"
    source: str = ""                      # where in the contract, e.g. schema[0].properties[1]
    line: int | None = None

    @property
    def row_level(self) -> bool:
        """True when a failure can be pinned on rows (the matching/duplicate ones).

        Otherwise (a row count, or a rule that fails for too *few* matches) a failure
        concerns the whole batch, and every row of the batch counts as violating it.
        """
        return self.metric != "row_count" and self.threshold.bounds_from_above

    def metric_value(self, count: int, rows: int) -> float:
        """The value compared with the threshold: a count, or a percentage of the batch."""
        if self.unit == "percent":
            return 100.0 * count / rows if rows else 0.0
        return count

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "metric": self.metric,
            "condition": self.condition, "columns": list(self.columns),
            "threshold": self.threshold.describe(), "unit": self.unit,
            "severity": self.severity, "source": self.source,
        }


@dataclass(frozen=True)
class ColumnSpec:
    """A contract property as a column: its type expectations."""

    name: str
    logical_type: str | None = None
    physical_type: str | None = None
    required: bool = False
    unique: bool = False
    stored_as_string: bool = False        # a date/number kept in a string column
    line: int | None = None


@dataclass(frozen=True)
class Contract:
    """An ODCS v3 contract reduced to one schema object and its enforceable expectations."""

    id: str
    version: str
    name: str | None
    api_version: str
    object_name: str | None
    columns: tuple[ColumnSpec, ...]
    expectations: tuple[Expectation, ...]
    path: str | None = None
    # Rules present in the contract but not enforced on streams, with the reason.
    not_enforced: tuple[str, ...] = ()
    document: Any = None                  # the validated OpenDataContractStandard model

    def column(self, name: str) -> ColumnSpec | None:
        return next((c for c in self.columns if c.name == name), None)

    def expectation(self, name: str) -> Expectation:
        for e in self.expectations:
            if e.name == name:
                return e
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Summary for the manifest and logs."""
        return {
            "id": self.id, "version": self.version, "name": self.name,
            "api_version": self.api_version, "object": self.object_name, "path": self.path,
            "columns": [c.name for c in self.columns],
            "expectations": [e.to_dict() for e in self.expectations],
            "not_enforced": list(self.not_enforced),
        }


@dataclass(frozen=True)
class SchemaViolation:
    """A column that does not match the contract: missing, or of an incompatible type."""

    column: str
    expected: str
    found: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        return f"column '{self.column}': {self.message} (expected {self.expected}, found {self.found})"


def schema_violations(contract: Contract, columns: list[ColumnType]) -> list[SchemaViolation]:
    """Check typed columns against the contract's columns (see `types` for the type rules)."""
    from tauro_compile.contracts.types import expected_spark_types, is_compatible, is_string_type

    present = {c.name: c for c in columns}
    violations = []
    for spec in contract.columns:
        actual = present.get(spec.name)
        if actual is None:
            if spec.required:
                violations.append(SchemaViolation(
                    spec.name, f"a column '{spec.name}' ({spec.logical_type or 'any type'})",
                    "no such column", "required column is missing", spec.line,
                ))
            continue
        if spec.stored_as_string:
            if not is_string_type(actual.type):
                violations.append(SchemaViolation(
                    spec.name, f"string (physicalType {spec.physical_type})", actual.type,
                    "incompatible type", spec.line,
                ))
        elif spec.logical_type and not is_compatible(spec.logical_type, actual.type):
            violations.append(SchemaViolation(
                spec.name, f"{expected_spark_types(spec.logical_type)} "
                f"(logicalType {spec.logical_type})", actual.type, "incompatible type", spec.line,
            ))
    return violations
