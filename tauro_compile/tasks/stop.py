"""`tauro stop`: stop a project's run cleanly from any shell, wait, and say how it ended.

The request is a file beside the checkpoints (`.tauro/stop.request`) that the run checks
every second, so it works from any host sharing the checkpoints. The run then stops its
queries downstream first, writes run_results.json, releases its lock and exits 0.
`--force`: when the run has not ended after `--timeout`, kill it (SIGKILL to its process
and its Spark driver; this host only) and report it as killed; the next `tauro run` takes
its lock over and resumes from the checkpoints.

Exit codes: 0 the run stopped cleanly (or there was no run to stop); 1 it did not end in
time, was killed, or ended otherwise than stopped; 2 the project cannot be read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console
from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK, UsageError


def run_stop(options: ProjectOptions, console: Console, *, timeout: str = "60s",
             force: bool = False, poll: float = 0.5) -> int:
    """Ask the run to stop, wait up to `timeout`, report; see the module doc for exit codes."""
    from tauro_compile.runner.lock import pid_alive, read_holder, staleness, write_stop_request
    from tauro_compile.runner.results import read_run_results
    from tauro_compile.streaming.durations import DurationError, parse_duration
    from tauro_compile.tasks.locate import locate_run

    try:
        text = f"{timeout} seconds" if timeout.strip().isdigit() else timeout
        wait_s = parse_duration(text, maximum=None).seconds
    except DurationError as exc:
        raise UsageError(f"--timeout: {exc}", hint=f"expected {exc.expected}") from None
    where = locate_run(options)
    holder = read_holder(where.state_dir)
    if holder is None:
        console.out(f"No run of project '{where.project}' with profile '{where.profile}' is "
                    "in progress: nothing to stop.")
        return EXIT_OK
    why = staleness(holder, time.time())
    if why is not None:
        console.out(f"The run {holder.describe()} is already dead ({why}): nothing to stop. "
                    "The next `tauro run` takes its lock over.")
        return EXIT_OK
    me = f"pid {os.getpid()} on {socket.gethostname()}"
    write_stop_request(where.state_dir, holder.run_id, by=me)
    console.out(f"Asked the run {holder.describe()} to stop; waiting up to {wait_s:g}s ...")
    started = time.time()
    local = holder.host == socket.gethostname()
    while time.time() - started < wait_s:
        current = read_holder(where.state_dir)
        if current is None or current.run_id != holder.run_id or (
                local and not pid_alive(holder.pid)):
            break
        time.sleep(poll)
    else:
        return _timed_out(console, holder, wait_s, force, local)
    took = time.time() - started
    doc = read_run_results(where.target_dir) or {}
    meta = doc.get("metadata") or {}
    if meta.get("run_id") != holder.run_id or not meta.get("ended_at"):
        console.out(f"The run ended after {took:.1f}s without writing its results.")
        return EXIT_NODE_FAILED
    status = meta.get("status")
    states = ", ".join(f"{name} {n.get('status')}" for name, n in doc.get("nodes", {}).items())
    console.out(f"The run ended after {took:.1f}s: {status} ({states}).")
    return EXIT_OK if status in ("stopped", "succeeded") else EXIT_NODE_FAILED


def _timed_out(console: Console, holder, wait_s: float, force: bool, local: bool) -> int:
    from tauro_compile.runner.lock import pid_alive

    if not force:
        console.err(f"The run is still stopping after {wait_s:g}s (pid {holder.pid} on "
                    f"{holder.host}). Wait, or use `tauro stop --force` to kill it.")
        return EXIT_NODE_FAILED
    if not local:
        console.err(f"The run is on host {holder.host}: --force can only kill a run on this "
                    f"host ({socket.gethostname()}). Stop it there.")
        return EXIT_NODE_FAILED
    for pid in (holder.pid, holder.driver_pid):
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline and pid_alive(holder.pid):
        time.sleep(0.2)
    console.err(f"The run did not stop within {wait_s:g}s: killed pid {holder.pid}"
                + (f" and its Spark driver (pid {holder.driver_pid})" if holder.driver_pid
                   else "")
                + ". `tauro status` shows it as dead; the next `tauro run` resumes from the "
                  "checkpoints.")
    return EXIT_NODE_FAILED
