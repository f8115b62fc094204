"""`target/run_results.json`: the outcome of a run, readable by other processes while it runs.

Schema (version 2; version 1 lacked the fields marked "v2")::

    {
      "metadata": {
        "run_results_version": 2,
        "tauro_version": "0.1.0",
        "run_id": "3f2a...",            # random per run; never used for checkpoints
        "project": "my_project",
        "profile": "dev",
        "started_at": "2025-01-01T10:00:00+00:00",   # ISO 8601, UTC
        "ended_at": "...",              # null while running
        "elapsed_s": 12.3,
        "status": "running" | "succeeded" | "failed" | "stopped",
        "invocation": {"command": "run", "select": [...], "exclude": [...],
                        "vars": {...}, "fail_fast": false, "pid": 1234},
        "heartbeat_at": "...",          # v2: the last time the run said it was alive
        "lock": {"path": ".../checkpoints/.tauro/run.lock", "shared": true,
                 "taken_over": "<why the previous holder was stale>" | null,
                 "holder": {"pid", "host", "started_at", "command", "project", "profile",
                            "run_id", "project_dir", "heartbeat_at", "driver_pid",
                            "metrics_url", "version"}} | null,          # v2
        "driver": {"pid": 4321, "log": ".../target/logs/run-20240501-100000.log",
                   "exit": "the Spark driver exited (...)" | null} | null,  # v2
        "metrics_url": "http://host:9108/metrics" | null,                  # v2
        "events": ".../target/events.jsonl"                                 # v2
      },
      "nodes": {
        "<node name>": {
          "unique_id": "my_project.clean_events",
          "status": "pending" | "starting" | "running" | "stalled" | "succeeded"
                    | "failed" | "skipped" | "stopped",                 # v2: stalled
          "reason": "upstream 'raw' failed" | null,
          "attempts": 1,                # query starts, restarts included
          "restarts": 0,                # v2: attempts after the first
          "stalls": 0, "stalled_since": "..." | null,                    # v2
          "last_batch_at": "..." | null,  # v2: when the runner saw the last new batch
          "started_at": "...", "ended_at": "...", "duration_s": 3.2,
          "batches": 2,                 # executed micro-batches, each counted once
          "rows_in": 1000,              # sum of numInputRows
          "rows_out": 990 | null,       # rows written to the output: the foreachBatch
                                        # writer's main-output count when it reports one,
                                        # else the `tauro_rows_out` observed metric
          "last_progress": {"batch_id", "input_rows", "input_rows_per_second",
                            "processed_rows_per_second", "duration_ms", "rows_out",
                            "timestamp", "kafka_lag": {topic: records} | null,    # v2
                            "backlog_files", "watermark", "state_rows"} | null,  # v2
          "counts": {"contract_violations": {"<rule>": n}, "quarantined_rows": n,
                     "dead_letters": n, "parse_dropped": n},             # v2
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
from tauro_compile.fileio import default_file_mode
from tauro_compile.streaming.plan import RunPlan
from tauro_compile.streaming.secrets import mask_structure
from tauro_compile.streaming.state import NodeRecord, RunState

RUN_RESULTS_VERSION = 2
RUN_RESULTS_FILE = "run_results.json"
VIOLATIONS_PREFIX = "metrics.contract.violations."


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def node_counts(record: NodeRecord) -> dict[str, Any]:
    """Contract violations per rule, quarantined rows, dead letters and parse-dropped rows."""
    totals = record.batch_totals
    return {
        "contract_violations": {key[len(VIOLATIONS_PREFIX):]: int(value)
                                for key, value in sorted(totals.items())
                                if key.startswith(VIOLATIONS_PREFIX)},
        "quarantined_rows": int(totals.get("metrics.contract.rows_quarantined", 0)),
        "dead_letters": int(totals.get("metrics.dead_letter.bad", 0)),
        "parse_dropped": record.parse_dropped,
    }


def node_result(record: NodeRecord, now: float) -> dict[str, Any]:
    """One node's entry in run_results.json."""
    return {
        "unique_id": record.unique_id,
        "status": record.state.value,
        "reason": record.reason,
        "attempts": record.attempts,
        "restarts": record.restarts,
        "stalls": record.stalls,
        "stalled_since": _iso(record.stalled_since),
        "last_batch_at": _iso(record.last_batch_at),
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
        "counts": node_counts(record),
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
        # v2 fields the run fills in: lock, driver, metrics_url, events
        self.extra: dict[str, Any] = {"lock": None, "driver": None, "metrics_url": None,
                                      "events": None}

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
                "heartbeat_at": _iso(now),
                **self.extra,
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
            os.fchmod(fd, default_file_mode())  # mkstemp's 0600 would ignore the umask
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
