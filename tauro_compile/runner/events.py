"""`target/events.jsonl`: an append-only history of a run, one JSON object per line.

Tools follow a run by reading new lines (`tail -f`) instead of polling run_results.json.
Every line has the same envelope (version 1)::

    {"events_version": 1, "ts": "2025-01-01T10:00:00.123+00:00", "run_id": "3f2a...",
     "event": "<kind>", ...fields of that kind}

Kinds: `run_started` (project, profile, pid, host, command, lock, taken_over),
`node_state` (node, from, to, reason, attempt), `node_restart` (node, attempt, reason),
`node_stalled` (node, reason), `node_error` (node, error: one line), `stop_requested`
(reason), `lock_lost` (holder), `driver_exited` (reason), `run_ended` (status, exit_code).
New kinds and new fields may be added within a version; a field is never renamed or
removed without a new `events_version`. Lines are masked with `mask_structure`, so no
secret reaches the file. Each line is written with one `write` call on a file opened in
append mode, so lines from one run never interleave.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tauro_compile.runner.lock import iso
from tauro_compile.streaming.secrets import mask_structure
from tauro_compile.streaming.state import NodeRecord, NodeState

EVENTS_VERSION = 1
EVENTS_FILE = "events.jsonl"


class EventLog:
    """Appends one run's events to `<target>/events.jsonl`."""

    def __init__(self, target_dir: Path, run_id: str, *,
                 known_secrets: tuple[str, ...] = ()) -> None:
        self.path = Path(target_dir) / EVENTS_FILE
        self.run_id = run_id
        self.known_secrets = known_secrets
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, event: str, **fields: Any) -> None:
        """Append one event line (never raises: history must not break a run)."""
        doc = {"events_version": EVENTS_VERSION, "ts": iso(time.time()),
               "run_id": self.run_id, "event": event, **fields}
        line = json.dumps(mask_structure(doc, self.known_secrets), default=str) + "\n"
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(line)
            except OSError:
                pass

    def node_changed(self, name: str, old: NodeState, new: NodeState,
                     record: NodeRecord) -> None:
        """A `RunState.on_change` listener: state changes, restarts, stalls, errors."""
        self.emit("node_state", node=name, **{"from": old.value, "to": new.value},
                  reason=record.reason, attempt=record.attempts)
        if new is NodeState.STARTING and record.attempts > 1:
            self.emit("node_restart", node=name, attempt=record.attempts,
                      reason=record.error_summary.splitlines()[0]
                      if record.error_summary else None)
        elif new is NodeState.STALLED:
            self.emit("node_stalled", node=name, reason=record.reason)
        if new is NodeState.FAILED and record.error_summary:
            self.emit("node_error", node=name, error=record.error_summary.splitlines()[0])


def read_events(target_dir: Path) -> list[dict[str, Any]]:
    """Every event in `<target>/events.jsonl` (for tests and tools); [] when there is none."""
    path = Path(target_dir) / EVENTS_FILE
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            events.append(json.loads(line))
    return events
