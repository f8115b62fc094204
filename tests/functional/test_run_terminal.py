"""What a user's terminal shows for a real `tauro run` (its own process, its own JVM).

The terminal has Tauro's lines only: the plan, where the log is, Spark starting and ready,
progress, the summary whose time is the whole command's. Every line the JVM, log4j and
pyspark write is in the run's log file instead. Files in target/ follow the user's umask.
Set-up problems (no Java, no jars) are named with a fix and cost no JVM.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tauro_compile import environment

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
    "nodes/orders.yml": """
        input:
          format: file_stream
          path: "{{ target.paths.landing }}/orders"
          file_format: json
          schema: "order_id STRING, amount DOUBLE"
        output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
        streaming: {trigger: {type: available_now}}
    """,
    "data/landing/orders/a.json": '{"order_id": "o1", "amount": 2.5}\n',
}
JVM_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARN|ERROR)|log4j|WARNING: Using "
                      r"incubator|NativeCodeLoader|Setting default log level|SparkContext|"
                      r'^\s*at [\w.$]+\(|^\{"ts"|"logger":', re.M)


def tauro_process(project: Path, *args: str, env: dict[str, str] | None = None,
                  umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    environ.pop("TAURO_PROFILE", None)
    return subprocess.run([sys.executable, "-m", "tauro_compile", *args], cwd=project,
                          capture_output=True, text=True, env=environ, timeout=500,
                          preexec_fn=lambda: os.umask(umask), check=False)


@pytest.mark.spark  # its own tauro run process, with its own JVM
@pytest.mark.slow
def test_terminal_shows_tauros_lines_only_and_the_log_file_has_the_jvms(make_project) -> None:
    project = make_project(PROJECT)
    done = tauro_process(project, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout.splitlines()
    assert out[0] == "Running shop (profile dev): 1 node (1 bounded): orders"
    log_line = out[1]
    assert re.fullmatch(r"Log: target/logs/run-\d{8}-\d{6}(-\d+)?\.log", log_line), out
    assert out[2] == "starting Spark (local[2])..."
    spark_ready = re.fullmatch(r"Spark ready in (\d+\.\d)s \(local\[2\]\)", out[3])
    assert spark_ready, out  # no UI line: the profile disables the UI
    assert not JVM_LINE.search(done.stdout) and not JVM_LINE.search(done.stderr), (
        done.stdout + done.stderr)
    assert done.stderr == ""
    # The summary's time is the whole command's: it includes Spark's start.
    title = next(line for line in out if line.startswith("Run succeeded in"))
    total, queries = map(float, re.fullmatch(r"Run succeeded in (\d+\.\d)s \(queries "
                                             r"(\d+\.\d)s\)", title).groups())
    assert total >= float(spark_ready.group(1)) + queries - 0.2

    log_file = project / log_line.removeprefix("Log: ")
    text = log_file.read_text()
    assert "WARNING: Using incubator modules" in text                  # the JVM's own stderr
    assert re.search(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d WARN \w+: ", text, re.M)  # log4j
    assert "Using Spark's default log4j profile" not in text         # Tauro's log4j2 config
    assert "INFO tauro.run: node orders: running -> succeeded" in text
    # a bounded run on a local master: the driver JVM runs with C1 only (short-run start)
    assert re.search(r"INFO tauro.run: driver JVM options: .*-XX:TieredStopAtLevel=1", text)
    for path in (log_file, project / "target" / "manifest.json",
                 project / "target" / "run_results.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_no_java_on_path_names_the_need_and_how_to_install_it(make_project, tmp_path) -> None:
    project = make_project(PROJECT)
    bin_dir = tmp_path / "bin"  # PATH with this Python only, no java
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    done = tauro_process(project, "run", env={"PATH": str(bin_dir), "JAVA_HOME": ""})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "Error: Java was not found (looked on PATH); Spark 4.0.1 needs Java 17 or newer" in (
        done.stderr)
    assert "hint: install a Java 17 (or newer) runtime" in done.stderr
    assert "sudo apt-get install openjdk-17-jre-headless" in done.stderr
    assert "brew install openjdk@17" in done.stderr
    log_line = next(line for line in done.stderr.splitlines() if line.startswith("Log: "))
    assert "Java was not found" in (project / log_line.removeprefix("Log: ")).read_text()


def test_missing_jars_name_the_command_that_fetches_them(make_project, tmp_path) -> None:
    project = make_project(PROJECT)
    done = tauro_process(project, "run", env={"TAURO_JARS_DIR": str(tmp_path / "nojars")})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"the Delta Lake jars Tauro runs with are not in {tmp_path / 'nojars'}" in done.stderr
    # From a checkout's own .venv `make setup` exists and fetches them; from any other
    # interpreter (a worktree run with another checkout's venv) the Maven command does.
    root = environment.checkout_dir()
    if root is not None:
        assert f"hint: run `make setup` in {root}" in done.stderr
    else:
        assert environment.fetch_jars_command(tmp_path / "nojars") in done.stderr
        assert "make setup" not in done.stderr


def test_closed_pipe_ends_quietly_with_exit_0(make_project) -> None:
    files = dict(PROJECT)
    for i in range(300):
        files[f"nodes/n{i:03}.yml"] = f"""
            input: {{format: rate}}
            output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/n{i}"}}
        """
    project = make_project(files)
    done = subprocess.run(f"{sys.executable} -m tauro_compile compile | head -1", shell=True,
                          cwd=project, capture_output=True, text=True, timeout=300,
                          executable="/bin/bash",
                          env={**os.environ, "PIPESTATUS_PROBE": "1"})
    assert done.stdout.startswith("Project 'shop'") and done.stdout.count("\n") == 1
    assert done.stderr == ""
    status = subprocess.run(f"set -o pipefail; {sys.executable} -m tauro_compile compile | "
                            "head -1 >/dev/null", shell=True, cwd=project, timeout=300,
                            executable="/bin/bash", capture_output=True, text=True)
    assert status.returncode == 0 and status.stderr == ""


def test_artifacts_follow_the_umask(make_project) -> None:
    project = make_project(PROJECT)
    done = tauro_process(project, "compile", umask=0o027)
    assert done.returncode == 0, done.stderr
    for path in (project / "target" / "manifest.json", project / "target" / "compiled" /
                 "orders.yml"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path


def test_a_jvm_that_cannot_start_points_at_the_log_with_its_words(make_project,
                                                                  tmp_path) -> None:
    project = make_project(PROJECT)
    java = tmp_path / "jdk" / "bin" / "java"  # answers -version, dies when asked to run
    java.parent.mkdir(parents=True)
    java.write_text('#!/bin/sh\nif [ "$1" = "-version" ]; then\n'
                    '  echo \'openjdk version "17.0.99" 2025-01-01\' >&2; exit 0\nfi\n'
                    'echo "Error: broken JVM for the test" >&2\nexit 1\n')
    java.chmod(0o755)
    done = tauro_process(project, "run", env={"JAVA_HOME": str(tmp_path / "jdk")})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "Error: could not start Spark (local[2]): " in done.stderr
    log_line = next(line for line in done.stderr.splitlines() if line.startswith("Log: "))
    log_rel = log_line.removeprefix("Log: ")
    assert f"hint: the JVM's own words are in the log file ({log_rel}); check the profile's " \
           "spark settings (`tauro debug` checks Java, the jars and the master)" in done.stderr
    assert "broken JVM for the test" in (project / log_rel).read_text()
