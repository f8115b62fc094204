"""tauro_project.yml loading and file discovery."""

from __future__ import annotations

import pytest

from tauro_compile.compiler.project import NODE_SUFFIXES, discover, load_project
from tauro_compile.errors import ProjectError, UsageError


def test_defaults_and_version_text(tmp_path):
    (tmp_path / "tauro_project.yml").write_text("name: shop\nversion: 1.0\n")
    project = load_project(tmp_path)
    assert project.version == "1.0" and project.project_dir == tmp_path
    assert (project.node_paths, project.contract_paths, project.macro_paths) == (
        ["nodes"], ["contracts"], ["macros"])
    assert project.target_dir == tmp_path / "target"


def test_missing_project(tmp_path):
    with pytest.raises(UsageError, match="no tauro_project.yml"):
        load_project(tmp_path)
    with pytest.raises(UsageError, match="does not exist"):
        load_project(tmp_path / "nope")


@pytest.mark.parametrize("text, line, field", [
    ("name: shop\nprofle: dev\n", 2, "profle"),
    ("name: 'bad name'\n", 1, "name"),
    ("name: shop\nstreaming:\n  trigger: {type: sometimes}\n", 3, "streaming.trigger.type"),
    ("name: shop\nstreaming: {checkpoint_location: /x}\n", 2, "streaming"),
    ("name: shop\non_failure: {action: retry}\n", 2, "on_failure.action"),
])
def test_invalid_project_files(tmp_path, text, line, field):
    (tmp_path / "tauro_project.yml").write_text(text)
    with pytest.raises(ProjectError) as caught:
        load_project(tmp_path)
    problem = caught.value.problems[0]
    assert (problem.file, problem.line, problem.field) == ("tauro_project.yml", line, field)


def test_discover_sorted_recursive_skipping_hidden(tmp_path):
    (tmp_path / "tauro_project.yml").write_text("name: shop\nnode_paths: [nodes, more]\n")
    for rel in ("nodes/b.yml", "nodes/a/z.yaml", "nodes/.hidden/x.yml", "nodes/.x.yml",
                "nodes/readme.md", "more/m.yml"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x: 1\n")
    project = load_project(tmp_path)
    files, problems = discover(project, project.node_paths, NODE_SUFFIXES, required=True)
    assert [f.rel for f in files] == ["more/m.yml", "nodes/a/z.yaml", "nodes/b.yml"]
    assert problems == []
    files, problems = discover(project, ["missing"], NODE_SUFFIXES, required=True)
    assert files == [] and problems[0].field == "node_paths"
