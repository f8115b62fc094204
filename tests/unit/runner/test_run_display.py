"""Plain progress lines, the summary table and the failure message with the resume command."""

from __future__ import annotations

from runner_fakes import FakeClock

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
    s.add_progress("raw", BatchProgress(batch_id=2, input_rows=10, duration_ms=30))
    table = LiveProgress(console=None, clock=clock).table(s.snapshot(), clock())
    rich = Console(record=True, width=150)
    rich.print(table)
    text = rich.export_text()
    assert "raw" in text and "running" in text and "batch 2 · 10 rows" in text
    assert "clean" in text and "pending" in text


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
