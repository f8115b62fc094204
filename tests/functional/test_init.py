"""`tauro init`: each template gives a project that compiles; non-empty dirs and escapes refused."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest
from click.testing import CliRunner

from tauro_compile.cli import main
from tauro_compile.errors import UsageError
from tauro_compile.tasks.init import (
    TEMPLATES,
    TemplateFile,
    project_name_for,
    template_files,
    write_files,
)

REQUIRED = ["tauro_project.yml", "profiles.yml", "README.md", ".gitignore",
            "transforms/__init__.py"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("template", TEMPLATES)
def test_init_then_compile_succeeds(tmp_path, template, monkeypatch):
    monkeypatch.delenv("TAURO_PROFILE", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    project = tmp_path / "shop-analytics"
    result = invoke("init", str(project), "--template", template)
    assert result.exit_code == 0, result.output
    assert "Next steps" in result.output and "tauro compile" in result.output
    for rel in REQUIRED:
        assert (project / rel).is_file(), rel
    assert list((project / "nodes").rglob("*.yml"))
    assert (project / "contracts").is_dir() and (project / "macros").is_dir()
    text = (project / "tauro_project.yml").read_text()
    assert "name: shop_analytics" in text and "__PROJECT_NAME__" not in text
    assert ".gitignore" not in [p.name for p in project.rglob("gitignore")]

    compiled = invoke("compile", "--project-dir", str(project), "--output", "json")
    assert compiled.exit_code == 0, compiled.output
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    assert len(manifest["nodes"]) >= 1


def test_files_to_delta_is_default_and_ships_landing_files(tmp_path):
    project = tmp_path / "p"
    assert invoke("init", str(project)).exit_code == 0
    landing = sorted((project / "data" / "landing" / "orders").glob("*.json"))
    assert len(landing) >= 2
    rows = [json.loads(line) for f in landing for line in f.read_text().splitlines()]
    assert {"order_id", "customer_id", "amount_cents"} <= set(rows[0])
    # .gitignore keeps the sample input but ignores outputs
    ignore = (project / ".gitignore").read_text()
    assert "target/" in ignore and "!data/landing/" in ignore


def test_kafka_template_reads_broker_from_env_var(tmp_path):
    project = tmp_path / "k"
    assert invoke("init", str(project), "-t", "kafka-to-delta").exit_code == 0
    text = (project / "tauro_project.yml").read_text()
    assert "env_var('KAFKA_BOOTSTRAP_SERVERS', 'localhost:9092')" in text


def test_init_refuses_non_empty_directory(tmp_path):
    project = tmp_path / "busy"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    result = invoke("init", str(project))
    assert result.exit_code == 2
    assert "not empty" in result.output and "--force" in result.output
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt"]


def test_init_force_writes_into_non_empty_directory_and_keeps_other_files(tmp_path):
    project = tmp_path / "busy"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    result = invoke("init", str(project), "--force")
    assert result.exit_code == 0, result.output
    assert (project / "notes.txt").read_text() == "mine"
    assert (project / "tauro_project.yml").is_file()


def test_init_into_existing_empty_directory(tmp_path):
    project = tmp_path / "empty"
    project.mkdir()
    assert invoke("init", str(project), "-t", "rate-to-console").exit_code == 0
    assert (project / "nodes" / "numbers.yml").is_file()


def test_init_refuses_a_file_as_directory(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    result = invoke("init", str(target))
    assert result.exit_code == 2 and "not a directory" in result.output


def test_init_relative_dir_writes_only_inside_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    assert invoke("init", "proj").exit_code == 0
    assert set(tmp_path.iterdir()) - before == {tmp_path / "proj"}


@pytest.mark.parametrize("bad", ["../escape.txt", "nodes/../../escape.txt", "/tmp/abs.txt"])
def test_write_files_refuses_paths_leaving_the_directory(tmp_path, bad):
    root = tmp_path / "root"
    root.mkdir()
    files = [TemplateFile(PurePosixPath("ok.txt"), b"ok"), TemplateFile(PurePosixPath(bad), b"x")]
    with pytest.raises(UsageError) as info:
        write_files(root, files)
    assert "refusing to write" in info.value.message
    # nothing is written at all when one path is bad
    assert list(root.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_write_files_refuses_symlink_in_directory_pointing_outside(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "nodes").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UsageError) as info:
        write_files(root, [TemplateFile(PurePosixPath("nodes/a.yml"), b"x")])
    assert "outside" in info.value.message
    assert list(outside.iterdir()) == []


def test_force_does_not_follow_symlink_out_of_directory(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "nodes").symlink_to(outside, target_is_directory=True)
    result = invoke("init", str(root), "--force")
    assert result.exit_code == 2
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("template", TEMPLATES)
def test_shipped_templates_have_only_safe_relative_paths(template):
    for f in template_files(template, "x"):
        assert not f.path.is_absolute() and ".." not in f.path.parts
        assert "__pycache__" not in f.path.parts


def test_project_name_is_an_identifier():
    assert project_name_for(Path("/a/my-project")) == "my_project"
    assert project_name_for(Path("/a/2024 sales")) == "p_2024_sales"


def test_unknown_template_is_a_usage_error():
    with pytest.raises(UsageError):
        template_files("nope", "x")


def test_next_steps_match_the_readme_quickstart_and_say_how_to_get_tauro_on_path(
        tmp_path, monkeypatch):
    import sys

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    quickstart = readme[readme.index("## Quickstart"):readme.index("## The two commands")]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # `tauro` not on PATH
    result = invoke("init", str(tmp_path / "shop"))
    lines = result.output.splitlines()
    steps = lines[lines.index("Next steps:") + 1:]
    steps = [s.strip() for s in steps[:steps.index("")]]
    assert steps == [f"cd {tmp_path / 'shop'}", "tauro compile", "tauro run"]
    for step in steps[1:]:
        assert step in quickstart
    activate = Path(sys.executable).parent / "activate"
    assert f"`tauro` is not on your PATH: run `source {activate}` first" in result.output
    assert "source .venv/bin/activate" in quickstart

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # tauro on PATH: no hint
    again = invoke("init", str(tmp_path / "shop2"))
    assert "not on your PATH" not in again.output
