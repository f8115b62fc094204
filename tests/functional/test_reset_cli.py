"""`tauro run` / `tauro reset` options that are refused before anything starts (no JVM)."""

from __future__ import annotations

PROJECT = {
    "tauro_project.yml": "name: p\nprofile: dev\n",
    "profiles.yml": "profiles:\n  dev:\n    paths: {checkpoints: chk}\n",
    "nodes/a.yml": "input: {format: rate}\noutput: {format: delta, path: wh/a}\n",
}


def test_yes_without_full_refresh_is_refused(make_project, tauro) -> None:
    project = make_project(PROJECT)
    result = tauro("run", "--project-dir", project, "--yes")
    assert result.exit_code == 2
    assert "--yes and --include-side-outputs only apply with --full-refresh" in result.stderr
    assert "hint: add --full-refresh, or use `tauro reset` to only clear" in result.stderr
    assert not (project / "chk").exists()


def test_reset_without_a_terminal_or_yes_is_refused_before_spark(make_project, tauro) -> None:
    project = make_project(PROJECT)
    result = tauro("reset", "--project-dir", project)
    assert result.exit_code == 2
    assert "tauro reset deletes checkpoints and data and asks for confirmation, but stdin " \
           "is not a terminal" in result.stderr
    assert "hint: pass --yes to confirm in a script" in result.stderr
    assert "Spark" not in result.output + result.stderr
