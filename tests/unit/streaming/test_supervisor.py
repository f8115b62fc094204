"""Start order, skip, restart, fail-fast and stop rules of the supervisor, with a fake engine."""

from __future__ import annotations

import pytest
from support.engine_fakes import FakeClock, FakeEngine, Script, node, plan, progress

from tauro_compile.streaming.config import FailurePolicy
from tauro_compile.streaming.engine import NodeStartError
from tauro_compile.streaming.state import NodeState
from tauro_compile.streaming.supervisor import RunSupervisor


def _run(p, engine, clock, **kw):
    sup = RunSupervisor(p, engine, clock=clock, sleep=clock.sleep, poll_interval=0.5, **kw)
    return sup, sup.run()


def _states(outcome) -> dict[str, str]:
    return {r.name: r.state.value for r in outcome.records}


def test_bounded_chain_starts_each_node_after_its_upstream_succeeded() -> None:
    clock = FakeClock()
    scripts = {n: Script(ends_after=3, batches=[progress(0, 10), progress(1, 5)])
               for n in ("a", "b", "c")}
    engine = FakeEngine(clock, scripts)
    _, out = _run(plan(node("a"), node("b", "a"), node("c", "b")), engine, clock)
    assert out.status == "succeeded" and out.exit_code == 0
    assert _states(out) == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    starts = dict(engine.start_log)
    assert starts["b"] >= starts["a"] + 3 and starts["c"] >= starts["b"] + 3
    # progress is re-delivered on every poll, yet each batch counts once
    assert [(r.batches, r.rows_in, r.rows_out) for r in out.records] == [(2, 15, 15)] * 3


def test_independent_nodes_start_together() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {n: Script(ends_after=5) for n in ("x", "y", "z")})
    _, out = _run(plan(node("x"), node("y"), node("z", "x", "y")), engine, clock)
    starts = dict(engine.start_log)
    assert starts["x"] == starts["y"] and starts["z"] >= starts["x"] + 5
    assert out.exit_code == 0


def test_bounded_node_never_succeeds_while_its_query_runs() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=100)})
    sup = RunSupervisor(plan(node("a")), engine, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        sup.step()
        clock.sleep(1)
    assert sup.state.state("a") is NodeState.RUNNING
    clock.sleep(100)
    sup.step()
    assert sup.state.state("a") is NodeState.SUCCEEDED


def test_continuous_downstream_starts_once_upstream_runs_and_its_output_exists() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock)  # nothing ends by itself
    p = plan(node("src", trigger="processing_time"), node("mid", "src", trigger="processing_time"),
             node("snap", "mid"))  # a bounded node after a continuous one
    sup = RunSupervisor(p, engine, clock=clock, sleep=clock.sleep)
    sup.step()
    assert engine.started() == ["src", "mid", "snap"]
    assert engine.ensured == ["src", "mid"]      # empty outputs created so readers can start
    assert {sup.state.state(n) for n in ("src", "mid", "snap")} == {NodeState.RUNNING}


def test_continuous_node_waits_for_ensure_output() -> None:
    clock = FakeClock()

    class NotYet(FakeEngine):
        ready = False

        def ensure_output(self, n):
            return self.ready

    engine = NotYet(clock)
    sup = RunSupervisor(plan(node("a", trigger="processing_time"),
                             node("b", "a", trigger="processing_time")),
                        engine, clock=clock, sleep=clock.sleep)
    sup.step()
    sup.step()
    assert engine.started() == ["a"] and sup.state.state("b") is NodeState.PENDING
    engine.ready = True
    sup.step()
    assert engine.started() == ["a", "b"]


def test_failed_node_skips_descendants_and_unrelated_branch_goes_on() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {
        "a": Script(ends_after=1, errors=["Job aborted: PythonException: Traceback (most recent call last):\n"
                                          "  File \"t.py\", line 3, in f\nValueError: poison value\n\n\tat x.y(Z.java:1)"]),
        "other": Script(ends_after=4),
    })
    _, out = _run(plan(node("a"), node("b", "a"), node("c", "b"), node("other")), engine, clock)
    assert out.exit_code == 1 and out.status == "failed" and out.failed_nodes == ["a"]
    assert _states(out) == {"a": "failed", "b": "skipped", "c": "skipped", "other": "succeeded"}
    by = {r.name: r for r in out.records}
    assert by["b"].reason == "upstream 'a' failed"
    assert by["c"].reason == "upstream 'b' was skipped"
    assert by["a"].reason == "ValueError: poison value"
    assert "at x.y" in by["a"].error  # the full text is kept for run_results


def test_failed_continuous_node_stops_its_running_descendants() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=3, errors=["boom"])})
    _, out = _run(plan(node("a", trigger="processing_time"),
                       node("b", "a", trigger="processing_time")), engine, clock)
    assert _states(out) == {"a": "failed", "b": "stopped"}
    assert out.records[1].reason == "upstream 'a' failed" and out.exit_code == 1


