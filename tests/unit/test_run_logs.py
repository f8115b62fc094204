"""Run logs: one file per run, pruned; -v forwards Spark's warnings; pyspark stays off stderr."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tauro_compile import run_logs
from tauro_compile.run_logs import LogFollower, is_shown_record, new_run_log, python_logging_to


def test_each_run_gets_its_own_file_and_old_ones_are_pruned(tmp_path: Path, monkeypatch) -> None:
    directory = tmp_path / "logs"
    made = []
    for i in range(5):
        path = new_run_log(directory, clock=lambda: 1_700_000_000.0)
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))
        made.append(path)
    assert made[0].name.startswith("run-") and made[1].name.endswith("-2.log")
    assert len(set(made)) == 5
    (directory / "notes.txt").write_text("mine")
    monkeypatch.setattr(run_logs, "KEEP_RUN_LOGS", 3)
    newest = new_run_log(directory)
    kept = sorted(p.name for p in directory.glob("run-*.log"))
    assert kept == sorted(p.name for p in [*made[-2:], newest])
    assert (directory / "notes.txt").exists()  # only run logs are pruned


def test_shown_records_are_spark_and_pyspark_warnings_not_tauros_own() -> None:
    assert is_shown_record("26/11/29 19:31:03 WARN ResolveWriteToStream: adaptive disabled")
    assert is_shown_record("26/11/29 19:31:03 ERROR Executor: Exception in task 0.0")
    assert is_shown_record("26/11/29 19:31:03 WARNING py4j.clientserver: closing")
    assert not is_shown_record("26/11/29 19:31:03 INFO SparkContext: Running Spark 4.0.1")
    assert not is_shown_record("26/11/29 19:31:03 WARNING tauro.run: node x restarting")
    assert not is_shown_record("\tat org.apache.spark.Foo.bar(Foo.scala:1)")
    assert not is_shown_record("WARNING: Using incubator modules: jdk.incubator.vector")


def test_follower_hands_over_new_warning_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_text("26/11/29 19:31:03 WARN Old: before the follower\n")
    seen: list[str] = []
    follower = LogFollower(path, seen.append, from_start=False)
    with open(path, "a") as out:
        out.write("26/11/29 19:31:04 INFO Chatty: ignored\n")
        out.write("26/11/29 19:31:05 WARN NativeCodeLoader: no native hadoop\n")
        out.write("26/11/29 19:31:06 ERROR Executor: boom")  # no newline yet
    follower.poll()
    assert seen == ["26/11/29 19:31:05 WARN NativeCodeLoader: no native hadoop"]
    with open(path, "a") as out:
        out.write(" in task 1\n")
    follower.start()
    follower.stop()
    assert seen[-1] == "26/11/29 19:31:06 ERROR Executor: boom in task 1"


def test_python_logging_goes_to_the_file_and_pyspark_json_loggers_leave_stderr(
        tmp_path: Path, capfd) -> None:
    from pyspark.logger import PySparkLogger

    path = tmp_path / "run.log"
    path.touch()
    with python_logging_to(path) as handler:
        logging.getLogger("py4j.clientserver").warning("closing down clientserver connection")
        logging.getLogger("py4j.clientserver").info("chatty")
        sql_logger = PySparkLogger.getLogger("SQLQueryContextLogger")
        sql_logger.exception("[UNRESOLVED_COLUMN] cannot resolve", errorClass="UNRESOLVED_COLUMN")
        logging.getLogger("tauro.run").info("node a: running")
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    text = path.read_text()
    assert "WARNING py4j.clientserver: closing down clientserver connection" in text
    assert "chatty" not in text
    assert "ERROR SQLQueryContextLogger: " in text and "UNRESOLVED_COLUMN" in text
    assert "INFO tauro.run: node a: running" in text
    # outside the run, pyspark's own handler is back
    assert PySparkLogger.getLogger("SQLQueryContextLogger").handlers
    # the file handler is gone from the root logger and closed
    assert handler not in logging.getLogger().handlers
    assert handler.stream is None
