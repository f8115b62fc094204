"""`tauro status` / `tauro stop` without a run, and the operating fields the compiler checks."""

from __future__ import annotations

import json

PROJECT = {
    "tauro_project.yml": "name: ops\nprofile: dev\n",
    "profiles.yml": "dev:\n  paths: {checkpoints: chk}\n",
    "nodes/a.yml": "input: {format: rate}\noutput: {format: console}\n",
}


def test_status_and_stop_with_no_run_say_so(make_project, tauro) -> None:
    project = make_project(PROJECT)
    result = tauro("status", "--project-dir", project)
    assert result.exit_code == 0
    assert "no run of project 'ops' with profile 'dev' yet" in result.output
    doc = json.loads(tauro("status", "--project-dir", project, "--output", "json").output)
    assert doc["status_version"] == 1 and doc["run"]["state"] == "none"
    assert doc["run"]["lock"] == str(project / "chk" / ".tauro" / "run.lock")
    stop = tauro("stop", "--project-dir", project)
    assert stop.exit_code == 0 and "nothing to stop" in stop.output
    assert not (project / "target" / "run_results.json").exists()


def test_status_of_an_unknown_profile_lists_the_valid_ones(make_project, tauro) -> None:
    project = make_project(PROJECT)
    result = tauro("status", "--project-dir", project, "--profile", "prd")
    assert result.exit_code == 2 and "unknown profile 'prd'" in result.stderr
    assert "valid profiles: dev" in result.stderr and "Traceback" not in result.stderr


def test_stall_and_metrics_fields_are_validated_with_file_and_line(make_project, tauro) -> None:
    project = make_project({
        **PROJECT,
        "profiles.yml": "dev:\n  paths: {checkpoints: chk}\n  metrics: {port: 70000}\n",
        "nodes/a.yml": "input: {format: rate}\noutput: {format: console}\n"
                       "streaming:\n  stall_after: soon\n  on_stall: explode\n",
    })
    result = tauro("compile", "--project-dir", project)
    assert result.exit_code == 2 and "Traceback" not in result.stderr
    assert "profiles.yml:3" in result.stderr and "metrics.port" in result.stderr
    project.joinpath("profiles.yml").write_text(PROJECT["profiles.yml"])
    result = tauro("compile", "--project-dir", project)
    assert result.exit_code == 2
    assert "nodes/a.yml:4: 'soon' is not an interval" in result.stderr
    assert "field:    streaming.stall_after" in result.stderr
    assert "nodes/a.yml:5" in result.stderr and "'warn', 'restart' or 'fail'" in result.stderr


def test_a_bad_stop_timeout_is_a_usage_error(make_project, tauro) -> None:
    project = make_project(PROJECT)
    result = tauro("stop", "--project-dir", project, "--timeout", "soon")
    assert result.exit_code == 2 and "--timeout" in result.stderr
