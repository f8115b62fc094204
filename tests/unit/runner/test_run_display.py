"""Plain progress lines, the summary table and the failure message with the resume command."""

from __future__ import annotations

from support.engine_fakes import FakeClock

from tauro_compile.console import CaptureConsole
from tauro_compile.runner.display import (
    LiveProgress,
    PlainProgress,
    failure_message,
    progress_display,
    render_summary,
    resume_command,
)
from tauro_compile.streaming.engine import OutputPreview
from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState


def _records(clock: FakeClock) -> RunState:
    s = RunState([NodeRecord(name="raw", unique_id="p.raw", bounded=True),
                  NodeRecord(name="clean", unique_id="p.clean", bounded=True)], clock=clock)
    return s


def test_plain_progress_prints_one_line_per_change_and_per_new_batch() -> None:
    clock = FakeClock()
    console = CaptureConsole()
    display = progress_display(console)
    assert isinstance(display, PlainProgress)
    s = _records(clock)
    s.on_change(display.node_changed)
    s.transition("raw", NodeState.STARTING)
    s.transition("raw", NodeState.RUNNING)
    display.batch("raw", BatchProgress(batch_id=4, input_rows=1200, input_rows_per_second=600.0,
                                       processed_rows_per_second=1500.5, duration_ms=800))
    for _ in range(5):
        display.tick(s)  # ticks print nothing when not on a terminal
    s.transition("clean", NodeState.SKIPPED, reason="upstream 'raw' failed")
    lines = console.output.splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("raw: starting") and lines[1].endswith("raw: running")
    assert lines[2].endswith("raw: batch 4 · 1,200 rows · 600.0 in/s · 1,500.5 proc/s · 800 ms")
    assert lines[3].endswith("clean: skipped (upstream 'raw' failed)")


def test_live_table_lists_every_node_with_its_progress() -> None:
    from rich.console import Console

    clock = FakeClock()
    s = _records(clock)
    s.transition("raw", NodeState.STARTING)
    s.transition("raw", NodeState.RUNNING)
    s.add_progress("raw", BatchProgress(batch_id=2, input_rows=10, duration_ms=30,
                                        input_rows_per_second=4.0,
                                        processed_rows_per_second=333.3,
                                        timestamp=_iso(clock() - 12.03)))
    table = LiveProgress(console=None, clock=clock).table(s.snapshot(), clock())
    rich = Console(record=True, width=150)
    rich.print(table)
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in rich.export_text().splitlines() if line.startswith("│")}
    assert rows["raw"] == ["running", "2", "12s ago", "4.0", "333.3", "30 ms", "10", "0.0s"]
    assert rows["clean"] == ["pending", "-", "-", "-", "-", "-", "0", "-"]


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


CONTRACT_BATCH = {  # what the foreachBatch writer reports for a quarantining contract
    "batch_id": 0,
    "outputs": {"main": {"rows": 274, "committed": True},
                "quarantine": {"rows": 2, "committed": True}},
    "metrics": {"contract": {"rows": 276, "rows_written": 274, "rows_quarantined": 2,
                             "decision": "quarantine",
                             "violations": {"event_type.pattern": 1, "price.minimum": 2}}},
}


