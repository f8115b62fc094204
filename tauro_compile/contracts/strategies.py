"""Who decides what happens to a batch: the node's policy, or a user strategy class.

A strategy is named `module:Class` in the node's `contract.strategy`, built once per query
(no arguments), and asked once per batch, before anything is written:

    class MyStrategy:
        def decide(self, context: StrategyContext) -> Decision | None: ...

Returning None keeps the policy's decision. Its state lives as long as the query: a
restarted query (after a failure or a new `tauro run`) starts counting afresh.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from tauro_compile.contracts.result import BatchValidation, Decision
from tauro_compile.errors import UsageError

Policy = Literal["warn", "drop", "quarantine", "block"]
POLICIES: tuple[str, ...] = ("warn", "drop", "quarantine", "block")
_POLICY_ACTION = {"warn": "write", "drop": "drop", "quarantine": "quarantine", "block": "block"}


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy sees: the batch's validation (not yet written) and the policy's choice."""

    node: str
    batch_id: int
    validation: BatchValidation
    policy: Policy
    policy_decision: Decision
    dataset_id: str | None


@runtime_checkable
class ValidationStrategy(Protocol):
    """Decides per batch; return None to keep `context.policy_decision`."""

    def decide(self, context: StrategyContext) -> Decision | None: ...


def policy_decision(policy: Policy, validation: BatchValidation) -> Decision:
    """The node's policy applied to one batch: only an error-severity failure triggers it."""
    if validation.status != "fail":
        return Decision("write")
    failed = [r for r in validation.rules if not r.passed and r.severity == "error"]
    reason = "; ".join(f"{r.name}: {r.violations} violating rows ({r.threshold})" for r in failed)
    return Decision(_POLICY_ACTION[policy], reason)  # type: ignore[arg-type]


class BlockAfterConsecutiveFailures:
    """Tolerate failing batches, block at the `n`-th failing batch in a row.

    Until then the policy decides, except that a `block` policy writes the batch (the point
    of the strategy is to tolerate a few bad batches); a passing batch resets the count.
    """

    def __init__(self, n: int = 3) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.consecutive_failures = 0

    def decide(self, context: StrategyContext) -> Decision | None:
        if context.validation.status != "fail":
            self.consecutive_failures = 0
            return None
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.n:
            return Decision("block", f"{self.consecutive_failures} failing batches in a row "
                            f"({context.policy_decision.reason})")
        if context.policy_decision.action == "block":
            return Decision("write", f"failing batch {self.consecutive_failures} of {self.n} "
                            "tolerated before blocking")
        return None


def load_strategy(reference: str | Any) -> ValidationStrategy:
    """Build a strategy from `module:Class` (or accept an instance with `decide`)."""
    if not isinstance(reference, str):
        if not isinstance(reference, ValidationStrategy):
            raise UsageError(f"contract strategy {reference!r} has no `decide(context)` method")
        return reference
    module_name, _, class_name = reference.partition(":")
    if not module_name or not class_name:
        raise UsageError(f"contract strategy '{reference}' must be 'module:Class'")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"cannot import contract strategy '{reference}': {exc}",
                         hint="check the module path and that it is on the project's path"
                         ) from None
    try:
        strategy = cls()
    except Exception as exc:
        raise UsageError(f"cannot build contract strategy '{reference}' with no arguments: "
                         f"{exc}") from None
    if not isinstance(strategy, ValidationStrategy):
        raise UsageError(f"contract strategy '{reference}' has no `decide(context)` method")
    return strategy
