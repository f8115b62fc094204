"""Policy decisions and the shipped BlockAfterConsecutiveFailures strategy (no Spark)."""

from __future__ import annotations

import pytest

from tauro_compile.contracts.result import BatchValidation, Decision, RuleResult
from tauro_compile.contracts.strategies import (
    BlockAfterConsecutiveFailures,
    StrategyContext,
    load_strategy,
    policy_decision,
)
from tauro_compile.errors import UsageError


def validation(batch_id: int, failing: bool, severity: str = "error") -> BatchValidation:
    rule = RuleResult("amount.positive", 2 if failing else 0, 2 if failing else 0, not failing,
                      severity, "mustBe 0")
    status = "ok" if not failing else ("fail" if severity == "error" else "warn")
    return BatchValidation("orders", batch_id, 10, [rule], status, "write", "c", "1")


def context(v: BatchValidation, policy: str) -> StrategyContext:
    return StrategyContext("orders", v.batch_id, v, policy, policy_decision(policy, v), None)


@pytest.mark.parametrize(("policy", "action"), [
    ("warn", "write"), ("drop", "drop"), ("quarantine", "quarantine"), ("block", "block"),
])
def test_policy_decision(policy: str, action: str) -> None:
    decision = policy_decision(policy, validation(0, failing=True))
    assert decision.action == action and "amount.positive: 2 violating rows" in decision.reason
    assert policy_decision(policy, validation(0, failing=False)) == Decision("write")
    assert policy_decision(policy, validation(0, True, severity="warning")).action == "write"


def test_block_after_consecutive_failures() -> None:
    strategy = BlockAfterConsecutiveFailures(n=3)
    actions = []
    for batch_id, failing in enumerate([True, True, False, True, True, True]):
        v = validation(batch_id, failing)
        chosen = strategy.decide(context(v, "block")) or policy_decision("block", v)
        actions.append(chosen.action)
    assert actions == ["write", "write", "write", "write", "write", "block"]


def test_block_after_failures_keeps_a_quarantine_policy_until_blocking() -> None:
    strategy = BlockAfterConsecutiveFailures(n=2)
    first = strategy.decide(context(validation(0, True), "quarantine"))
    second = strategy.decide(context(validation(1, True), "quarantine"))
    assert first is None and second.action == "block"


def test_load_strategy() -> None:
    ref = "tauro_compile.contracts.strategies:BlockAfterConsecutiveFailures"
    assert isinstance(load_strategy(ref), BlockAfterConsecutiveFailures)
    with pytest.raises(UsageError, match="module:Class"):
        load_strategy("nocolon")
    with pytest.raises(UsageError, match="cannot import"):
        load_strategy("tauro_compile.contracts.strategies:Nope")
    with pytest.raises(UsageError, match="no arguments"):
        load_strategy("tauro_compile.contracts.result:Decision")
    with pytest.raises(UsageError, match="decide"):
        load_strategy("collections:OrderedDict")