def test_keeping_up_columns_show_last_batch_and_totals_of_what_was_set_aside() -> None:
    from rich.console import Console

    clock = FakeClock()
    s = _records(clock)
    s.transition("raw", NodeState.STARTING)
    s.transition("raw", NodeState.RUNNING)
    s.add_batch_result("raw", CONTRACT_BATCH)
    s.add_progress("raw", BatchProgress(batch_id=0, input_rows=276, input_rows_per_second=0.0,
                                        processed_rows_per_second=11.0, duration_ms=900))

    def raw_cells() -> tuple[str, list[str]]:
        rich = Console(record=True, width=200)
        rich.print(LiveProgress(console=None, clock=clock).table(s.snapshot(), clock()))
        text = rich.export_text()
        raw = next(line for line in text.splitlines() if line.startswith("│ raw"))
        return text, [c.strip() for c in raw.split("│")[1:-1]]

    assert raw_cells()[1][4] == "-"              # first batch: Spark reports 0.0 in/s
    second = {**CONTRACT_BATCH, "batch_id": 1,
              "outputs": {"main": {"rows": 9}, "quarantine": {"rows": 1}},
              "metrics": {"contract": {"rows": 10, "rows_written": 9, "rows_quarantined": 1,
                                       "decision": "quarantine",
                                       "violations": {"price.minimum": 1}}}}
    s.add_batch_result("raw", second)            # written, then committed:
    s.add_progress("raw", BatchProgress(batch_id=1, input_rows=10, input_rows_per_second=2.5,
                                        processed_rows_per_second=8.0, duration_ms=1200))
    text, cells = raw_cells()
    header = next(line for line in text.splitlines() if "node" in line and "state" in line)
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "node", "state", "batch", "last batch", "in/s", "proc/s", "batch time", "rows in",
        "quarantined", "violations", "time"]
    assert cells[4] == "2.5"
    assert cells[8:10] == ["1 / 3", "1 / 4"]     # last batch / total
    assert "last batch / total" in text

    console = CaptureConsole()
    plain = PlainProgress(console, clock=clock)
    plain.tick(s)
    plain.batch("raw", BatchProgress(batch_id=1, input_rows=10, input_rows_per_second=2.5,
                                     processed_rows_per_second=8.0, duration_ms=1200))
    assert console.output.rstrip().endswith(
        "raw: batch 1 · 10 rows · 2.5 in/s · 8.0 proc/s · 1,200 ms · "
        "1 quarantined (3 total) · 1 violations (4 total)")

    s.transition("raw", NodeState.SUCCEEDED)
    summary = CaptureConsole()
    render_summary(summary, "succeeded", s.snapshot(), {}, 5.0, now=clock(), queries_s=2.0)
    lines = summary.output.splitlines()
    assert "Run succeeded in 5.0s (queries 2.0s)" in lines
    head = next(line for line in lines if line.startswith("node"))
    assert head.split("  ")[:1] == ["node"] and "quarantined  violations" in head
    row = next(line for line in lines if line.startswith("raw "))
    assert row.split()[:7] == ["raw", "succeeded", "2", "286", "283", "3", "4"]


def test_dead_letters_and_dropped_rows_are_counted() -> None:
    from tauro_compile.runner.display import batch_issues

    assert batch_issues({"metrics": {"dead_letter": {"good": 7, "bad": 3}}}) == {
        "dead letters": 3}
    assert batch_issues({"metrics": {"contract": {"rows": 10, "rows_written": 6,
                                                  "decision": "drop",
                                                  "violations": {"a": 4}}}}) == {
        "violations": 4, "dropped": 4}
    assert batch_issues({"outputs": {"main": {"rows": 5}}}) == {}

    from tauro_compile.runner.display import node_issues

    clock = FakeClock()
    s = _records(clock)
    s.add_progress("raw", BatchProgress(batch_id=0, input_rows=10, parse_dropped=2))
    s.add_progress("raw", BatchProgress(batch_id=1, input_rows=10, parse_dropped=1))
    assert node_issues(s.get("raw")) == ({"dropped": 1}, {"dropped": 3})
    assert node_issues(s.get("clean")) == ({}, {})


def test_preview_cells_render_nested_values_as_json_text() -> None:
    from datetime import datetime
    from decimal import Decimal

    from pyspark.sql import Row

    from tauro_compile.runner.display import preview_cell

    row = Row(user=Row(id="u1", tags=["a", "b"]), at=datetime(2024, 5, 1, 10, 0))
    assert preview_cell(row) == ('{"user": {"id": "u1", "tags": ["a", "b"]}, '
                                 '"at": "2024-05-01 10:00:00"}')
    assert preview_cell({"k": Decimal("1.50")}) == '{"k": "1.50"}'
    assert preview_cell([1, None]) == "[1, null]"
    assert preview_cell(None) == "null" and preview_cell(3.5) == "3.5"


