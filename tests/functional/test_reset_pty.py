"""`tauro reset` on a real terminal (a pty, through pexpect): the preview, the question, and
"n" changes nothing. Its own JVM (a subprocess), so marked slow."""

from __future__ import annotations

import os
import re
import sys

import pytest

pexpect = pytest.importorskip("pexpect")

pytestmark = [pytest.mark.spark, pytest.mark.slow]

PROJECT = {
    "tauro_project.yml": "name: shop\nprofile: dev\n",
    "profiles.yml": """
        profiles:
          dev:
            spark:
              master: "local[1]"
              conf: {spark.ui.enabled: "false", spark.sql.shuffle.partitions: "1",
                     spark.driver.extraJavaOptions: "-XX:TieredStopAtLevel=1"}
            paths: {warehouse: data/wh, checkpoints: data/chk}
    """,
    "nodes/a.yml": """
        input:
          format: file_stream
          path: data/landing
          file_format: json
          schema: "id BIGINT"
          on_parse_error: dead_letter
          dead_letter: {format: delta, path: data/dl}
        output: {format: delta, path: "{{ target.paths.warehouse }}/a"}
    """,
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def test_the_question_is_asked_on_a_terminal_and_no_changes_nothing(make_project) -> None:
    project = make_project(PROJECT)
    (project / "data/chk/a").mkdir(parents=True)
    (project / "data/chk/a/metadata").write_text('{"id":"x"}\n')
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "150"}
    env.pop("TAURO_PROFILE", None)
    child = pexpect.spawn(sys.executable, ["-m", "tauro_compile", "reset"], cwd=str(project),
                          env=env, dimensions=(40, 150), encoding="utf-8", timeout=480)
    try:
        child.expect(r"Clear these now\? \[y/N\]")
        screen = ANSI.sub("", child.before)
        child.sendline("n")
        child.expect(pexpect.EOF)
        screen += ANSI.sub("", child.before)
    finally:
        child.close(force=True)
    assert child.exitstatus == 1, screen[-3000:]
    assert "tauro reset clears 1 node: a" in screen
    chk = project / "data" / "chk" / "a"
    assert f"checkpoint: {chk} -> moved aside to {chk}.reset-" in screen
    assert f"output: delta {project / 'data' / 'wh' / 'a'}: no table yet, nothing to clear" \
        in screen
    assert (f"dead letters: delta {project / 'data' / 'dl'}: kept; what the node sends there "
            "again is added to it (add --include-side-outputs to empty it first)") in screen
    assert "Nothing was changed." in screen
    assert (chk / "metadata").read_text() == '{"id":"x"}\n'
    assert not list(chk.parent.glob("a.reset-*"))
