"""The end-of-run preview: which final outputs are read back, how many rows, how doubles show."""

from __future__ import annotations

import pytest
from support.engine_fakes import FakeClock, FakeEngine, Script, node, plan, progress

from tauro_compile.console import CaptureConsole
from tauro_compile.runner.execute import execute_plan
from tauro_compile.runner.preview import DEFAULT_PREVIEW_ROWS, preview_targets
from tauro_compile.streaming.engine import OutputPreview
from tauro_compile.streaming.state import NodeRecord, NodeState


def _record(name: str, state: NodeState = NodeState.SUCCEEDED, batches: int = 0,
            rows_out: int | None = None) -> NodeRecord:
    return NodeRecord(name=name, unique_id=f"p.{name}", bounded=True, state=state,
                      batches=batches, rows_in=rows_out or 0, rows_out=rows_out)


WROTE = _record("gold", batches=1, rows_out=3)
EMPTY_BATCH = _record("other", batches=1, rows_out=0)
NOTHING = _record("idle")
FAILED = _record("broken", NodeState.FAILED, batches=1, rows_out=2)


@pytest.mark.parametrize(("requested", "interactive", "expected"), [
    (None, True, (["gold"], DEFAULT_PREVIEW_ROWS)),   # default: what this run wrote
    (None, False, ([], 0)),                           # a pipe, CI, a scheduler: no preview
    (3, False, (["gold", "other", "idle"], 3)),        # asked for: every final output that ran
    (0, True, ([], 0)),                               # never
])
def test_preview_targets_follow_the_option_the_terminal_and_what_was_written(
        requested, interactive, expected) -> None:
    records = [WROTE, EMPTY_BATCH, NOTHING, FAILED]
    leaves = ["gold", "other", "idle", "broken"]
    assert preview_targets(records, leaves, requested, interactive) == expected


def test_a_run_that_wrote_nothing_previews_nothing_by_default_even_on_a_terminal() -> None:
    assert preview_targets([NOTHING, EMPTY_BATCH], ["idle", "other"], None, True) == ([], 5)


class PreviewEngine(FakeEngine):
    """A fake engine that remembers which outputs were read back, and how many rows."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.previewed: list[tuple[str, int]] = []

    def preview_output(self, node, limit):
        self.previewed.append((node.name, limit))
        return OutputPreview(f"/out/{node.name}", ("user", "revenue"),
                             (("u1", 2813.1499999999996),))


class TerminalConsole(CaptureConsole):
    is_terminal = True

    def renderable(self, table, fallback: str = "") -> None:
        from rich.console import Console

        console = Console(file=self.out_buffer, width=120)
        console.print(table)


def _execute(tmp_path, console, preview_rows, rows: int):
    clock = FakeClock()
    scripts = {"raw": Script(ends_after=1, batches=[progress(0, rows)] if rows else []),
               "gold": Script(ends_after=1, batches=[progress(0, rows)] if rows else [])}
    engine = PreviewEngine(clock, scripts)
    p = plan(node("raw"), node("gold", "raw"), target=tmp_path / "target")
    execute_plan(p, None, console, engine=engine, poll_interval=0.01,  # type: ignore[arg-type]
                 preview_rows=preview_rows)
    return engine.previewed


def test_execute_plan_reads_back_only_what_the_preview_rules_say(tmp_path) -> None:
    terminal = TerminalConsole()
    assert _execute(tmp_path / "a", terminal, None, rows=4) == [("gold", DEFAULT_PREVIEW_ROWS)]
    assert "2813.15" in terminal.output and "2813.149" not in terminal.output
    assert _execute(tmp_path / "b", TerminalConsole(), None, rows=0) == []   # a no-op run
    assert _execute(tmp_path / "c", CaptureConsole(), None, rows=4) == []    # not a terminal
    piped = CaptureConsole()
    assert _execute(tmp_path / "d", piped, 2, rows=0) == [("gold", 2)]       # asked for
    assert "gold -> /out/gold (first 1 rows)" in piped.output


def test_batch_progress_counts_as_written_only_with_rows() -> None:
    from tauro_compile.runner.preview import wrote_rows

    record = _record("x")
    assert not wrote_rows(record)
    record.batches, record.rows_out = 1, 0
    assert not wrote_rows(record)
    record.rows_out = 1
    assert wrote_rows(record)