def test_summary_lists_nodes_and_previews_final_output() -> None:
    clock = FakeClock()
    s = _records(clock)
    s.transition("raw", NodeState.STARTING)
    s.add_progress("raw", BatchProgress(batch_id=0, input_rows=1500, rows_out=1400))
    clock.sleep(2)
    s.transition("raw", NodeState.RUNNING)
    s.transition("raw", NodeState.SUCCEEDED)
    s.transition("clean", NodeState.SKIPPED, reason="upstream 'raw' was stopped")
    console = CaptureConsole()
    preview = OutputPreview("/w/clean", ("id", "name"), ((1, "a"), (2, None)), total_rows=2)
    render_summary(console, "succeeded", s.snapshot(), {"clean": preview}, 3.0, now=clock())
    out = console.output
    assert "Run succeeded in 3.0s" in out
    raw_line = next(line for line in out.splitlines() if line.startswith("raw "))
    assert raw_line.split()[:6] == ["raw", "succeeded", "1", "1,500", "1,400", "2.0s"]
    assert "upstream 'raw' was stopped" in out
    assert "clean -> /w/clean (first 2 rows, 2 rows in total)" in out
    assert "null" in out


def test_failure_message_names_node_cause_and_resume_command() -> None:
    clock = FakeClock()
    s = _records(clock)
    s.transition("raw", NodeState.STARTING)
    s.transition("raw", NodeState.FAILED, reason="ValueError: bad",
                 error="...", error_summary="ValueError: bad\n  hint: fix it")
    s.transition("clean", NodeState.SKIPPED, reason="upstream 'raw' failed")
    msg = failure_message(s.snapshot(), "dev")
    assert "Node 'raw' failed: ValueError: bad\n  hint: fix it" in msg
    assert "Skipped: clean" in msg
    assert msg.rstrip().endswith("tauro run --profile dev --select raw+")
    assert resume_command(["a", "b"], None, "proj") == "tauro run --project-dir proj --select 'a+ b+'"


def test_live_display_on_a_terminal_refreshes_at_most_a_few_times_per_second() -> None:
    import io

    from rich.console import Console

    class Terminal:
        is_terminal = True

        def __init__(self) -> None:
            self.buffer = io.StringIO()
            self.rich = Console(file=self.buffer, force_terminal=True, width=140)

    clock = FakeClock()
    terminal = Terminal()
    display = progress_display(terminal)
    assert isinstance(display, LiveProgress)
    display._clock = clock
    s = _records(clock)
    display.start()
    renders = []
    original = display.table
    display.table = lambda records, now: renders.append(now) or original(records, now)
    for _ in range(10):  # ten ticks within one second: at most four refreshes
        clock.sleep(0.1)
        display.tick(s)
    s.transition("raw", NodeState.STARTING)
    clock.sleep(0.5)
    display.tick(s)
    display.close()
    assert len(renders) == 5
    assert min(b - a for a, b in zip(renders, renders[1:], strict=False)) >= 0.25
    out = terminal.buffer.getvalue()
    assert "raw" in out and "starting" in out and "clean" in out


def test_live_table_masks_secrets_in_what_it_draws_itself() -> None:
    """The live table is drawn by rich, not printed through the masking console: its free
    text (a pending node's reason, a console sink's rows) is masked by the display."""
    from rich.console import Console

    from tauro_compile.console import MaskingConsole

    secret = "s3cr3t-Pa55word-xyz"
    clock = FakeClock()
    s = _records(clock)
    s.transition("raw", NodeState.STARTING)
    s.transition("raw", NodeState.PENDING, reason=f"restart 1/3 in 5s after: bad [password {secret}]")
    console = MaskingConsole(CaptureConsole(), (secret,))
    rich = Console(record=True, width=200)
    rich.print(LiveProgress(console=console, clock=clock).table(s.snapshot(), clock()))
    text = rich.export_text()
    assert secret not in text and "bad [password ***]" in text  # masked, markup escaped
