"""The run's keeper thread: heartbeat of the run lock, and `tauro stop` requests.

Every second it looks for a stop request beside the checkpoints (written by `tauro stop`,
from any shell or host sharing them) and asks the supervisor to stop; every
`HEARTBEAT_SECONDS` it rewrites the lock's heartbeat. A lock found rewritten by another run
means this run lost it (its heartbeat was missed for longer than the stale bound and a new
run took over): the run then stops its queries rather than write beside another run.
A thread, not the supervisor loop: a long call into Spark must not make a live run look dead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tauro_compile.runner.lock import HEARTBEAT_SECONDS, RunLock

CHECK_SECONDS = 1.0


class RunKeeper(threading.Thread):
    """Beats the lock's heartbeat and turns stop requests into `request_stop` calls."""

    def __init__(self, lock: RunLock, request_stop: Callable[[str], None], *,
                 on_event: Callable[..., None] | None = None,
                 check_seconds: float = CHECK_SECONDS,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        super().__init__(name="tauro-run-keeper", daemon=True)
        self.lock = lock
        self.request_stop = request_stop
        self.on_event = on_event or (lambda *a, **k: None)
        self.check_seconds = check_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._done = threading.Event()
        self._stop_seen = False
        self.lost = False

    def run(self) -> None:
        since_beat = 0.0
        while not self._done.wait(self.check_seconds):
            since_beat += self.check_seconds
            try:
                self._check_stop()
                if since_beat >= self.heartbeat_seconds:
                    since_beat = 0.0
                    self._beat()
            except OSError:  # a flaky file system: try again next time
                continue

    def _check_stop(self) -> None:
        if self._stop_seen:
            return
        request = self.lock.stop_requested()
        if request is not None:
            self._stop_seen = True
            by = request.get("by") or "another process"
            reason = f"stopped by `tauro stop` ({by})"
            self.on_event("stop_requested", reason=reason)
            self.request_stop(reason)

    def _beat(self) -> None:
        if self.lost or self.lock.heartbeat():
            return
        self.lost = True
        from tauro_compile.runner.lock import read_holder

        holder = read_holder(self.lock.state_dir)
        self.on_event("lock_lost", holder=holder.to_dict() if holder else None)
        self.request_stop("the run lock was taken over by another run"
                          + (f" ({holder.describe()})" if holder else ""))

    def close(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(timeout=5)
