"""Stall detection and the Spark driver's death in the supervisor, with a fake engine."""

from __future__ import annotations

from typing import Any

from support.engine_fakes import FakeClock, FakeEngine, FakeHandle, Script, node, plan, progress

from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.engine import QueryActivity
from tauro_compile.streaming.plan import PlannedNode
from tauro_compile.streaming.state import NodeState
from tauro_compile.streaming.supervisor import RunSupervisor


def continuous(name: str, *deps: str, stall_after: str | None = "10 seconds",
               on_stall: str = "warn", on_failure: dict[str, Any] | None = None) -> PlannedNode:
    streaming: dict[str, Any] = {"trigger": {"type": "processing_time", "interval": "1 second"},
                                 "checkpoint_location": f"/ckpt/{name}", "on_stall": on_stall}
    if stall_after:
        streaming["stall_after"] = stall_after
    config = NodeConfig.model_validate({
        "name": name, "input": {"format": "rate"},
        "output": {"format": "delta", "path": f"/out/{name}"},
        "streaming": streaming, "on_failure": on_failure or {}})
    return PlannedNode(name=name, unique_id=f"proj.{name}", config=config, depends_on=deps)


class ActivityHandle(FakeHandle):
    """A handle whose idle events and backlog the test sets."""

    backlog: int | None = None
    last_event_at: float | None = None

    def activity(self) -> QueryActivity:
        return QueryActivity(self.last_event_at, self.backlog)


class ActivityEngine(FakeEngine):
    def __init__(self, clock: FakeClock, scripts: dict[str, Script] | None = None) -> None:
        super().__init__(clock, scripts)
        self.exit_reason: str | None = None
        self.calls_after_death = 0

    def start(self, node: PlannedNode) -> ActivityHandle:
        handle = super().start(node)
        handle.__class__ = ActivityHandle
        return handle  # type: ignore[return-value]

    def driver_exit(self) -> str | None:
        return self.exit_reason


def _sup(p, engine, clock) -> RunSupervisor:
    return RunSupervisor(p, engine, clock=clock, sleep=clock.sleep, poll_interval=1.0)


def _advance(sup: RunSupervisor, clock: FakeClock, seconds: float) -> None:
    for _ in range(int(seconds)):
        clock.sleep(1.0)
        sup.step()


def test_a_query_that_reports_nothing_becomes_stalled_and_recovers_with_progress() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock)
    sup = _sup(plan(continuous("a")), engine, clock)
    sup.step()
    assert sup.state.state("a") is NodeState.RUNNING
    _advance(sup, clock, 10)
    assert sup.state.state("a") is NodeState.RUNNING           # not beyond the bound yet
    _advance(sup, clock, 2)
    record = sup.state.get("a")
    assert record.state is NodeState.STALLED and record.stalls == 1
    assert record.reason.startswith("stalled: no progress reported for 1") and "10s" in record.reason
    engine.handles["a"].script.batches.append(progress(0, 5))   # a batch runs again
    sup.step()
    assert sup.state.state("a") is NodeState.RUNNING
    assert sup.state.get("a").stalled_since is None


def test_idle_events_without_backlog_are_not_a_stall_but_a_backlog_is() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock)
    sup = _sup(plan(continuous("a")), engine, clock)
    sup.step()
    handle = engine.handles["a"]
    for _ in range(30):                     # idle: Spark reports, nothing to read
        handle.last_event_at = clock()
        _advance(sup, clock, 1)
    assert sup.state.state("a") is NodeState.RUNNING
    handle.backlog = 500                    # now input waits and no batch runs
    handle.last_event_at = clock()
    _advance(sup, clock, 1)
    record = sup.state.get("a")
    assert record.state is NodeState.STALLED
    assert "backlog of 500" in record.reason


def test_on_stall_restart_restarts_the_query_and_counts_it() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock)
    p = plan(continuous("a", on_stall="restart", on_failure={"backoff": "1 second"}))
    sup = _sup(p, engine, clock)
    sup.step()
    _advance(sup, clock, 11)
    assert engine.stop_order == ["a"]
    assert sup.state.get("a").reason.startswith("restart 1/3 in 1s after a stall: no progress")
    _advance(sup, clock, 2)
    assert engine.attempts["a"] == 2 and sup.state.state("a") is NodeState.RUNNING
    assert sup.state.get("a").restarts == 1


def test_on_stall_fail_fails_the_node_and_skips_nothing_else() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock)
    sup = _sup(plan(continuous("a", on_stall="fail"), continuous("b", stall_after=None)),
               engine, clock)
    sup.step()
    _advance(sup, clock, 12)
    a = sup.state.get("a")
    assert a.state is NodeState.FAILED and "stalled: no progress reported" in a.reason
    assert sup.state.state("b") is NodeState.RUNNING   # default bound: 5 minutes


def test_default_stall_bound_is_ten_intervals_and_at_least_five_minutes() -> None:
    assert continuous("a", stall_after=None).config.streaming.stall_seconds() == 300
    assert node("b").config.streaming.stall_seconds() is None          # bounded: off
    slow = NodeConfig.model_validate({
        "name": "c", "input": {"format": "rate"}, "output": {"format": "console"},
        "streaming": {"trigger": {"type": "processing_time", "interval": "1 minute"}}})
    assert slow.streaming.stall_seconds() == 600


def test_driver_death_fails_every_unfinished_node_and_touches_no_handle() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock, {"late": Script()})
    p = plan(continuous("a"), continuous("b", "a"))
    sup = _sup(p, engine, clock)
    sup.step()
    sup.step()
    assert sup.state.state("b") is NodeState.RUNNING
    engine.exit_reason = "the Spark driver exited (killed by signal 9 (SIGKILL))"

    def boom() -> bool:
        raise ConnectionRefusedError("py4j")

    dying = type("Dying", (ActivityHandle,), {"is_active": property(lambda self: boom())})
    for handle in engine.handles.values():
        handle.__class__ = dying
    outcome = sup.run()
    assert outcome.status == "failed" and outcome.exit_code == 1
    assert {r.name: (r.state, r.reason) for r in outcome.records} == {
        "a": (NodeState.FAILED, engine.exit_reason), "b": (NodeState.FAILED, engine.exit_reason)}
    assert sup.driver_exit == engine.exit_reason
    assert engine.stop_order == []          # no call into a dead JVM


def test_an_engine_error_while_the_driver_lives_is_still_a_bug() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock)
    sup = _sup(plan(continuous("a")), engine, clock)
    sup.step()
    engine.handles["a"].__class__ = type("Buggy", (ActivityHandle,), {"is_active": property(
        lambda self: (_ for _ in ()).throw(RuntimeError("bug")))})
    try:
        sup.step()
    except RuntimeError as exc:
        assert str(exc) == "bug"
    else:
        raise AssertionError("a runner bug must not be hidden")


def test_a_stop_the_driver_did_not_survive_is_not_a_clean_stop() -> None:
    clock = FakeClock()
    engine = ActivityEngine(clock)
    sup = _sup(plan(continuous("a")), engine, clock)
    sup.step()

    def stop(self) -> None:
        engine.exit_reason = "the Spark driver exited (exit code 143)"
        raise ConnectionError("gone")

    engine.handles["a"].__class__ = type("Unstoppable", (ActivityHandle,), {"stop": stop})
    sup.request_stop("stopped by SIGTERM")
    outcome = sup.run()
    assert outcome.exit_code == 1
    assert outcome.records[0].state is NodeState.FAILED
    assert outcome.records[0].reason.startswith("not stopped cleanly: the Spark driver exited")
