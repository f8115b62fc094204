"""The node state machine: allowed transitions, timestamps, exact batch counting."""

from __future__ import annotations

import threading

import pytest

from tauro_compile.streaming.state import (
    ALLOWED_TRANSITIONS,
    BATCH_RESULTS_KEPT,
    BatchProgress,
    IllegalTransition,
    NodeRecord,
    NodeState,
    RunState,
)


def _state(clock: list[float] | None = None) -> RunState:
    t = clock or [0.0]
    return RunState([NodeRecord(name="a", unique_id="p.a", bounded=True)], clock=lambda: t[0])


def test_happy_path_sets_attempts_and_timestamps() -> None:
    t = [10.0]
    s = _state(t)
    s.transition("a", NodeState.STARTING)
    t[0] = 12.0
    s.transition("a", NodeState.RUNNING)
    t[0] = 15.5
    s.transition("a", NodeState.SUCCEEDED)
    r = s.get("a")
    assert (r.state, r.attempts, r.started_at, r.ended_at) == (NodeState.SUCCEEDED, 1, 10.0, 15.5)
    assert r.duration_s(99.0) == 5.5


@pytest.mark.parametrize("old", list(NodeState))
@pytest.mark.parametrize("new", list(NodeState))
def test_every_transition_outside_the_table_raises(old: NodeState, new: NodeState) -> None:
    s = _state()
    s._records["a"].state = old
    if new in ALLOWED_TRANSITIONS[old]:
        s.transition("a", new)
        assert s.state("a") is new
    else:
        with pytest.raises(IllegalTransition, match=f"{old.value} -> {new.value}"):
            s.transition("a", new)
        assert s.state("a") is old


def test_terminal_states_have_no_way_out() -> None:
    for st in (NodeState.SUCCEEDED, NodeState.FAILED, NodeState.SKIPPED, NodeState.STOPPED):
        assert st.terminal and not ALLOWED_TRANSITIONS[st]
    assert not NodeState.RUNNING.terminal


def test_restart_goes_back_to_pending_and_counts_attempts() -> None:
    s = _state()
    s.transition("a", NodeState.STARTING)
    s.transition("a", NodeState.RUNNING)
    s.transition("a", NodeState.PENDING, reason="restart 1/3", error="boom", not_before=5.0)
    r = s.get("a")
    assert (r.state, r.error, r.not_before, r.ended_at) == (NodeState.PENDING, "boom", 5.0, None)
    s.transition("a", NodeState.STARTING)
    assert s.get("a").attempts == 2


def test_progress_is_counted_once_per_batch_id() -> None:
    s = _state()
    p0 = BatchProgress(batch_id=0, input_rows=5, rows_out=4)
    p1 = BatchProgress(batch_id=1, input_rows=7, rows_out=None)
    assert s.add_progress("a", p0) is True
    assert s.add_progress("a", p0) is False
    assert s.add_progress("a", p1) is True
    r = s.get("a")
    assert (r.batches, r.rows_in, r.rows_out, r.last_progress) == (2, 12, 4, p1)


def test_batch_results_keep_the_latest_and_sum_totals() -> None:
    s = _state()
    for i in range(BATCH_RESULTS_KEPT + 10):
        s.add_batch_result("a", {"batch_id": i, "violations": 2, "policy": "warn",
                                 "outputs": {"main": {"rows": 3, "version": i, "committed": True}}})
        s.add_progress("a", BatchProgress(batch_id=i, input_rows=3))
    r = s.get("a")
    assert len(r.batch_results) == BATCH_RESULTS_KEPT
    assert r.batch_results[0]["batch_id"] == 10
    n = BATCH_RESULTS_KEPT + 10
    assert r.batch_totals == {"violations": 2 * n, "outputs.main.rows": 3 * n}
    s.add_batch_result("unknown", {"batch_id": 1})  # a listener for a node not in the run


def test_a_batch_counts_in_the_totals_once_spark_committed_it() -> None:
    """The writer reports a batch before Spark commits it; a stop in between means Spark
    runs that batch again, so its counts wait for its progress (and a replay counts once)."""
    s = _state()
    result = {"batch_id": 0, "rows_written": 5, "outputs": {"main": {"rows": 5}}}
    s.add_batch_result("a", result)
    assert s.get("a").batch_totals == {} and len(s.get("a").batch_results) == 1
    s.add_batch_result("a", result)  # the same batch written again after a restart
    s.add_progress("a", BatchProgress(batch_id=0, input_rows=5))
    s.add_batch_result("a", {**result, "batch_id": 1})  # written, then the query stopped
    r = s.get("a")
    assert (r.rows_in, r.written_rows()) == (5, 5)
    assert r.batch_totals == {"rows_written": 5, "outputs.main.rows": 5}


def test_a_blocked_batch_counts_at_once_since_it_never_commits() -> None:
    s = _state()
    s.add_batch_result("a", {"batch_id": 4, "aborted": "contract blocked",
                             "metrics": {"contract": {"violations": {"r1": 3}}}})
    assert s.get("a").batch_totals == {"metrics.contract.violations.r1": 3}


def test_listeners_see_each_transition_and_threads_do_not_lose_progress() -> None:
    s = _state()
    seen: list[tuple[str, str]] = []
    s.on_change(lambda name, old, new, rec: seen.append((old.value, new.value)))
    s.transition("a", NodeState.STARTING)
    s.transition("a", NodeState.RUNNING)
    assert seen == [("pending", "starting"), ("starting", "running")]

    def feed(offset: int) -> None:
        for i in range(500):
            s.add_progress("a", BatchProgress(batch_id=(i * 4 + offset) // 2, input_rows=1))

    threads = [threading.Thread(target=feed, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.get("a").batches == s.get("a").rows_in == 1000


def test_rows_written_prefer_the_writers_main_output_count() -> None:
    s = _state()
    s.add_progress("a", BatchProgress(batch_id=0, input_rows=10, rows_out=10))
    assert s.get("a").written_rows() == 10
    s.add_batch_result("a", {"batch_id": 0, "rows_written": 10,
                             "outputs": {"main": {"rows": 8}, "quarantine": {"rows": 2}}})
    assert s.get("a").written_rows() == 8
