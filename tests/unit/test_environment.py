"""Java, jars and versions as `tauro run`, `tauro debug` and `tauro --version` see them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tauro_compile import environment


def _fake_java(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    java = directory / "java"
    java.write_text(f'#!/bin/sh\necho \'openjdk version "{version}" 2023-01-01\' >&2\n')
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return java


@pytest.mark.parametrize(("text", "major"), [("17.0.15", 17), ("21", 21), ("1.8.0_392", 8),
                                             ("11.0.2", 11), ("", None)])
def test_java_major(text: str, major: int | None) -> None:
    assert environment.java_major(text) == major


def test_no_java_on_path_names_what_is_needed_and_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    info = environment.find_java()
    assert info.path is None and not info.ok
    message, hint = info.problem()
    assert "Java was not found (looked on PATH)" in message and "Java 17 or newer" in message
    assert "sudo apt-get install openjdk-17-jre-headless" in hint
    assert "brew install openjdk@17" in hint and "JAVA_HOME" in hint


def test_java_home_without_java_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    message, _ = environment.find_java().problem()
    assert "looked on JAVA_HOME/bin/java" in message


def test_old_java_is_too_old(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    java = _fake_java(tmp_path / "bin", "1.8.0_392")
    monkeypatch.setenv("PATH", str(java.parent))
    info = environment.find_java()
    assert (info.version, info.major, info.ok) == ("1.8.0_392", 8, False)
    message, hint = info.problem()
    assert "Java 1.8.0_392" in message and "too old" in message and "openjdk-17" in hint


def test_java_from_java_home_wins_over_path(monkeypatch, tmp_path):
    _fake_java(tmp_path / "jdk" / "bin", "21.0.1")
    _fake_java(tmp_path / "other", "11.0.2")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    monkeypatch.setenv("PATH", str(tmp_path / "other"))
    info = environment.find_java()
    assert info.major == 21 and info.ok and info.problem() is None


def test_jars_hint_says_make_setup_only_in_a_checkout(monkeypatch, tmp_path):
    root = Path(environment.__file__).resolve().parent.parent
    if environment.checkout_dir() is not None:  # the suite runs from the checkout's .venv
        assert environment.jars_hint(tmp_path) == (
            f"run `make setup` in {root} (it fetches the pinned jars from Maven Central)")
    monkeypatch.setattr(environment, "checkout_dir", lambda: None)
    hint = environment.jars_hint(tmp_path / "jars")
    assert "make setup" not in hint and "`make" not in hint
    assert environment.fetch_jars_command(tmp_path / "jars") in hint
    assert str(environment.SPARK_JARS_POM) in hint and environment.SPARK_JARS_POM.is_file()
    assert "$TAURO_JARS_DIR" in hint


def test_missing_jars_lists_each_required_artifact() -> None:
    assert environment.missing_jars(["/x/delta-spark_2.13-4.0.1.jar", "kafka-clients-3.9.1.jar"]
                                    ) == ["delta-storage", "spark-sql-kafka"]


def test_versions_text_lists_tauro_pyspark_delta_and_java(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    java = _fake_java(tmp_path, "17.0.9")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    text = environment.versions_text()
    lines = dict(line.split(None, 1) for line in text.splitlines())
    assert lines["pyspark"] == "4.0.1" and lines["delta-spark"] == "4.0.1"
    assert lines["java"] == f"17.0.9 ({java})"
    assert set(lines) == {"tauro", "pyspark", "delta-spark", "python", "java"}
