"""`target/run_results.json`: the outcome of a run, readable by other processes while it runs.

Schema (version 1)::

    {
      "metadata": {
        "run_results_version": 1,
        "tauro_version": "0.1.0",
        "run_id": "3f2a...",            # random per run; never used for checkpoints
        "project": "my_project",
        "profile": "dev",
        "started_at": "2025-01-01T10:00:00+00:00",   # ISO 8601, UTC
        "ended_at": "...",              # null while running
        "elapsed_s": 12.3,
        "status": "running" | "succeeded" | "failed" | "stopped",
        "invocation": {"command": "run", "select": [...], "exclude": [...],
                        "vars": {...}, "fail_fast": false, "pid": 1234}
      },
      "nodes": {
        "<node name>": {
          "unique_id": "my_project.clean_events",
          "status": "pending" | "starting" | "running" | "succeeded" | "failed"
                    | "skipped" | "stopped",
          "reason": "upstream 'raw' failed" | null,
          "attempts": 1,                # query starts, restarts included
          "started_at": "...", "ended_at": "...", "duration_s": 3.2,
          "batches": 2,                 # executed micro-batches, each counted once
          "rows_in": 1000,              # sum of numInputRows
          "rows_out": 990 | null,       # rows written to the output: the foreachBatch
                                        # writer's main-output count when it reports one,
                                        # else the `tauro_rows_out` observed metric
          "last_progress": {"batch_id", "input_rows", "input_rows_per_second",
                            "processed_rows_per_second", "duration_ms", "rows_out",
                            "timestamp"} | null,
          "error": "<full error text>" | null,
          "error_summary": "<one line + hint>" | null,
          "checkpoint_location": "/.../checkpoints/clean_events",
          "batch_results": [ {...}, ... ],   # latest 50 reported by the batch listener
          "batch_totals": {"outputs.main.rows": 90, "metrics.contract.<count>": 3, ...}
                                        # every count in batch_results summed, dotted path
        }
      }
    }

The file is replaced atomically (write to a temporary file, then rename), so a reader sees
either the previous or the new version, never half of one. Everything goes through
`mask_structure` first, so no secret reaches it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tauro_compile import __version__
from tauro_compile.runner.plan import RunPlan
from tauro_compile.runner.state import NodeRecord, RunState
from tauro_compile.streaming.secrets import mask_structure

RUN_RESULTS_VERSION = 1
RUN_RESULTS_FILE = "run_results.json"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def node_result(record: NodeRecord, now: float) -> dict[str, Any]:
    """One node's entry in run_results.json."""
    return {
        "unique_id": record.unique_id,
        "status": record.state.value,
        "reason": record.reason,
        "attempts": record.attempts,
        "started_at": _iso(record.started_at),
        "ended_at": _iso(record.ended_at),
        "duration_s": record.duration_s(now),
        "batches": record.batches,
        "rows_in": record.rows_in,
        "rows_out": record.written_rows(),
        "last_progress": record.last_progress.to_dict() if record.last_progress else None,
        "error": record.error,
        "error_summary": record.error_summary,
        "checkpoint_location": record.checkpoint_location,
        "batch_results": list(record.batch_results),
        "batch_totals": dict(record.batch_totals),
    }


class RunResultsWriter:
    """Writes run_results.json for one run: at most every `interval` s while running, and at the end."""

    def __init__(self, plan: RunPlan, *, invocation: dict[str, Any] | None = None,
                 interval: float = 2.0, run_id: str | None = None,
                 known_secrets: tuple[str, ...] = (), clock: Any = time.time) -> None:
        self.plan = plan
        self.path = Path(plan.target_dir) / RUN_RESULTS_FILE
        self.run_id = run_id or uuid.uuid4().hex
        self.invocation = {"command": "run", "pid": os.getpid(), **(invocation or {})}
        self.interval = interval
        self.known_secrets = known_secrets
        self._clock = clock
        self.started_at = clock()
        self._last_write = 0.0

    def document(self, state: RunState, status: str, *, final: bool) -> dict[str, Any]:
        now = self._clock()
        doc = {
            "metadata": {
                "run_results_version": RUN_RESULTS_VERSION,
                "tauro_version": __version__,
                "run_id": self.run_id,
                "project": self.plan.project_name,
                "profile": self.plan.profile,
                "started_at": _iso(self.started_at),
                "ended_at": _iso(now) if final else None,
                "elapsed_s": round(now - self.started_at, 3),
                "status": status,
                "invocation": self.invocation,
            },
            "nodes": {r.name: node_result(r, now) for r in state.snapshot()},
        }
        return mask_structure(doc, self.known_secrets)

    def maybe_write(self, state: RunState) -> bool:
        """Write a 'running' snapshot when `interval` has passed since the last write."""
        now = self._clock()
        if now - self._last_write < self.interval:
            return False
        self.write(state, "running", final=False)
        return True

    def write(self, state: RunState, status: str, *, final: bool = True) -> Path:
        """Write the document atomically; returns its path."""
        doc = self.document(state, status, final=final)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".run_results.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2, default=str)
                fh.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._last_write = self._clock()
        return self.path


def read_run_results(target_dir: Path) -> dict[str, Any] | None:
    """The last run_results.json in `target_dir`, or None when there is none."""
    path = Path(target_dir) / RUN_RESULTS_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))
