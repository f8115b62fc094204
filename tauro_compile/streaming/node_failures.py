"""A node's failure as the run summary shows it: the cause, the user's file:line, a true hint.

The cause and the user's frames come from the streaming layer's core
(`tauro_compile.streaming.failures.explain`); this adds what only the runner knows: the
node file and the line in it that the failure is about (the python transform or SQL step,
with a SQL error's position mapped to the line of the node file it came from; the Kafka
input's `on_parse_error`; the contract). The full text still goes to run_results.json and
the run's log file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tauro_compile.streaming.failures import (
    FailureExplanation,
    checkpoint_unreadable,
    explain,
    spark_hint,
)

if TYPE_CHECKING:
    from tauro_compile.streaming.plan import PlannedNode

MAX_SUMMARY = 300
_FIELD_PATH_PART = "."


@dataclass(frozen=True)
class Explanation:
    """A failure as a user reads it: one line, a few detail lines, where, and what to do."""

    summary: str
    details: tuple[str, ...] = ()
    hint: str | None = None
    code: str | None = None          # the user's code: `transforms/x.py:12, in f: line`
    node_file: str | None = None     # `nodes/x.yml:7 (transforms[0].sql)`
    kind: str = "unknown"

    def render(self) -> str:
        lines = [self.summary, *(f"  {d}" for d in self.details)]
        if self.code:
            lines.append(f"  at {self.code}")
        if self.node_file:
            lines.append(f"  node file: {self.node_file}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def explain_failure(error: str | BaseException | None, *, checkpoint: str | None = None,
                    node: PlannedNode | None = None,
                    project_dir: str | Path | None = None) -> Explanation:
    """The cause of a failure without JVM noise, where it is in the user's files, and a hint."""
    if not error:
        return Explanation("unknown error")
    found = explain(error, project_dir=project_dir, checkpoint=checkpoint)
    code = found.location.render() if found.location else None
    node_file = _node_file_line(found, node, project_dir) if node is not None else None
    return Explanation(found.summary, found.details, found.hint, code, node_file, found.kind)


def summarize_error(text: str | None) -> str:
    """One line naming the cause of a failure, without JVM noise."""
    return explain_failure(text).summary


def hint_for(text: str | None, *, checkpoint: str | None = None) -> str | None:
    """What the user can do about a failure known only as text, when a rule knows."""
    if not text:
        return None
    if checkpoint_unreadable(text, checkpoint):
        return explain(text, checkpoint=checkpoint).hint
    return spark_hint(text)


def _node_file_line(found: FailureExplanation, node: PlannedNode,
                    project_dir: str | Path | None) -> str | None:
    """`nodes/x.yml:7 (field)` for the field the failure is about, or None."""
    if not node.source_file or not found.field:
        return None
    path = _field_path(found.field)
    line, kind = (None, "source")
    if node.locate is not None:
        try:
            line, kind = node.locate(path)
        except Exception:  # a location is a courtesy; never fail the explanation over it
            line = None
    if found.sql_fragment and project_dir is not None:
        line = _fragment_line(Path(project_dir) / node.source_file, found.sql_fragment,
                              line) or line
    if line is None:
        return f"{node.source_file} ({found.field})"
    suffix = " (rendered)" if kind == "rendered" else ""
    return f"{node.source_file}:{line}{suffix} ({found.field})"


def _field_path(field: str) -> tuple[str | int, ...]:
    """`transforms[1].sql` -> ("transforms", 1, "sql")."""
    parts: list[str | int] = []
    for piece in field.replace("]", "").split(_FIELD_PATH_PART):
        name, _, index = piece.partition("[")
        if name:
            parts.append(name)
        if index:
            parts.append(int(index))
    return tuple(parts)


def _fragment_line(file: Path, fragment: str, near: int | None) -> int | None:
    """The line of `file` (at or after `near`) holding the start of a SQL fragment."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    needle = fragment.strip().splitlines()[0].strip() if fragment.strip() else ""
    if not needle:
        return None
    start = max((near or 1) - 1, 0)
    for index in [*range(start, len(lines)), *range(0, start)]:
        if needle in lines[index]:
            return index + 1
    return None


__all__ = ["Explanation", "explain_failure", "hint_for", "summarize_error"]
