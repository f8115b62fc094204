"""What one micro-batch's validation found and what was done with the batch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "warn", "fail"]
Action = Literal["write", "drop", "quarantine", "block"]


@dataclass(frozen=True)
class RuleResult:
    """One expectation measured on one batch."""

    name: str
    value: float                 # the metric compared with the threshold (count or percent)
    violations: int              # rows that break the rule (all rows for a failed batch rule)
    passed: bool
    severity: str
    threshold: str


@dataclass(frozen=True)
class Decision:
    """What to do with a batch: `write` all, `drop` or `quarantine` the invalid rows, `block`."""

    action: Action
    reason: str | None = None


@dataclass
class BatchValidation:
    """A batch's validation result, as delivered to listeners and stored in run results."""

    node: str
    batch_id: int
    rows: int
    rules: list[RuleResult]
    status: Status
    decision: Action
    contract_id: str
    contract_version: str
    dataset_id: str | None = None
    dataset_version: int | None = None
    quarantine_id: str | None = None
    quarantine_version: int | None = None
    rows_written: int | None = None
    rows_quarantined: int = 0
    reason: str | None = None
    skipped_rules: list[str] = field(default_factory=list)
    # True when the sink already held this batch (a replay): nothing new was written.
    replayed: bool = False

    @property
    def violations(self) -> dict[str, int]:
        """Violating rows per failed rule."""
        return {r.name: r.violations for r in self.rules if not r.passed}

    @property
    def failed_rules(self) -> list[str]:
        return [r.name for r in self.rules if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for batch listeners, live progress and run_results.json)."""
        data = asdict(self)
        data["violations"] = self.violations
        data["metrics"] = {r.name: r.value for r in self.rules}
        del data["rules"]
        return data

    def summary(self) -> str:
        """One line for logs and errors: rules and counts."""
        if not self.failed_rules:
            return f"batch {self.batch_id}: {self.rows} rows, all rules passed"
        parts = ", ".join(f"{name}={count}" for name, count in self.violations.items())
        return f"batch {self.batch_id}: {self.rows} rows, violated {parts}"
