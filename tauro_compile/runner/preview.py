"""Which final outputs the end-of-run preview reads back, and how many rows.

Reading an output back is a Spark batch job: on the JVM of a short `tauro run` it is the
process's first batch read (class loading, code generation), 1-3 s on a quiet machine and
up to 20-30 s on a loaded one, often more than the run's own work. So:

- `--preview N` (N > 0): the first N rows of every final output whose node ran, even when
  the run wrote nothing (the user asked for them);
- `--preview 0`: never;
- no option: 5 rows of each final output the run wrote rows to, and only when a person is
  watching (the console is a terminal). A scheduled run, a pipe, CI or a `--log-format
  json` log gets no preview: nobody reads it there, and it would cost those runs the
  most. A run (or a final output) that wrote nothing has nothing new to show.
"""

from __future__ import annotations

from collections.abc import Sequence

from tauro_compile.streaming.state import NodeRecord, NodeState

DEFAULT_PREVIEW_ROWS = 5
_RAN = (NodeState.SUCCEEDED, NodeState.STOPPED)


def wrote_rows(record: NodeRecord) -> bool:
    """True when the node wrote rows in this run (rows out, else rows in when not measured)."""
    written = record.rows_out if record.rows_out is not None else record.rows_in
    return record.batches > 0 and written > 0


def preview_targets(records: Sequence[NodeRecord], leaves: Sequence[str],
                    requested: int | None, interactive: bool) -> tuple[list[str], int]:
    """(final nodes to read back, rows each) for `--preview requested` (None: the default)."""
    ran = {r.name: r for r in records if r.state in _RAN}
    if requested is not None:
        if requested <= 0:
            return [], 0
        return [name for name in leaves if name in ran], requested
    if not interactive:
        return [], 0
    return [name for name in leaves if name in ran and wrote_rows(ran[name])], \
        DEFAULT_PREVIEW_ROWS
