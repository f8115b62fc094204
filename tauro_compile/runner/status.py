"""What `tauro status` reports: a run's state from the lock beside the checkpoints and the
run's results, readable from any shell without Spark.

The status document (`tauro status --output json`, version 1)::

    {
      "status_version": 1,
      "project": "live", "profile": "dev",
      "run": {
        "state": "running" | "ended" | "dead" | "none",
        "status": "running" | "succeeded" | "failed" | "stopped" | null,  # run_results'
        "run_id", "started_at", "ended_at", "elapsed_s",
        "pid", "host", "command", "heartbeat_at", "heartbeat_age_s",
        "dead_reason": "its process (pid 123 on h) is gone" | null,
        "message": "<one line for people>",
        "lock": ".../checkpoints/.tauro/run.lock", "lock_shared": true,
        "results": ".../target/run_results.json", "events": ".../target/events.jsonl",
        "metrics_url": "http://h:9108/metrics" | null
      },
      "nodes": [{
        "name", "state",                 # a node of a dead run that was active: "dead"
        "last_known_state",              # what the run last wrote
        "last_batch_id", "seconds_since_last_batch", "input_rows_per_second",
        "processed_rows_per_second", "batch_duration_ms",
        "kafka_lag": {"topic": records} | null, "backlog_files": n | null,
        "watermark", "state_rows", "batches", "rows_in", "rows_out",
        "contract_violations": {"rule": n}, "quarantined_rows", "dead_letters",
        "parse_dropped", "restarts", "stalls", "reason", "last_error": "<one line>" | null
      }, ...]
    }

`dead` means the run never wrote its end and its holder is gone: on this host its pid no
longer exists, or (any host) its heartbeat is older than the lock's stale bound.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from tauro_compile.runner.lock import (
    LOCK_FILE,
    STALE_AFTER_SECONDS,
    LockHolder,
    from_iso,
    pid_alive,
    read_holder,
    staleness,
)
from tauro_compile.runner.results import RUN_RESULTS_FILE, read_run_results

STATUS_VERSION = 1
ACTIVE_STATES = ("pending", "starting", "running", "stalled")


def _age(text: str | None, now: float) -> float | None:
    ts = from_iso(text)
    return None if ts is None else round(max(now - ts, 0.0), 1)


def _safe_results(target_dir: Path) -> dict[str, Any] | None:
    try:
        return read_run_results(target_dir)
    except (OSError, ValueError):
        return None


def run_status(project: str, profile: str, target_dir: Path, state_dir: Path, *,
               shared: bool = True, now: float | None = None,
               stale_after: float = STALE_AFTER_SECONDS) -> dict[str, Any]:
    """The status document of the latest run of `project`/`profile` (see the module doc)."""
    now = time.time() if now is None else now
    holder = read_holder(state_dir)
    results = _safe_results(target_dir)
    meta = (results or {}).get("metadata") or {}
    if meta and (meta.get("project"), meta.get("profile")) != (project, profile):
        results, meta = None, {}
    run: dict[str, Any] = {
        "state": "none", "status": meta.get("status"), "run_id": meta.get("run_id"),
        "started_at": meta.get("started_at"), "ended_at": meta.get("ended_at"),
        "elapsed_s": meta.get("elapsed_s"),
        "pid": (meta.get("invocation") or {}).get("pid"), "host": None, "command": None,
        "heartbeat_at": meta.get("heartbeat_at"), "heartbeat_age_s": None,
        "dead_reason": None, "message": "",
        "lock": str(Path(state_dir) / LOCK_FILE), "lock_shared": shared,
        "results": str(Path(target_dir) / RUN_RESULTS_FILE),
        "events": meta.get("events"), "metrics_url": meta.get("metrics_url"),
    }
    lock_meta = (meta.get("lock") or {}).get("holder") or {}
    run["host"] = lock_meta.get("host")
    run["command"] = lock_meta.get("command")
    same_run = holder is not None and holder.run_id == meta.get("run_id")
    if holder is not None:
        _fill_from_holder(run, holder, now)
        why = staleness(holder, now, stale_after)
        if why is None:
            run["state"] = "running"
            run["message"] = _running_message(holder, same_run, target_dir)
            if not same_run:
                results = None  # the results here belong to an older run
        else:
            run["state"], run["dead_reason"] = "dead", why
            run["message"] = (f"the run died without writing its end: {why}; the next "
                              "`tauro run` takes its lock over")
            if not same_run:
                results = None
    elif results is not None:
        if meta.get("ended_at"):
            run["state"] = "ended"
            run["message"] = f"the last run ended: {meta.get('status')} at {meta.get('ended_at')}"
        else:
            run["state"] = "dead"
            run["dead_reason"] = _dead_without_lock(run, now, stale_after)
            run["message"] = f"the run died without writing its end: {run['dead_reason']}"
    else:
        run["message"] = (f"no run of project '{project}' with profile '{profile}' yet "
                          f"(no lock at {run['lock']}, no {run['results']})")
    if run["heartbeat_at"] and run["heartbeat_age_s"] is None:
        run["heartbeat_age_s"] = _age(run["heartbeat_at"], now)
    nodes = [node_status(name, doc, now, dead=run["state"] == "dead")
             for name, doc in ((results or {}).get("nodes") or {}).items()]
    return {"status_version": STATUS_VERSION, "project": project, "profile": profile,
            "run": run, "nodes": nodes}


def _fill_from_holder(run: dict[str, Any], holder: LockHolder, now: float) -> None:
    run.update(run_id=holder.run_id, pid=holder.pid, host=holder.host, command=holder.command,
               started_at=run["started_at"] or holder.started_at,
               heartbeat_at=holder.heartbeat_at, heartbeat_age_s=_age(holder.heartbeat_at, now),
               metrics_url=holder.metrics_url or run["metrics_url"])


def _running_message(holder: LockHolder, same_run: bool, target_dir: Path) -> str:
    text = f"running: {holder.describe()}"
    if not same_run:
        text += (f"; its results are in {holder.project_dir}/target on {holder.host}, "
                 f"not in {target_dir}")
    return text


def _dead_without_lock(run: dict[str, Any], now: float, stale_after: float) -> str:
    pid = run.get("pid")
    host = run.get("host")
    if pid and host in (None, socket.gethostname()) and not pid_alive(int(pid)):
        return f"its process (pid {pid}) is gone and its lock was removed"
    age = _age(run.get("heartbeat_at"), now)
    if age is not None and age > stale_after:
        return f"its results were last written {age:.0f}s ago and its lock is gone"
    return "its lock is gone but its results say running"


def node_status(name: str, doc: dict[str, Any], now: float, *, dead: bool) -> dict[str, Any]:
    """One node's line of the status document, from its run_results entry."""
    last = doc.get("last_progress") or {}
    counts = doc.get("counts") or {}
    state = doc.get("status")
    error = doc.get("error_summary") or doc.get("error")
    since = _age(doc.get("last_batch_at"), now) if state in ("running", "stalled") else None
    return {
        "name": name,
        "state": "dead" if dead and state in ACTIVE_STATES else state,
        "last_known_state": state,
        "last_batch_id": last.get("batch_id"),
        "seconds_since_last_batch": since,
        "input_rows_per_second": last.get("input_rows_per_second"),
        "processed_rows_per_second": last.get("processed_rows_per_second"),
        "batch_duration_ms": last.get("duration_ms"),
        "kafka_lag": last.get("kafka_lag"),
        "backlog_files": last.get("backlog_files"),
        "watermark": last.get("watermark"),
        "state_rows": last.get("state_rows"),
        "batches": doc.get("batches"),
        "rows_in": doc.get("rows_in"),
        "rows_out": doc.get("rows_out"),
        "contract_violations": counts.get("contract_violations") or {},
        "quarantined_rows": counts.get("quarantined_rows", 0),
        "dead_letters": counts.get("dead_letters", 0),
        "parse_dropped": counts.get("parse_dropped", 0),
        "restarts": doc.get("restarts", max((doc.get("attempts") or 1) - 1, 0)),
        "stalls": doc.get("stalls", 0),
        "reason": doc.get("reason"),
        "last_error": error.strip().splitlines()[0] if error and error.strip() else None,
    }


