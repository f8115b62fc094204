"""Errors of the contracts package: an invalid contract file, a stream that breaks its contract."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tauro_compile.errors import EXIT_INVALID, Problem, RunError, TauroError

if TYPE_CHECKING:
    from tauro_compile.contracts.model import SchemaViolation


class ContractError(TauroError):
    """A contract file is missing or invalid; `.problems` says where and why (exit code 2)."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        where = self.problems[0].file if self.problems and self.problems[0].file else "contract"
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in {where}")

    def render(self) -> str:
        return self.message + ":\n\n" + "\n\n".join(p.render() for p in self.problems)


class ContractSchemaError(RunError):
    """The stream's schema does not match the contract; raised before anything is written."""

    def __init__(self, node: str, contract_id: str, violations: list[SchemaViolation],
                 rule_errors: list[str] | None = None) -> None:
        self.node = node
        self.contract_id = contract_id
        self.violations = list(violations)
        self.rule_errors = list(rule_errors or [])
        found = [*self.violations, *self.rule_errors]
        lines = "\n".join(f"  - {v}" for v in found)
        # The first line is what a terminal summary shows: it names the column itself.
        first = str(found[0]) if found else "no detail"
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        super().__init__(
            f"node '{node}': the stream's schema breaks contract '{contract_id}': "
            f"{first}{more}; nothing was written:\n{lines}",
            hint="fix the transforms or the contract; the sink was left untouched",
        )


class ContractViolationError(RunError):
    """A batch was blocked by the contract policy; the sink does not contain it."""

    def __init__(self, node: str, batch_id: int, reason: str, result: Any = None) -> None:
        self.node = node
        self.batch_id = batch_id
        self.reason = reason
        self.result = result
        super().__init__(f"node '{node}', batch {batch_id} blocked by its contract: {reason}")
