"""Helpers of the operate tests: a real `tauro run` in its own process, and polling its files."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WAIT = 240.0


def tauro_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TAURO_PROFILE", None)
    return env


def start_run(project: Path, *args: str, log: Path) -> subprocess.Popen:
    """`tauro run --plain` in its own session (its own process group), output to `log`."""
    out = open(log, "w")  # noqa: SIM115 - closed by the caller's finish()
    return subprocess.Popen(
        [sys.executable, "-m", "tauro_compile", "run", "--plain", "--project-dir", str(project),
         *args], stdout=out, stderr=subprocess.STDOUT, text=True, env=tauro_env(),
        start_new_session=True)


def tauro(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """A short `tauro` command in a subprocess (another shell)."""
    return subprocess.run([sys.executable, "-m", "tauro_compile", *map(str, args)],
                          capture_output=True, text=True, env=tauro_env(), timeout=timeout)


def results(project: Path) -> dict[str, Any] | None:
    try:
        return json.loads((project / "target" / "run_results.json").read_text())
    except (OSError, ValueError):
        return None


def wait_for(what: str, check: Callable[[], Any], proc: subprocess.Popen | None = None,
             log: Path | None = None, timeout: float = WAIT, every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; fail naming `what` (and the run's log)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(every)
    tail = log.read_text()[-4000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}; run log:\n{tail}")


def node_field(project: Path, node: str, field: str) -> Any:
    return ((results(project) or {}).get("nodes", {}).get(node) or {}).get(field)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def finish(proc: subprocess.Popen, timeout: float = 120) -> int:
    """Wait for the run to end (killing it and its group if it does not)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise


def kill_group(proc: subprocess.Popen) -> None:
    import signal

    for pgid in {proc.pid}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=30)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


def cleanup(proc: subprocess.Popen, project: Path) -> None:
    """Leave nothing running: the run's process group, then its driver JVM (own group)."""
    import signal

    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    driver = ((results(project) or {}).get("metadata", {}).get("driver") or {}).get("pid")
    if driver and not pid_gone(int(driver)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(driver), signal.SIGKILL)
