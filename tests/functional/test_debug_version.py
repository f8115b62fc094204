"""`tauro debug` names what is missing with its fix; `tauro --version` lists the stack.

No JVM is started by either; the jar-fetching command a hint prints is run (offline,
from the local Maven repository `make setup` filled) to prove it fetches the jars.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
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
            spark: {master: "local[2]"}
            paths: {warehouse: data/warehouse, checkpoints: data/chk}
          cluster:
            extends: dev
            spark: {master: "spark://127.0.0.1:PORT"}
          blocked:
            extends: dev
            paths: {warehouse: data/blocker/warehouse}
    """,
    "nodes/orders.yml": """
        input: {format: rate}
        output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
    """,
}


def _project(make_project) -> Path:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    files = dict(PROJECT)
    files["profiles.yml"] = files["profiles.yml"].replace("PORT", str(port))
    project = make_project(files)
    (project / "data").mkdir()
    (project / "data" / "blocker").write_text("a file where a directory should be")
    return project


def _lines(output: str) -> dict[str, str]:
    return {line.split()[1]: line for line in output.splitlines()
            if line.split() and line.split()[0] in ("OK", "FAIL", "SKIP")}


def test_debug_in_a_ready_project_passes_every_check(make_project, tauro) -> None:
    project = _project(make_project)
    result = tauro("debug", "--project-dir", project)
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    assert set(lines) == {"python", "java", "jars", "spark", "project", "master", "target",
                          "logs", "paths.checkpoints", "paths.warehouse"}
    assert all(line.startswith("OK") for line in lines.values()), result.output
    assert "pyspark 4.0.1, delta-spark 4.0.1" in lines["spark"]
    assert "local[2] (Spark runs inside the tauro process)" in lines["master"]
    assert result.output.rstrip().endswith("All checks passed.")
    assert not (project / "target").exists()  # nothing written


def test_debug_names_each_failure_with_its_fix(make_project, tauro, tmp_path) -> None:
    project = _project(make_project)
    result = tauro("debug", "--project-dir", project, "--profile", "cluster",
                   env={"TAURO_JARS_DIR": str(tmp_path / "nojars")})
    assert result.exit_code == 1
    lines = _lines(result.output)
    assert lines["jars"].startswith("FAIL") and "delta-spark, delta-storage" in lines["jars"]
    if environment.checkout_dir() is not None:  # this checkout's own .venv: make setup
        assert "fix: run `make setup` in" in result.output
    else:  # another interpreter (a worktree run with another checkout's venv): Maven
        assert environment.fetch_jars_command(tmp_path / "nojars") in result.output
    assert lines["master"].startswith("FAIL") and "cannot be reached" in lines["master"]
    assert "fix: start the master (or the Spark Connect server)" in result.output
    assert "2 check(s) failed: jars, master" in result.output

    blocked = tauro("debug", "--project-dir", project, "--profile", "blocked")
    lines = _lines(blocked.output)
    assert blocked.exit_code == 1 and lines["paths.warehouse"].startswith("FAIL")
    assert "data/blocker is not a directory" in lines["paths.warehouse"]
    assert "fix: point paths.warehouse at a directory you can write" in blocked.output


def test_debug_without_java_gives_the_install_hint(make_project, tauro, tmp_path) -> None:
    project = _project(make_project)
    result = tauro("debug", "--project-dir", project,
                   env={"PATH": str(tmp_path), "JAVA_HOME": ""})
    assert result.exit_code == 1
    assert _lines(result.output)["java"].startswith("FAIL  java              Java was not found")
    assert "fix: install a Java 17 (or newer) runtime" in result.output
    assert "openjdk-17-jre-headless" in result.output and "brew install openjdk@17" in (
        result.output)


def test_debug_outside_a_project_checks_the_machine_only(tmp_path, tauro) -> None:
    result = tauro("debug", "--project-dir", tmp_path)
    assert result.exit_code == 0
    assert _lines(result.output)["project"].startswith("SKIP")


def test_debug_log_format_json(make_project, tauro) -> None:
    project = _project(make_project)
    result = tauro("debug", "--project-dir", project, "--log-format", "json")
    docs = [json.loads(line) for line in result.output.splitlines()]
    checks = {d["check"]: d["status"] for d in docs if d.get("event") == "check"}
    assert checks["java"] == "OK" and checks["project"] == "OK"
    assert docs[-1]["msg"] == "All checks passed."


def test_version_lists_tauro_pyspark_delta_and_java(tauro) -> None:
    result = tauro("--version")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names == ["tauro", "pyspark", "delta-spark", "python", "java"]
    assert "4.0.1" in result.output and "17." in result.output


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("mvn") is None, reason="needs Maven")
def test_the_printed_fetch_command_fetches_the_jars(tmp_path) -> None:
    target = tmp_path / "jars"
    command = environment.fetch_jars_command(target).split()
    # Offline, from what `make setup` fetched: its settings name the Central mirror
    # "maven-central-only", and Maven serves cached artifacts offline by repository id.
    settings = tmp_path / "settings.xml"
    settings.write_text("<settings><mirrors><mirror><id>maven-central-only</id>"
                        "<mirrorOf>*</mirrorOf><url>https://repo.maven.apache.org/maven2</url>"
                        "</mirror></mirrors></settings>")
    done = subprocess.run([command[0], "-o", "-s", str(settings), *command[1:]],
                          capture_output=True, text=True,
                          timeout=600, env={**os.environ, "MAVEN_OPTS": "-Xmx256m"},
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    names = sorted(p.name for p in target.glob("*.jar"))
    assert environment.missing_jars(names) == []
    assert sys.prefix  # the command wrote nowhere but the given directory