def test_restart_with_doubling_backoff_then_fail() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=1, errors=["e1", "e2", "e3"])})
    policy = {"action": "restart", "max_restarts": 2, "backoff": "2 seconds"}
    _, out = _run(plan(node("a", on_failure=policy), node("b", "a")), engine, clock)
    times = [t for _, t in engine.start_log]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) == 3  # first start + 2 restarts
    # each gap = query lifetime (1 s) + backoff (2 s, then 4 s), within one poll interval
    assert 3 <= gaps[0] < 3.6 and 5 <= gaps[1] < 5.6
    assert _states(out) == {"a": "failed", "b": "skipped"}
    assert out.records[0].attempts == 3 and out.records[0].reason == "e3"


def test_restart_recovers_when_a_later_attempt_succeeds() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=1, errors=["flaky"]),
                                "b": Script(ends_after=1)})
    policy = {"action": "restart", "max_restarts": 3, "backoff": "1 second"}
    _, out = _run(plan(node("a", on_failure=policy), node("b", "a")), engine, clock)
    assert _states(out) == {"a": "succeeded", "b": "succeeded"} and out.exit_code == 0
    assert out.records[0].attempts == 2


def test_start_errors_follow_the_policy_unless_not_retryable() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {
        "a": Script(ends_after=1, start_errors=[NodeStartError("broker down")]),
        "b": Script(start_errors=[NodeStartError("bad config", retryable=False)]),
    })
    policy = {"action": "restart", "max_restarts": 1, "backoff": "1 second"}
    _, out = _run(plan(node("a", on_failure=policy), node("b", on_failure=policy)), engine, clock)
    assert _states(out) == {"a": "succeeded", "b": "failed"}
    assert engine.attempts == {"a": 2, "b": 1}


def test_fail_fast_stops_everything_downstream_first() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"bad": Script(ends_after=2, errors=["boom"])})
    p = plan(node("s1", trigger="processing_time"), node("s2", "s1", trigger="processing_time"),
             node("bad"), node("later", "bad"), node("waiting", "s2", "bad"), fail_fast=True)
    _, out = _run(p, engine, clock)
    assert engine.stop_order == ["s2", "s1"]
    assert _states(out) == {"s1": "stopped", "s2": "stopped", "bad": "failed",
                            "later": "skipped", "waiting": "skipped"}
    assert out.exit_code == 1
    assert {r.name: r.reason for r in out.records}["s1"] == "fail-fast: node 'bad' failed"


def test_without_fail_fast_continuous_unrelated_nodes_keep_running() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"bad": Script(ends_after=2, errors=["boom"])})
    sup = RunSupervisor(plan(node("s1", trigger="processing_time"), node("bad")), engine,
                        clock=clock, sleep=clock.sleep)
    for _ in range(10):
        sup.step()
        clock.sleep(1)
    assert sup.state.state("bad") is NodeState.FAILED
    assert sup.state.state("s1") is NodeState.RUNNING


def test_stop_request_stops_downstream_first_and_exits_zero() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"done": Script(ends_after=1)})
    p = plan(node("done"), node("a", trigger="processing_time"),
             node("b", "a", trigger="processing_time"), node("c", "b", trigger="processing_time"),
             node("after", "c"))
    sup = RunSupervisor(p, engine, clock=clock, sleep=clock.sleep)
    for _ in range(4):
        sup.step()
        clock.sleep(1)
    sup.request_stop()
    sup.request_stop("second call is ignored")
    out = sup.run()
    assert engine.stop_order == ["after", "c", "b", "a"]  # reverse topological
    assert _states(out) == {"done": "succeeded", "a": "stopped", "b": "stopped",
                            "c": "stopped", "after": "stopped"}
    assert out.status == "stopped" and out.exit_code == 0
    assert {r.reason for r in out.records if r.name != "done"} == {"stopped by signal"}


def test_upstream_outside_the_plan_counts_as_available() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"b": Script(ends_after=1)})
    _, out = _run(plan(node("b", "not_selected")), engine, clock)
    assert _states(out) == {"b": "succeeded"}


@pytest.mark.parametrize(("attempt", "expected"), [(1, 5), (2, 10), (3, 20), (10, 300)])
def test_restart_delay_doubles_and_is_capped(attempt: int, expected: float) -> None:
    policy = FailurePolicy(action="restart", max_restarts=10, backoff="5 seconds")
    assert policy.restart_delay(attempt - 1) == expected
    assert FailurePolicy(action="restart", max_restarts=attempt - 1).restart_delay(attempt - 1) \
        is None  # no restart left
    assert FailurePolicy(action="fail").restart_delay(0) is None


def test_engine_bug_at_start_fails_the_node_not_the_run() -> None:
    clock = FakeClock()

    class Broken(FakeEngine):
        def start(self, n):
            raise RuntimeError("engine exploded")

    _, out = _run(plan(node("a")), Broken(clock), clock)
    assert _states(out) == {"a": "failed"} and out.records[0].reason == "RuntimeError: engine exploded"


def test_plan_order_is_made_topological() -> None:
    from tauro_compile.streaming.supervisor import topological_order

    nodes = [node("c", "b"), node("b", "a"), node("a"), node("z")]
    assert [n.name for n in topological_order(nodes)] == ["a", "z", "b", "c"]
