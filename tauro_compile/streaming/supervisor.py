"""Supervise a RunPlan: start nodes in dependency order, watch them, restart, skip, stop.

Start rules (DESIGN.md section 4):

- a bounded node (available_now/once) starts when every upstream has succeeded; an
  upstream that is continuous only has to be running with its output existing;
- a bounded node is not started at all, and succeeds at once with an `up to date` reason,
  when every upstream of the plan succeeded in this run without a batch and the engine
  says its checkpoint has already read everything its input holds (`input_up_to_date`):
  a no-op scheduled run then costs only its sources' checks;
- a continuous node (processing_time/continuous) starts when every upstream is running
  or has succeeded and its output exists (the engine may create an empty Delta table);
- an upstream that is not in the plan (left out by `--select`) is taken as available.

A bounded node succeeds only when its query terminated without an exception. A failed
node restarts with doubling backoff when its policy says so, up to `max_restarts`; then it
is failed, its pending descendants are skipped with the reason, its running descendants are
stopped (they would wait forever on a dead input), and unrelated branches go on; with
`fail_fast` every other node is stopped or skipped at once. `request_stop()` (from a signal
handler) stops every query, downstream first. The loop ends when every node is terminal.

Stalls: a started node with no new batch for its `stall_seconds()`, while its input has a
backlog or its query reported nothing at all (no idle event either) in that time, becomes
`stalled`; `on_stall` then decides: `warn` (stay stalled until progress resumes), `restart`
(stop and start the query again, counted as a restart) or `fail`.

Driver death: every pass asks the engine whether its driver is gone (`driver_exit`); when it
is, or when a call into Spark fails and the driver turns out to be gone, every unfinished
node is failed with that reason and the loop ends: no more calls into a dead JVM. A stop
that could not complete because the driver went away fails the node too: the run then
never reports a clean stop it did not make.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK
from tauro_compile.streaming.config import FailurePolicy
from tauro_compile.streaming.engine import NodeStartError, QueryActivity, QueryEngine, QueryHandle
from tauro_compile.streaming.node_failures import explain_failure
from tauro_compile.streaming.plan import PlannedNode, RunPlan, topological_generations
from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState

DRIVER_EXIT_GRACE_SECONDS = 3.0   # after a failed JVM call, how long to wait for the exit
BatchCallback = Callable[[str, BatchProgress], None]
TickCallback = Callable[[RunState], None]


@dataclass
class RunOutcome:
    """How a run ended."""

    status: str                      # succeeded | failed | stopped
    exit_code: int
    failed_nodes: list[str] = field(default_factory=list)
    records: list[NodeRecord] = field(default_factory=list)


def topological_order(nodes: tuple[PlannedNode, ...] | list[PlannedNode]) -> list[PlannedNode]:
    """`nodes` with every node after its upstreams (generations, ties by name)."""
    by_name = {n.name: n for n in nodes}
    generations = topological_generations({n.name: n.depends_on for n in nodes})
    return [by_name[name] for generation in generations for name in generation]


class RunSupervisor:
    """Drives every node of a plan through its state machine until all are terminal."""

    def __init__(self, plan: RunPlan, engine: QueryEngine, *, fail_fast: bool = False,
                 poll_interval: float = 0.2, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.plan = plan
        self.engine = engine
        self.fail_fast = fail_fast or plan.fail_fast
        self.poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep
        self._order = topological_order(plan.nodes)
        self._nodes = {n.name: n for n in self._order}
        self._children: dict[str, list[str]] = {n.name: [] for n in self._order}
        for n in self._order:
            for up in n.depends_on:
                if up in self._children:
                    self._children[up].append(n.name)
        self.state = RunState(
            (NodeRecord(name=n.name, unique_id=n.unique_id, bounded=n.bounded,
                        checkpoint_location=n.config.streaming.checkpoint_location)
             for n in self._order),
            clock=clock,
        )
        engine.on_batch_result = self.state.add_batch_result
        self._handles: dict[str, QueryHandle] = {}
        self._stall_bounds = {n.name: n.config.streaming.stall_seconds() for n in self._order}
        self.driver_exit: str | None = None
        self._stop_reason: str | None = None
        self._stopped_by_request = False
        self._batch_callbacks: list[BatchCallback] = []
        self._tick_callbacks: list[TickCallback] = []

    # -- wiring -------------------------------------------------------------------------
    def on_batch(self, callback: BatchCallback) -> None:
        self._batch_callbacks.append(callback)

    def on_tick(self, callback: TickCallback) -> None:
        self._tick_callbacks.append(callback)

    def request_stop(self, reason: str = "stopped by signal") -> None:
        """Ask the loop to stop every node; safe to call from a signal handler (sets a flag)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    @property
    def stop_requested(self) -> bool:
        return self._stop_reason is not None

    # -- the loop -----------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Supervise until every node is terminal; return the outcome."""
        while not self.state.all_terminal():
            self.step()
            if self.state.all_terminal():
                break
            try:
                self._wait()
            except Exception:
                self._on_engine_error()
        self._tick()
        return self.outcome()

    def step(self) -> None:
        """One pass; a failure that turns out to be the driver's death ends the run cleanly."""
        try:
            self._step()
        except Exception:
            self._on_engine_error()
        self._tick()

    def _on_engine_error(self) -> None:
        """A call into the engine raised: the driver's death, else a bug to re-raise."""
        deadline = self._clock() + DRIVER_EXIT_GRACE_SECONDS
        while True:
            reason = self._driver_exit()
            if reason is not None:
                self._driver_died(reason)
                return
            if self._clock() >= deadline:
                raise
            self._sleep(0.1)

    def _driver_exit(self) -> str | None:
        check = getattr(self.engine, "driver_exit", None)
        return check() if callable(check) else None

    def _driver_died(self, reason: str) -> None:
        """Fail every unfinished node with the driver's reason; never call the engine again."""
        self.driver_exit = reason
        self._handles.clear()
        tail = getattr(self.engine, "driver_log_tail", None)
        detail = reason + (f"\n\nlast lines of the driver log:\n{tail()}" if callable(tail)
                           else "")
        for node in reversed(self._order):
            if not self.state.state(node.name).terminal:
                self.state.transition(node.name, NodeState.FAILED, reason=reason,
                                      error=detail, error_summary=reason)

    def _step(self) -> None:
        """One pass: honour a stop request, poll running queries, skip, start what can start."""
        reason = self._driver_exit()
        if reason is not None:
            self._driver_died(reason)
            return
        if self._stop_reason is not None and not self._stopped_by_request:
            self._stopped_by_request = True
            self._stop_all(self._stop_reason, pending_state=NodeState.STOPPED)
        self._poll_running()
        self._propagate_skips()
        if self._stop_reason is None:
            self._start_ready()

    def outcome(self) -> RunOutcome:
        records = self.state.snapshot()
        failed = [r.name for r in records if r.state is NodeState.FAILED]
        if failed:
            return RunOutcome("failed", EXIT_NODE_FAILED, failed, records)
        if any(r.state is NodeState.STOPPED for r in records):
            return RunOutcome("stopped", EXIT_OK, [], records)
        return RunOutcome("succeeded", EXIT_OK, [], records)

    def _wait(self) -> None:
        """Sleep one poll interval, or wake early when a bounded query ends."""
        for name, handle in list(self._handles.items()):
            if self._nodes[name].bounded and self.state.state(name).active:
                # An error surfaces as True here; the poll that follows reads it from the handle.
                handle.await_termination(self.poll_interval)
                return
        self._sleep(self.poll_interval)

    def _tick(self) -> None:
        for callback in self._tick_callbacks:
            callback(self.state)

    # -- watching running queries --------------------------------------------------------
    def _poll_running(self) -> None:
        for node in self._order:
            handle = self._handles.get(node.name)
            if handle is None or not self.state.state(node.name).active:
                continue
            active = handle.is_active          # read before progress, so none is missed
            self._collect_progress(node.name, handle)
            if active:
                self._check_stall(node, handle)
                continue
            error = handle.exception()
            del self._handles[node.name]
            if error is not None:
                self._node_failed(node, error)
            elif node.bounded:
                self.state.transition(node.name, NodeState.SUCCEEDED)
            else:
                self.state.transition(node.name, NodeState.STOPPED,
                                      reason="the query was stopped outside Tauro")

    def _collect_progress(self, name: str, handle: QueryHandle) -> None:
        try:
            events = handle.new_progress()
        except Exception:  # progress is informative; never fail a node over it
            if self._driver_exit() is not None:
                raise
            return
        for progress in events:
            if self.state.add_progress(name, progress):
                for callback in self._batch_callbacks:
                    callback(name, progress)

    # -- stalls ----------------------------------------------------------------------------
    def _check_stall(self, node: PlannedNode, handle: QueryHandle) -> None:
        bound = self._stall_bounds.get(node.name)
        if bound is None:
            return
        reader = getattr(handle, "activity", None)
        activity = reader() if callable(reader) else QueryActivity()
        state, last_batch_at, last_event_at = self.state.mark_event(node.name,
                                                                    activity.last_event_at)
        now = self._clock()
        since_batch = now - (last_batch_at or now)
        quiet = last_event_at is None or now - last_event_at > bound
        stalled = since_batch > bound and (quiet or (activity.backlog or 0) > 0)
        if state is NodeState.STALLED:
            if not stalled:
                self.state.transition(node.name, NodeState.RUNNING,
                                      reason="progress resumed after a stall")
            return
        if not stalled:
            return
        if (activity.backlog or 0) > 0 and not quiet:
            why = (f"no new batch for {since_batch:.0f}s while its input has a backlog of "
                   f"{activity.backlog:,} (stall_after {bound:g}s)")
        else:
            why = (f"no progress reported for {since_batch:.0f}s "
                   f"(stall_after {bound:g}s)")
        action = node.config.streaming.on_stall
        self.state.transition(node.name, NodeState.STALLED, reason=f"stalled: {why}")
        if action == "restart":
            self._stall_restart(node, why)
        elif action == "fail":
            handle = self._handles.pop(node.name, None)
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.stop()
            self._node_failed(node, f"stalled: {why}", retryable=False,
                              hint="see the node's input and the Spark log for what blocks "
                                   "it; `streaming.stall_after` sets the bound")

    def _stall_restart(self, node: PlannedNode, why: str) -> None:
        handle = self._handles.pop(node.name, None)
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.stop()
        policy = node.config.on_failure
        restarts_done = self.state.get(node.name).restarts
        delay = FailurePolicy(action="restart", max_restarts=policy.max_restarts,
                              backoff=policy.backoff).restart_delay(restarts_done)
        if delay is None:
            self._node_failed(node, f"stalled: {why}", retryable=False,
                              hint=f"restarted {restarts_done} time(s) already "
                                   f"(on_failure.max_restarts {policy.max_restarts})")
            return
        self.state.transition(node.name, NodeState.PENDING, not_before=self._clock() + delay,
                              reason=f"restart {restarts_done + 1}/{policy.max_restarts} in "
                                     f"{delay:g}s after a stall: {why}")

    # -- failures, skips, stops -----------------------------------------------------------
    def _node_failed(self, node: PlannedNode, error: str, *, hint: str | None = None,
                     retryable: bool = True) -> None:
        record = self.state.get(node.name)
        found = explain_failure(error, checkpoint=node.config.streaming.checkpoint_location,
                                node=node, project_dir=self.plan.project_dir)
        # The node is named wherever this is shown; errors naming it again read as noise.
        summary = found.summary.replace(f"node '{node.name}': ", "")
        detail = dataclasses.replace(found, summary=summary, hint=found.hint or hint).render()
        policy = node.config.on_failure
        restarts_done = max(record.attempts - 1, 0)
        delay = policy.restart_delay(restarts_done)
        if retryable and delay is not None and self._stop_reason is None:
            self.state.transition(
                node.name, NodeState.PENDING, error=error, error_summary=detail,
                not_before=self._clock() + delay,
                reason=f"restart {restarts_done + 1}/{policy.max_restarts} in {delay:g}s "
                       f"after: {summary}")
            return
        self.state.transition(node.name, NodeState.FAILED, reason=summary, error=error,
                              error_summary=detail)
        if self.fail_fast:
            self._stop_all(f"fail-fast: node '{node.name}' failed", pending_state=NodeState.SKIPPED)
        else:
            self._stop_running_descendants(node.name)

    def _descendants(self, name: str) -> list[str]:
        seen: list[str] = []
        stack = list(self._children.get(name, ()))
        while stack:
            child = stack.pop()
            if child not in seen:
                seen.append(child)
                stack.extend(self._children.get(child, ()))
        order = [n.name for n in self._order]
        return sorted(seen, key=order.index)

    def _stop_running_descendants(self, name: str) -> None:
        for child in reversed(self._descendants(name)):
            if self.state.state(child) in (NodeState.RUNNING, NodeState.STALLED,
                                           NodeState.STARTING):
                self._stop_node(child, f"upstream '{name}' failed")

    def _propagate_skips(self) -> None:
        for node in self._order:
            if self.state.state(node.name) is not NodeState.PENDING:
                continue
            for up in node.depends_on:
                if up not in self._nodes:
                    continue
                up_state = self.state.state(up)
                if up_state in (NodeState.FAILED, NodeState.SKIPPED, NodeState.STOPPED):
                    word = {NodeState.FAILED: "failed", NodeState.SKIPPED: "was skipped",
                            NodeState.STOPPED: "was stopped"}[up_state]
                    self.state.transition(node.name, NodeState.SKIPPED,
                                          reason=f"upstream '{up}' {word}")
                    break

    def _stop_all(self, reason: str, *, pending_state: NodeState) -> None:
        """Stop running queries downstream first; pending nodes move to `pending_state`."""
        for node in reversed(self._order):
            current = self.state.state(node.name)
            if current in (NodeState.RUNNING, NodeState.STALLED, NodeState.STARTING):
                self._stop_node(node.name, reason)
            elif current is NodeState.PENDING:
                self.state.transition(node.name, pending_state, reason=reason)

    def _stop_node(self, name: str, reason: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            try:
                handle.stop()
            except Exception:
                # Stopping a query that has just died raises its error, which no longer
                # matters; a driver that is gone means the stop did not happen cleanly.
                died = self._wait_for_driver_exit()
                if died is not None:
                    self.state.transition(name, NodeState.FAILED,
                                          reason=f"not stopped cleanly: {died}",
                                          error=died, error_summary=died)
                    return
            with contextlib.suppress(Exception):
                self._collect_progress(name, handle)
        self.state.transition(name, NodeState.STOPPED, reason=reason)

    def _wait_for_driver_exit(self, grace: float = 1.0) -> str | None:
        deadline = self._clock() + grace
        while True:
            reason = self._driver_exit()
            if reason is not None or self._clock() >= deadline:
                return reason
            self._sleep(0.1)

    # -- starting ------------------------------------------------------------------------
    def _start_ready(self) -> None:
        now = self._clock()
        for node in self._order:
            if self._stop_reason is not None:
                return
            record_state = self.state.state(node.name)
            if record_state is not NodeState.PENDING:
                continue
            not_before = self.state.get(node.name).not_before
            if not_before is not None and now < not_before:
                continue
            if self._upstreams_ready(node):
                reason = self._up_to_date(node)
                if reason is not None:
                    self.state.transition(node.name, NodeState.SUCCEEDED, reason=reason)
                else:
                    self._start(node)

    def _up_to_date(self, node: PlannedNode) -> str | None:
        """Why a bounded node need not start (no new input), else None.

        Only on its first attempt, when every upstream of the plan succeeded in this run
        without a batch (so nothing of this run can be new to it; a node reading from outside
        the plan has none), and the engine confirms its checkpoint has read all its input
        holds.
        """
        if not node.bounded or self.state.get(node.name).attempts:
            return None
        for up in node.depends_on:
            if up in self._nodes:
                record = self.state.get(up)
                if record.state is not NodeState.SUCCEEDED or record.batches:
                    return None
        check = getattr(self.engine, "input_up_to_date", None)
        return check(node) if callable(check) else None

    def _upstreams_ready(self, node: PlannedNode) -> bool:
        for up in node.depends_on:
            upstream = self._nodes.get(up)
            if upstream is None:
                continue
            up_state = self.state.state(up)
            if up_state is NodeState.SUCCEEDED:
                pass
            elif up_state.active and not (node.bounded and upstream.bounded):
                pass  # a continuous upstream, or a continuous reader of a running one
            else:
                return False
            # A finished upstream that received no data never created its table: create it
            # empty, so the downstream runs (on no rows) instead of failing to find its input.
            if not self.engine.ensure_output(upstream):
                return False
        return True

    def _start(self, node: PlannedNode) -> None:
        self.state.transition(node.name, NodeState.STARTING)
        if not node.bounded and self._children[node.name]:
            # Create the output before the query runs, so its readers can start at once and
            # the empty table never races the query's own first commit. A failure here is
            # reported by the start itself.
            with contextlib.suppress(Exception):
                self.engine.ensure_output(node)
        try:
            handle = self.engine.start(node)
        except NodeStartError as exc:
            self._node_failed(node, exc.detail, hint=exc.hint, retryable=exc.retryable)
            return
        except Exception as exc:  # an unexpected start failure is still this node's failure
            self._node_failed(node, f"{type(exc).__name__}: {exc}")
            return
        self._handles[node.name] = handle
        if self._stop_reason is not None:
            self._stop_node(node.name, self._stop_reason)
            return
        self.state.transition(node.name, NodeState.RUNNING)
