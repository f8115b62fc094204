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


HOLDER = """
import sys, time
from pathlib import Path
from tauro_compile.runner.lock import RunLock
lock = RunLock(Path(sys.argv[1]), shared=True, project="ops", profile="dev",
               project_dir=sys.argv[2], command="tauro run (a run that never stops)")
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def test_stop_waits_then_force_kills_a_run_that_does_not_stop(make_project, tmp_path) -> None:
    import subprocess
    import sys

    project = make_project(PROJECT)
    state = project / "chk" / ".tauro"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state), str(project)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cli = [sys.executable, "-m", "tauro_compile", "stop", "--project-dir", str(project),
               "--timeout", "1s"]
        waited = subprocess.run(cli, capture_output=True, text=True, timeout=60)
        assert waited.returncode == 1
        assert "still stopping after 1s" in waited.stderr and "--force" in waited.stderr
        assert holder.poll() is None                     # without --force nothing is killed
        forced = subprocess.run([*cli, "--force"], capture_output=True, text=True, timeout=60)
        assert forced.returncode == 1
        assert f"killed pid {holder.pid}" in forced.stderr
        assert holder.wait(timeout=30) == -9
        status = subprocess.run([sys.executable, "-m", "tauro_compile", "status",
                                 "--project-dir", str(project), "-o", "json"],
                                capture_output=True, text=True, timeout=60)
        run = json.loads(status.stdout)["run"]
        assert run["state"] == "dead" and f"pid {holder.pid}" in run["dead_reason"]
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_watch_prints_one_json_document_per_update(make_project) -> None:
    from tauro_compile.compiler.options import ProjectOptions
    from tauro_compile.console import CaptureConsole
    from tauro_compile.tasks.status import run_status_command

    project = make_project(PROJECT)
    console = CaptureConsole()
    code = run_status_command(ProjectOptions(project_dir=project), console, output="json",
                              watch=True, interval=0.01, max_updates=3)
    lines = console.output.splitlines()
    assert code == 0 and len(lines) == 3
    assert all(json.loads(line)["run"]["state"] == "none" for line in lines)
