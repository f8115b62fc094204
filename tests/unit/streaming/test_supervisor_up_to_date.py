"""Bounded nodes with no new input are not started: when, and when never."""

from __future__ import annotations

from support.engine_fakes import FakeClock, FakeEngine, Script, node, plan, progress

from tauro_compile.streaming.state import NodeState
from tauro_compile.streaming.supervisor import RunSupervisor

REASON = "up to date: its checkpoint has read /out/a to its latest version 3"


def _run(p, engine, clock):
    return RunSupervisor(p, engine, clock=clock, sleep=clock.sleep, poll_interval=0.5).run()


def test_downstream_of_an_upstream_without_batches_succeeds_unstarted_when_caught_up() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=1)})
    engine.up_to_date = {"b": REASON, "c": "up to date: c"}
    out = _run(plan(node("a"), node("b", "a"), node("c", "b")), engine, clock)
    assert out.status == "succeeded"
    assert engine.started() == ["a"]          # b and c never started a query
    records = {r.name: r for r in out.records}
    assert (records["b"].state, records["b"].reason, records["b"].batches) == (
        NodeState.SUCCEEDED, REASON, 0)
    assert records["b"].started_at is None and records["c"].state is NodeState.SUCCEEDED


def test_a_node_whose_upstream_ran_a_batch_is_started_without_asking() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=1, batches=[progress(0, 5)]),
                                "b": Script(ends_after=1)})
    engine.up_to_date = {"b": REASON}
    out = _run(plan(node("a"), node("b", "a")), engine, clock)
    assert engine.started() == ["a", "b"] and "b" not in engine.up_to_date_asked
    assert {r.name: r.state for r in out.records} == {"a": NodeState.SUCCEEDED,
                                                      "b": NodeState.SUCCEEDED}


def test_a_node_the_engine_cannot_vouch_for_is_started() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=1), "b": Script(ends_after=1)})
    _run(plan(node("a"), node("b", "a")), engine, clock)
    assert engine.started() == ["a", "b"] and engine.up_to_date_asked == ["a", "b"]


def test_a_bounded_source_node_is_asked_too_and_not_started_when_caught_up() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {}, outputs={"a", "b"})
    engine.up_to_date = {"a": "up to date: every file read", "b": REASON}
    out = _run(plan(node("a"), node("b", "a")), engine, clock)
    assert out.status == "succeeded" and engine.started() == []
    assert engine.up_to_date_asked == ["a", "b"]
    records = {r.name: r for r in out.records}
    assert (records["a"].state, records["a"].reason) == (NodeState.SUCCEEDED,
                                                         "up to date: every file read")


def test_continuous_nodes_are_always_started_and_never_asked() -> None:
    clock = FakeClock()
    engine = FakeEngine(clock, {"a": Script(ends_after=1)}, outputs={"a", "s"})
    engine.up_to_date = {"s": REASON}
    sup = RunSupervisor(plan(node("a"), node("s", "a", trigger="processing_time")), engine,
                        clock=clock, sleep=clock.sleep, poll_interval=0.5)
    for _ in range(10):
        sup.step()
        clock.sleep(0.5)
    # the bounded source is asked (the fake cannot vouch for it: started), `s` never
    assert engine.started() == ["a", "s"] and engine.up_to_date_asked == ["a"]
    sup.request_stop()
    sup.run()
