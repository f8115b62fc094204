"""`tauro run --full-refresh` and `tauro reset` on real Spark and Delta, in-process.

One project: `a` (JSON files -> Delta, bad lines to a dead-letter table, written through
foreachBatch with txnAppId `<id>@<checkpoint query id>`) -> `b` (Delta's own streaming sink)
-> `c` (parquet files); `d` is unrelated. After a first run: the refusals (descendants not
selected, no terminal without --yes, the run lock held) change nothing (a declined preview
too: test_reset_pty.py); a confirmed full refresh of `a+` rewrites exactly the input rows (a
reused txnAppId would have skipped them), keeps Delta's history (time travel, RESTORE), moves the
checkpoints and files aside, and leaves every file of `d` byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tauro_compile.runner.lock import RunLock

pytestmark = pytest.mark.spark

PROJECT = {
    "tauro_project.yml": """
        name: refresh
        profile: dev
        sources:
          landing:
            format: file_stream
            path: "{{ target.paths.landing }}/orders"
            file_format: json
            schema: "id BIGINT, amount DOUBLE"
            on_parse_error: dead_letter
            dead_letter: {format: delta, path: data/dl}
          other:
            format: file_stream
            path: "{{ target.paths.landing }}/other"
            file_format: json
            schema: "id BIGINT"
    """,
    "profiles.yml": """
        profiles:
          dev:
            paths: {landing: data/landing, warehouse: data/wh, checkpoints: data/chk}
            nodes:
              "*": {streaming: {trigger: {type: available_now}}}
    """,
    "nodes/a.yml": """
        input: {source: landing}
        output: {format: delta, path: "{{ target.paths.warehouse }}/a"}
    """,
    "nodes/b.yml": """
        input: {ref: a}
        transforms:
          - sql: "SELECT id, amount * 2 AS doubled FROM {{ input }}"
        output: {format: delta, path: "{{ target.paths.warehouse }}/b"}
    """,
    "nodes/c.yml": """
        input: {ref: b}
        output: {format: parquet, path: data/files/c}
    """,
    "nodes/d.yml": """
        input: {source: other}
        output: {format: delta, path: "{{ target.paths.warehouse }}/d"}
    """,
}
LINES = '{"id": 1, "amount": 1.5}\n{"id": 2, "amount": 2.0}\n{"id": 3, "amo\n' \
        '{"id": 3, "amount": 4.0}\n'


def tree_hashes(*roots: Path) -> dict[str, str]:
    """sha256 of every file under `roots` (relative path -> digest)."""
    out = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def ids(spark, path: Path, fmt: str = "delta", **options: str) -> list[int]:
    return sorted(r.id for r in spark.read.format(fmt).options(**options).load(str(path))
                  .collect())


def history(spark, path: Path) -> list[tuple[int, str]]:
    rows = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()
    return sorted((r.version, r.operation) for r in rows)


def test_full_refresh_clears_exactly_the_selected_nodes_and_keeps_delta_history(
        spark, make_project, tauro) -> None:
    project = make_project(PROJECT)
    (project / "data/landing/orders").mkdir(parents=True)
    (project / "data/landing/orders/1.json").write_text(LINES)
    (project / "data/landing/other").mkdir(parents=True)
    (project / "data/landing/other/1.json").write_text('{"id": 7}\n{"id": 8}\n')
    first = tauro("run", "--project-dir", project)
    assert first.exit_code == 0, first.output + first.stderr
    wh, chk = project / "data/wh", project / "data/chk"
    assert ids(spark, wh / "a") == [1, 2, 3] and ids(spark, wh / "b") == [1, 2, 3]
    assert ids(spark, project / "data/files/c", "parquet") == [1, 2, 3]
    everything = tree_hashes(project / "data")
    untouched_d = tree_hashes(wh / "d", chk / "d")
    assert untouched_d

    # Refusals, each before anything is cleared (and before Spark is asked anything).
    refused = tauro("reset", "--project-dir", project, "-s", "a", "--yes")
    assert refused.exit_code == 2
    assert "would leave downstream nodes b, c reading a rewritten table" in refused.stderr
    assert 'hint: select them too: `tauro reset -s "a b c"`' in refused.stderr
    no_tty = tauro("run", "--project-dir", project, "--full-refresh", "-s", "a+")
    assert no_tty.exit_code == 2
    assert "stdin is not a terminal" in no_tty.stderr and "pass --yes" in no_tty.stderr
    lock = RunLock(chk / ".tauro", shared=True, project="refresh", profile="dev",
                   project_dir=str(project))
    lock.acquire()
    try:
        locked = tauro("reset", "--project-dir", project, "-s", "a+", "--yes")
    finally:
        lock.release()
    assert locked.exit_code == 2 and "another run of these checkpoints" in locked.stderr
    assert tree_hashes(project / "data") == everything

    a_version = history(spark, wh / "a")[-1][0]
    dl_version = history(spark, project / "data/dl")[-1][0]

    # Confirmed with --yes: cleared, then run again from the start.
    refreshed = tauro("run", "--project-dir", project, "--full-refresh", "-s", "a+", "--yes",
                      "--include-side-outputs")
    assert refreshed.exit_code == 0, refreshed.output + refreshed.stderr
    # The preview comes first (--yes only skips the question; tests/functional/
    # test_reset_pty.py answers it "n" on a real terminal).
    preview = refreshed.output
    assert "tauro run --full-refresh clears 3 nodes: a, b, c" in preview
    assert f"checkpoint: {chk / 'a'} -> moved aside to {chk / 'a'}.reset-" in preview
    assert (f"output: delta {wh / 'a'}: version {a_version}, 3 rows -> replaced by an empty "
            "version (history kept: undo with RESTORE)") in preview
    assert (f"dead letters: delta {project / 'data/dl'}: version {dl_version}, 1 rows -> "
            "replaced by an empty version") in preview
    assert f"output: {project / 'data/files/c'} -> moved aside to" in preview
    assert "Not touched: d" in preview
    assert "Clear these now?" not in refreshed.stderr
    assert f"undo: RESTORE TABLE delta.`{wh / 'a'}` TO VERSION AS OF {a_version}" in \
        refreshed.output
    # Exactly the input rows: a new checkpoint gives a new query id, so batch 0 is written.
    assert ids(spark, wh / "a") == [1, 2, 3] and ids(spark, wh / "b") == [1, 2, 3]
    assert ids(spark, project / "data/files/c", "parquet") == [1, 2, 3]
    letters = spark.read.format("delta").load(str(project / "data/dl")).collect()
    assert [r.record for r in letters] == ['{"id": 3, "amo']  # emptied, then filled once
    # Unselected: every byte the same.
    assert tree_hashes(wh / "d", chk / "d") == untouched_d
    # History kept: the emptied version, and the one before it still readable.
    versions = history(spark, wh / "a")
    empty_version = next(v for v, op in versions if v > a_version and op == "WRITE")
    assert ids(spark, wh / "a", versionAsOf=str(empty_version)) == []
    assert ids(spark, wh / "a", versionAsOf=str(a_version)) == [1, 2, 3]
    # Backups of the checkpoints and of the file output, beside them.
    for backup in (chk / "a", chk / "b", chk / "c", project / "data/files/c"):
        moved = list(backup.parent.glob(f"{backup.name}.reset-*"))
        assert len(moved) == 1 and any(moved[0].iterdir()), backup
    meta = json.loads((chk / "a" / "metadata").read_text())
    old = json.loads((next(chk.glob("a.reset-*")) / "metadata").read_text())
    assert meta["id"] != old["id"]
    # RESTORE brings a version back (what the printed undo line says).
    spark.sql(f"RESTORE TABLE delta.`{wh / 'a'}` TO VERSION AS OF {empty_version}")
    assert ids(spark, wh / "a") == []

