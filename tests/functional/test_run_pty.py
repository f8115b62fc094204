"""`tauro run` in a real terminal (a pty, through pexpect): what the user's screen gets.

The first line (the plan) arrives before Spark has started, and a console sink's rows are
printed whole, above the live table, never torn by it. Assertions are on content and
order; the time to the first line is measured and printed, not asserted.
"""

from __future__ import annotations

import os
import re
import sys
import time

import pytest

pexpect = pytest.importorskip("pexpect")

pytestmark = [pytest.mark.spark, pytest.mark.slow]  # its own tauro run, with its own JVM

PROJECT = {
    "tauro_project.yml": """
        name: shop
        version: "1.0"
        profile: dev
    """,
    "profiles.yml": """
        profiles:
          dev:
            spark:
              master: "local[2]"
              conf: {spark.ui.enabled: "false", spark.sql.shuffle.partitions: "2"}
            paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}
    """,
    "nodes/peek.yml": """
        input:
          format: file_stream
          path: "{{ target.paths.landing }}/orders"
          file_format: json
          schema: "order_id STRING, amount DOUBLE"
          options: {maxFilesPerTrigger: 1}
        output: {format: console, options: {truncate: "false"}}
        streaming: {trigger: {type: available_now}}
    """,
    "data/landing/orders/a.json": '{"order_id": "o1", "amount": 2.5}\n',
    "data/landing/orders/b.json": '{"order_id": "o2", "amount": 4.0}\n'
                                  '{"order_id": "o3", "amount": 1.25}\n',
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def test_first_line_comes_at_once_and_console_rows_never_tear_the_live_table(
        make_project) -> None:
    project = make_project(PROJECT)
    os.utime(project / "data/landing/orders/a.json", (1_700_000_000, 1_700_000_000))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "150", "LINES": "40"}
    env.pop("TAURO_PROFILE", None)
    started = time.monotonic()
    child = pexpect.spawn(sys.executable, ["-m", "tauro_compile", "run"], cwd=str(project),
                          env=env, dimensions=(40, 150), encoding="utf-8", timeout=480)
    try:
        child.expect("Running shop")
        first_line_after = time.monotonic() - started
        before_first = child.before
        child.expect("Spark ready in")
        child.expect(pexpect.EOF)
        screen = before_first + "Running shop" + child.before
    finally:
        child.close(force=True)
    print(f"first line after {first_line_after:.2f}s")  # measured, not asserted
    assert child.exitstatus == 0, screen[-3000:]
    assert "Spark ready" not in before_first  # the plan comes before Spark starts

    lines = [ANSI.sub("", line).rstrip() for line in
             screen.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    # Spark's console table, whole lines, exactly as df.show() prints them.
    expected = {"peek: batch 0", "peek: batch 1", "|o1      |2.5   |",
                "|o2      |4.0   |", "|o3      |1.25  |", "|order_id|amount|"}
    for text in expected:
        assert text in lines, (text, lines)
    for line in lines:
        if "|o" in line or "order_id|" in line or "peek: batch" in line:
            assert line in expected or set(line) <= {"+", "-"}, f"torn line: {line!r}"
            assert not set(line) & set("┃│━─┏┓┗┛┡┩"), f"live table inside: {line!r}"
    assert any(line.startswith("Run succeeded in") for line in lines)
    assert not any("WARN" in line or "log4j" in line for line in lines)

    # Again, with nothing new: told before Spark starts, the same live display and summary.
    child = pexpect.spawn(sys.executable, ["-m", "tauro_compile", "run"], cwd=str(project),
                          env=env, dimensions=(40, 150), encoding="utf-8", timeout=120)
    try:
        child.expect("Nothing new to read")
        child.expect(pexpect.EOF)
        again = child.before
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, again[-3000:]
    lines = [ANSI.sub("", line).rstrip() for line in
             again.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    assert any(line.startswith("Run succeeded in") for line in lines), lines
    assert any("peek" in line and "up to date: its checkpoint has read every file in" in line
               for line in lines), lines
    assert "Spark ready" not in again and "peek: batch" not in again
