"""What the user sees during and after a run: live node table or plain lines, then a summary.

On a terminal a rich Live table shows each node's state and last progress, refreshed a few
times per second. Elsewhere (pipes, CI, `--plain`) one line is printed per state change and
per new micro-batch, nothing else, so logs stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tauro_compile.streaming.engine import OutputPreview
from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState

STATE_STYLES = {
    NodeState.PENDING: "dim", NodeState.STARTING: "cyan", NodeState.RUNNING: "blue",
    NodeState.SUCCEEDED: "green", NodeState.FAILED: "bold red", NodeState.SKIPPED: "yellow",
    NodeState.STOPPED: "magenta", NodeState.STALLED: "bold yellow",
}
SUMMARY_COLUMNS = ("node", "status", "batches", "rows in", "rows out", "duration", "reason / error")


def _num(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def describe_progress(p: BatchProgress | None) -> str:
    """`batch 3 · 1,000 rows · 512.0 in/s · 1,204.5 proc/s · 830 ms`, or '-'."""
    if p is None:
        return "-"
    return (f"batch {p.batch_id} · {_num(p.input_rows)} rows · "
            f"{_num(p.input_rows_per_second, 1)} in/s · "
            f"{_num(p.processed_rows_per_second, 1)} proc/s · {_num(p.duration_ms)} ms")


def _duration(record: NodeRecord, now: float) -> str:
    d = record.duration_s(now)
    return "-" if d is None else f"{d:.1f}s"


class PlainProgress:
    """One line per state change and per new batch."""

    def __init__(self, console: Any, clock: Any = time.time) -> None:
        self.console = console
        self._clock = clock

    def _line(self, name: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(self._clock()))
        self.console.out(f"{stamp}  {name}: {text}")

    def start(self) -> None:
        pass

    def node_changed(self, name: str, old: NodeState, new: NodeState, record: NodeRecord) -> None:
        text = new.value
        if new is NodeState.STARTING and record.attempts > 1:
            text += f" (attempt {record.attempts})"
        if record.reason:
            text += f" ({record.reason})"
        self._line(name, text)

    def batch(self, name: str, progress: BatchProgress) -> None:
        self._line(name, describe_progress(progress))

    def tick(self, state: RunState) -> None:
        pass

    def close(self) -> None:
        pass


class LiveProgress:
    """A rich Live table of the nodes, refreshed from the supervisor's ticks."""

    def __init__(self, console: Any, refresh_per_second: float = 4.0,
                 clock: Any = time.time) -> None:
        self.console = console
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

    def table(self, records: Sequence[NodeRecord], now: float) -> Any:
        from rich.table import Table

        table = Table(title="tauro run", expand=False)
        for col in ("node", "state", "batches", "rows in", "last progress", "time"):
            table.add_column(col, no_wrap=col != "last progress")
        for r in records:
            state = f"[{STATE_STYLES[r.state]}]{r.state.value}[/]"
            if r.state is NodeState.PENDING and r.reason:
                state += f" [dim]({r.reason})[/]"
            table.add_row(r.name, state, _num(r.batches), _num(r.rows_in),
                          describe_progress(r.last_progress), _duration(r, now))
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


def summary_rows(records: Sequence[NodeRecord], now: float) -> list[tuple[str, ...]]:
    """The summary table's cells, one tuple per node, in plan order."""
    rows = []
    for r in records:
        why = r.error_summary.splitlines()[0] if r.state is NodeState.FAILED and r.error_summary \
            else (r.reason or "")
        rows.append((r.name, r.state.value, _num(r.batches), _num(r.rows_in),
                     _num(r.written_rows()), _duration(r, now), why))
    return rows


def _plain_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    widths[-1] = min(widths[-1], 100)

    def fmt(cells: Sequence[Any]) -> str:
        return "  ".join(str(c)[:w].ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()

    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])


def render_summary(console: Any, status: str, records: Sequence[NodeRecord],
                   previews: dict[str, OutputPreview], elapsed_s: float,
                   now: float | None = None) -> None:
    """Print the per-node summary and a few rows of each final node's output."""
    now = time.time() if now is None else now
    rows = summary_rows(records, now)
    title = f"Run {status} in {elapsed_s:.1f}s"
    rich_ok = is_rich(console)
    if rich_ok:
        from rich.table import Table

        table = Table(title=title)
        for col in SUMMARY_COLUMNS:
            table.add_column(col, justify="right" if col in ("batches", "rows in", "rows out",
                                                              "duration") else "left")
        by_name = {r.name: r for r in records}
        for row in rows:
            style = STATE_STYLES[by_name[row[0]].state]
            table.add_row(row[0], f"[{style}]{row[1]}[/]", *row[2:])
        console.renderable(table, fallback="")
    else:
        console.out("")
        console.out(title)
        console.out(_plain_table(SUMMARY_COLUMNS, rows))
    for name, preview in previews.items():
        render_preview(console, name, preview, rich_ok=rich_ok)


def render_preview(console: Any, name: str, preview: OutputPreview, *, rich_ok: bool) -> None:
    """A few rows of one node's output."""
    total = f", {preview.total_rows:,} rows in total" if preview.total_rows is not None else ""
    title = f"{name} -> {preview.location} (first {len(preview.rows)} rows{total})"
    cells = [tuple("null" if v is None else str(v) for v in row) for row in preview.rows]
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