STATUS_COLUMNS = ("node", "state", "batch", "since", "in/s", "proc/s", "batch ms", "backlog",
                  "watermark", "state rows", "violations", "quarant.", "dead lt.", "dropped",
                  "restarts")


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def _backlog(node: dict[str, Any]) -> str:
    parts = [f"{topic}:{n:,}" for topic, n in (node.get("kafka_lag") or {}).items()]
    if node.get("backlog_files") is not None:
        parts.append(f"{node['backlog_files']:,} files")
    return " ".join(parts) or "-"


def status_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """The cells of the node table of `render_status`."""
    rows = []
    for n in doc["nodes"]:
        since = n["seconds_since_last_batch"]
        rows.append((
            n["name"], n["state"] or "-", _n(n["last_batch_id"]),
            "-" if since is None else f"{since:.0f}s", _n(n["input_rows_per_second"], 1),
            _n(n["processed_rows_per_second"], 1), _n(n["batch_duration_ms"]), _backlog(n),
            n["watermark"] or "-", _n(n["state_rows"]),
            _n(sum(n["contract_violations"].values())), _n(n["quarantined_rows"]),
            _n(n["dead_letters"]), _n(n["parse_dropped"]), _n(n["restarts"]),
        ))
    return rows


def render_status(doc: dict[str, Any]) -> str:
    """`tauro status` as text: the run's state in a few lines, then one line per node."""
    run = doc["run"]
    head = f"Project '{doc['project']}', profile '{doc['profile']}': {run['state'].upper()}"
    lines = [head, f"  {run['message']}"]
    if run["state"] != "none":
        if run.get("run_id"):
            lines.append(f"  run id: {run['run_id']}  started: {run.get('started_at')}"
                         + (f"  ended: {run['ended_at']}" if run.get("ended_at") else ""))
        if run.get("pid"):
            lines.append(f"  pid: {run['pid']}  host: {run.get('host') or '-'}  "
                         f"heartbeat: {_ago(run.get('heartbeat_age_s'))}")
        if run.get("command"):
            lines.append(f"  command: {run['command']}")
        if run.get("metrics_url") and run["state"] == "running":
            lines.append(f"  metrics: {run['metrics_url']}")
    if doc["nodes"]:
        lines.append("")
        lines.append(_table(STATUS_COLUMNS, status_rows(doc)))
        notes = [f"  {n['name']}: {n['last_error'] or n['reason']}" for n in doc["nodes"]
                 if n["last_error"] or (n["reason"] and n["state"] not in ("running",))]
        if notes:
            lines.append("")
            lines.append("Reasons and last errors:")
            lines.extend(notes)
    return "\n".join(lines)


def _ago(age: float | None) -> str:
    return "-" if age is None else f"{age:.0f}s ago"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *(fmt(r) for r in rows)])
