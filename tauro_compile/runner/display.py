"""What the user sees during and after a run: live node table or plain lines, then a summary.

On a terminal a rich Live table shows each node's state and last progress, refreshed a few
times per second. Elsewhere (pipes, CI, `--plain`) one line is printed per state change and
per new micro-batch, nothing else, so logs stay readable.

Both answer "is it keeping up?": per node the last batch, how long ago it ended, input and
processed rows/s (`-` when Spark cannot know the input rate yet: the first batch of a query
reports 0.0), the batch's duration, and, where they apply, the rows quarantined, contract
violations, dead letters and dropped rows, for the last batch and in total. The end-of-run
summary has the totals. Previews render nested values (structs, arrays, maps) as JSON text.

Rows a `console` sink prints are shown above the live table (never through it): the runner
hands them to `DisplayPrinter`, which goes through the display.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from tauro_compile.streaming.engine import OutputPreview
from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState

STATE_STYLES = {
    NodeState.PENDING: "dim", NodeState.STARTING: "cyan", NodeState.RUNNING: "blue",
    NodeState.SUCCEEDED: "green", NodeState.FAILED: "bold red", NodeState.SKIPPED: "yellow",
    NodeState.STOPPED: "magenta", NodeState.STALLED: "bold yellow",
}
log = logging.getLogger("tauro.run")
# The per-batch counts of rows that did not go to the main output, by column title.
ISSUE_COLUMNS = ("quarantined", "violations", "dead letters", "dropped")
SUMMARY_COLUMNS = ("node", "status", "batches", "rows in", "rows out", "duration",
                   "reason / error")


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def input_rate(p: BatchProgress) -> str:
    """Input rows/s; `-` when Spark reports 0.0 for a batch that had rows (a first batch)."""
    if p.input_rows_per_second is None or (p.input_rows_per_second == 0 and p.input_rows > 0):
        return "-"
    return _num(p.input_rows_per_second, 1)


def describe_progress(p: BatchProgress | None) -> str:
    """`batch 3 · 1,000 rows · 512.0 in/s · 1,204.5 proc/s · 830 ms`, or '-'."""
    if p is None:
        return "-"
    return (f"batch {p.batch_id} · {_num(p.input_rows)} rows · {input_rate(p)} in/s · "
            f"{_num(p.processed_rows_per_second, 1)} proc/s · {_num(p.duration_ms)} ms")


def batch_issues(result: Mapping[str, Any]) -> dict[str, int]:
    """Quarantined rows, contract violations, dead letters and dropped rows of one batch."""
    metrics = result.get("metrics") or {}
    outputs = result.get("outputs") or {}
    contract = metrics.get("contract") or {}
    counts: dict[str, int] = {}
    quarantined = (outputs.get("quarantine") or {}).get("rows")
    if quarantined is None:
        quarantined = contract.get("rows_quarantined")
    if quarantined is not None:
        counts["quarantined"] = int(quarantined)
    violations = contract.get("violations")
    if isinstance(violations, Mapping):
        counts["violations"] = int(sum(v for v in violations.values()
                                       if isinstance(v, int | float)))
    letters = metrics.get("dead_letter") or {}
    if "bad" in letters:
        counts["dead letters"] = int(letters["bad"])
    if contract.get("decision") == "drop" and contract.get("rows") is not None:
        written = contract.get("rows_written") or 0
        counts["dropped"] = max(int(contract["rows"]) - int(written), 0)
    if result.get("dropped") is not None:
        counts["dropped"] = counts.get("dropped", 0) + int(result["dropped"])
    return counts


def node_issues(record: NodeRecord) -> tuple[dict[str, int], dict[str, int]]:
    """(last batch's counts, totals over the run) of the node's quarantine/violations/...."""
    last: dict[str, int] = {}
    if record.batch_results:
        last = batch_issues(record.batch_results[-1])
    totals: dict[str, int] = {}
    for result in record.batch_results:
        for key, value in batch_issues(result).items():
            totals[key] = totals.get(key, 0) + value
    # batch_results keeps the latest batches only; batch_totals has every batch's sums.
    summed = {"quarantined": record.batch_totals.get("outputs.quarantine.rows"),
              "violations": _violations_total(record.batch_totals),
              "dead letters": record.batch_totals.get("metrics.dead_letter.bad")}
    for key, value in summed.items():
        if value is not None and key in totals:
            totals[key] = int(value)
    # Kafka records dropped by `on_parse_error: drop` (counted from the query progress).
    progress = record.last_progress
    if record.parse_dropped or (progress is not None and progress.parse_dropped is not None):
        last["dropped"] = last.get("dropped", 0) + ((progress.parse_dropped or 0)
                                                    if progress is not None else 0)
        totals["dropped"] = totals.get("dropped", 0) + record.parse_dropped
    return last, totals


def _violations_total(totals: Mapping[str, float]) -> float | None:
    values = [v for k, v in totals.items() if k.startswith("metrics.contract.violations.")]
    return sum(values) if values else None


def describe_issues(record: NodeRecord, *, with_totals: bool = True) -> str:
    """`2 quarantined (5 total) · 3 violations (7 total)`; '' when nothing applies."""
    last, totals = node_issues(record)
    parts = []
    for key in ISSUE_COLUMNS:
        if key in totals:
            text = f"{last.get(key, 0):,} {key}"
            if with_totals:
                text += f" ({totals[key]:,} total)"
            parts.append(text)
    return " · ".join(parts)


def _batch_ended_at(p: BatchProgress) -> float | None:
    if not p.timestamp:
        return None
    try:
        start = datetime.fromisoformat(p.timestamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return start + (p.duration_ms or 0) / 1000


def since_last_batch(record: NodeRecord, now: float) -> str:
    """`12s ago` since the node's last batch ended, or '-'."""
    if record.last_progress is None:
        return "-"
    ended = _batch_ended_at(record.last_progress)
    if ended is None:
        return "-"
    return f"{_short_duration(max(now - ended, 0))} ago"


def _short_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 // 60:02.0f}m"


def _duration(record: NodeRecord, now: float) -> str:
    d = record.duration_s(now)
    return "-" if d is None else f"{d:.1f}s"


class PlainProgress:
    """One line per state change and per new batch."""

    def __init__(self, console: Any, clock: Any = time.time) -> None:
        self.console = console
        self._clock = clock
        self._state: RunState | None = None
        self._lock = threading.Lock()

    def _line(self, name: str, text: str, **fields: Any) -> None:
        with self._lock:
            stamp = time.strftime("%H:%M:%S", time.localtime(self._clock()))
            self.console.event("node", f"{stamp}  {name}: {text}", node=name, **fields)

    def start(self) -> None:
        pass

    def node_changed(self, name: str, old: NodeState, new: NodeState, record: NodeRecord) -> None:
        text = new.value
        if new is NodeState.STARTING and record.attempts > 1:
            text += f" (attempt {record.attempts})"
        if record.reason:
            text += f" ({record.reason})"
        self._line(name, text, state=new.value, reason=record.reason)

    def batch(self, name: str, progress: BatchProgress) -> None:
        text = describe_progress(progress)
        if self._state is not None:
            issues = describe_issues(self._state.get(name))
            if issues:
                text += f" · {issues}"
        with self._lock:
            stamp = time.strftime("%H:%M:%S", time.localtime(self._clock()))
            self.console.event("batch", f"{stamp}  {name}: {text}", node=name,
                               **progress.to_dict())

    def tick(self, state: RunState) -> None:
        self._state = state

    def print_above(self, text: str) -> None:
        """Text a node prints itself (a console sink's rows)."""
        with self._lock:
            self.console.out(text)

    def close(self) -> None:
        pass


class LiveProgress:
    """A rich Live table of the nodes, refreshed from the supervisor's ticks."""

    def __init__(self, console: Any, refresh_per_second: float = 4.0,
                 clock: Any = time.time) -> None:
        self.console = console
        # Free text drawn in the table or above it (reasons, a console sink's rows) is masked
        # like every printed line when the console masks secrets.
        self._mask = getattr(console, "mask", None) or (lambda text: text)
        self._clock = clock
        self._min_gap = 1.0 / refresh_per_second
        self._last = 0.0
        self._live: Any = None

    def start(self) -> None:
        from rich.live import Live

        self._live = Live(console=self.console.rich, auto_refresh=False, transient=False)
        self._live.start()

    def node_changed(self, name: str, old: NodeState, new: NodeState, record: NodeRecord) -> None:
        pass

    def batch(self, name: str, progress: BatchProgress) -> None:
        pass

    def tick(self, state: RunState) -> None:
        now = self._clock()
        if self._live is None or now - self._last < self._min_gap:
            return
        self._last = now
        self._live.update(self.table(state.snapshot(), now), refresh=True)

    def print_above(self, text: str) -> None:
        """Text a node prints itself (a console sink's rows), above the table."""
        if self._live is not None:
            self._live.console.print(self._mask(text), markup=False, highlight=False)
        else:
            self.console.out(text)

    def table(self, records: Sequence[NodeRecord], now: float) -> Any:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="tauro run", expand=False)
        issues = {r.name: node_issues(r) for r in records}
        shown = [k for k in ISSUE_COLUMNS if any(k in totals for _, totals in issues.values())]
        columns = ["node", "state", "batch", "last batch", "in/s", "proc/s", "batch time",
                   "rows in", *shown, "time"]
        for col in columns:
            table.add_column(col, justify="left" if col in ("node", "state") else "right",
                             no_wrap=col != "state")
        for r in records:
            state = f"[{STATE_STYLES[r.state]}]{r.state.value}[/]"
            if r.state is NodeState.PENDING and r.reason:
                state += f" [dim]({escape(self._mask(r.reason))})[/]"
            p = r.last_progress
            last, totals = issues[r.name]
            table.add_row(
                r.name, state, "-" if p is None else str(p.batch_id), since_last_batch(r, now),
                "-" if p is None else input_rate(p),
                "-" if p is None else _num(p.processed_rows_per_second, 1),
                "-" if p is None or p.duration_ms is None else f"{p.duration_ms:,} ms",
                _num(r.rows_in),
                *(f"{last.get(k, 0):,} / {totals[k]:,}" if k in totals else "-" for k in shown),
                _duration(r, now))
        if shown:
            table.caption = "quarantined, violations, dead letters, dropped: last batch / total"
        return table

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def is_rich(console: Any) -> bool:
    """True for a console on a terminal that can draw rich tables."""
    return bool(getattr(console, "is_terminal", False)) and hasattr(console, "rich")


