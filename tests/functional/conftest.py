"""Functional-test helpers: a project given as `{path: text}` written to tmp_path, and the CLI.

    def test_x(make_project, tauro):
        project = make_project({"tauro_project.yml": "...", "nodes/a.yml": "..."})
        result = tauro("compile", "--project-dir", project)
        assert result.exit_code == 0
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tauro_compile.cli import main

ProjectFactory = Callable[..., Path]
Tauro = Callable[..., Result]


def write_project(root: Path, files: Mapping[str, str]) -> Path:
    """Write each `{relative path: text}` entry (dedented) under `root`; returns `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> ProjectFactory:
    """Write a project into a fresh directory under tmp_path (name: `project` unless given)."""

    def make(files: Mapping[str, str], name: str = "project") -> Path:
        return write_project(tmp_path / name, files)

    return make


@pytest.fixture
def tauro(monkeypatch: pytest.MonkeyPatch) -> Tauro:
    """Invoke the `tauro` CLI in-process; stdout and stderr are kept apart on the result."""
    monkeypatch.delenv("TAURO_PROFILE", raising=False)

    def invoke(*args: str | Path, env: Mapping[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, [str(a) for a in args], env=dict(env or {}),
                             catch_exceptions=False)

    return invoke


EXAMPLE_PROJECT = Path(__file__).resolve().parents[2] / "example_project"
EXAMPLE_TABLES = ("bronze/raw_events", "silver/clean_events", "gold/purchases",
                  "gold/user_activity", "quarantine/clean_events")


def _copy_example(dest: Path) -> Path:
    """A copy of example_project/ without anything a run generated."""
    import shutil

    return Path(shutil.copytree(EXAMPLE_PROJECT, dest, ignore=shutil.ignore_patterns(
        "target", "warehouse", "checkpoints", "prod", "__pycache__")))


@pytest.fixture(scope="session")
def copy_example() -> Callable[[Path], Path]:
    """Copy example_project/ (as shipped, nothing generated) to a directory."""
    return _copy_example


@pytest.fixture(scope="session")
def example_local_counts(tmp_path_factory: pytest.TempPathFactory, _shared_spark) -> dict[str, int]:
    """Rows of each table of example_project after a local `tauro run --profile dev`.

    The reference the cluster and Connect runs of the same project are compared with; run
    once per test session, in-process on the shared local session.
    """
    project = _copy_example(tmp_path_factory.mktemp("example-local") / "example_project")
    spark = _shared_spark.session("example_local_counts")
    result = CliRunner().invoke(main, ["run", "--project-dir", str(project), "--plain",
                                       "--profile", "dev"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    warehouse = project / "data" / "warehouse"
    counts = {t: spark.read.format("delta").load(str(warehouse / t)).count()
              for t in EXAMPLE_TABLES}
    assert all(counts.values()), counts
    return counts