def progress_display(console: Any) -> PlainProgress | LiveProgress:
    """Live table on a rich terminal console, plain lines otherwise."""
    return LiveProgress(console) if is_rich(console) else PlainProgress(console)


def log_node_change(name: str, old: NodeState, new: NodeState, record: NodeRecord) -> None:
    """Every state change goes to the run's log file (with its reason)."""
    log.info("node %s: %s -> %s%s", name, old.value, new.value,
             f" ({record.reason})" if record.reason else "")


def log_batch(name: str, progress: BatchProgress) -> None:
    """Every executed batch goes to the run's log file."""
    log.info("node %s: %s", name, describe_progress(progress))


def summary_columns(records: Sequence[NodeRecord]) -> tuple[str, ...]:
    """The summary's columns: the issue columns only when some node has them."""
    shown = [k for k in ISSUE_COLUMNS if any(k in node_issues(r)[1] for r in records)]
    return (*SUMMARY_COLUMNS[:5], *shown, *SUMMARY_COLUMNS[5:])


def summary_rows(records: Sequence[NodeRecord], now: float) -> list[tuple[str, ...]]:
    """The summary table's cells, one tuple per node, in plan order."""
    shown = summary_columns(records)[5:-2]
    rows = []
    for r in records:
        why = r.error_summary.splitlines()[0] if r.state is NodeState.FAILED and r.error_summary \
            else (r.reason or "")
        totals = node_issues(r)[1]
        rows.append((r.name, r.state.value, _num(r.batches), _num(r.rows_in),
                     _num(r.written_rows()), *(_num(totals.get(k)) for k in shown),
                     _duration(r, now), why))
    return rows


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    widths[-1] = min(widths[-1], 100)

    def fmt(cells: Sequence[Any]) -> str:
        return "  ".join(str(c)[:w].ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def render_summary(console: Any, status: str, records: Sequence[NodeRecord],
                   previews: dict[str, OutputPreview], elapsed_s: float,
                   now: float | None = None, queries_s: float | None = None) -> None:
    """Print the per-node summary and a few rows of each final node's output.

    `elapsed_s` is the whole command's wall time; `queries_s`, when given, the part of it
    the queries ran (Spark's start excluded).
    """
    now = time.time() if now is None else now
    rows = summary_rows(records, now)
    columns = summary_columns(records)
    title = f"Run {status} in {elapsed_s:.1f}s"
    if queries_s is not None:
        title += f" (queries {queries_s:.1f}s)"
    rich_ok = is_rich(console)
    if rich_ok:
        from rich.table import Table

        table = Table(title=title)
        for col in columns:
            table.add_column(col, justify="left" if col in ("node", "status", "reason / error")
                             else "right")
        by_name = {r.name: r for r in records}
        for row in rows:
            style = STATE_STYLES[by_name[row[0]].state]
            table.add_row(row[0], f"[{style}]{row[1]}[/]", *row[2:])
        console.renderable(table, fallback="")
    else:
        console.out("")
        console.out(title)
        console.out(_plain_table(columns, rows))
    for name, preview in previews.items():
        render_preview(console, name, preview, rich_ok=rich_ok)


def render_preview(console: Any, name: str, preview: OutputPreview, *, rich_ok: bool) -> None:
    """A few rows of one node's output."""
    total = f", {preview.total_rows:,} rows in total" if preview.total_rows is not None else ""
    title = f"{name} -> {preview.location} (first {len(preview.rows)} rows{total})"
    cells = [tuple(preview_cell(v) for v in row) for row in preview.rows]
    if rich_ok:
        from rich.table import Table

        table = Table(title=title)
        for col in preview.columns:
            table.add_column(col, overflow="fold")
        for row in cells:
            table.add_row(*row)
        console.renderable(table, fallback="")
        return
    console.out("")
    console.out(title)
    console.out(_plain_table(preview.columns, cells) if preview.columns else "(no columns)")


def preview_cell(value: Any) -> str:
    """One value of a preview as text: nested values (Row, dict, list) as compact JSON,
    doubles rounded to 15 significant digits (2813.15, not 2813.1499999999996)."""
    if value is None:
        return "null"
    plain = _plain_value(value)
    if isinstance(plain, dict | list):
        return json.dumps(plain, ensure_ascii=False, default=str, separators=(", ", ": "))
    return str(plain)


def rounded(value: float) -> float:
    """A double without its binary noise: the nearest value with 15 significant digits."""
    if value != value or value in (float("inf"), float("-inf")):
        return value
    return float(f"{value:.15g}")


def _plain_value(value: Any) -> Any:
    as_dict = getattr(value, "asDict", None)
    if callable(as_dict):  # a pyspark Row (a struct)
        value = as_dict(recursive=True)
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_value(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, float):
        return rounded(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return value


def resume_command(failed: Sequence[str], profile: str | None, project_dir: str | None = None) -> str:
    """The command that reruns the failed nodes and everything downstream of them."""
    parts = ["tauro run"]
    if project_dir and project_dir != ".":
        parts.append(f"--project-dir {project_dir}")
    if profile:
        parts.append(f"--profile {profile}")
    selection = " ".join(f"{name}+" for name in failed)
    parts.append(f"--select '{selection}'" if len(failed) > 1 else f"--select {selection}")
    return " ".join(parts)


def failure_message(records: Sequence[NodeRecord], profile: str | None,
                    project_dir: str | None = None) -> str:
    """Names each failed node and its cause, what was skipped, and how to resume."""
    failed = [r for r in records if r.state is NodeState.FAILED]
    lines = []
    for r in failed:
        lines.append(f"Node '{r.name}' failed: {r.error_summary or r.reason or 'unknown error'}")
    skipped = [r.name for r in records if r.state is NodeState.SKIPPED]
    if skipped:
        lines.append(f"Skipped: {', '.join(skipped)}")
    lines.append("Full errors are in target/run_results.json. After fixing the cause, resume with:")
    lines.append(f"  {resume_command([r.name for r in failed], profile, project_dir)}")
    return "\n".join(lines)
