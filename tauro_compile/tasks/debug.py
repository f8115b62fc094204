"""`tauro debug`: is this machine and this project ready to run? (as `dbt debug`)

Each check prints OK, FAIL (with the fix) or SKIP (with why), and nothing starts a JVM:
Python, Java (17+), the pinned Delta/Kafka jars, pyspark and delta-spark (a matching pair),
the project and its profile (a full compile, nothing written), the profile's Spark master
(a TCP connection to `spark://` / `sc://` / `k8s://` hosts; `local[...]` needs none), and
whether the target directory, the log directory and the profile's local paths are writable
(or can be created). Exit code 1 when any check fails.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console
from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK, TauroError

CONNECT_TIMEOUT_S = 3.0
_HOST_PORT = re.compile(r"^(?P<scheme>spark|sc|k8s)://(?:https?://)?(?P<rest>.+)$")
_DEFAULT_PORTS = {"spark": 7077, "sc": 15002, "k8s": 443}


@dataclass(frozen=True)
class Check:
    """One line of `tauro debug`: status is OK, FAIL or SKIP."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    def render(self) -> str:
        text = f"{self.status:<5} {self.name:<17} {self.detail}"
        if self.fix:
            text += f"\n{'':23}{'fix' if self.status == 'FAIL' else 'note'}: {self.fix}"
        return text


def run_debug(options: ProjectOptions, console: Console, log_path: Path | None = None) -> int:
    """Print every check; the exit code (1 when one failed)."""
    checks = environment_checks()
    checks += project_checks(options, log_path)
    for check in checks:
        console.event("check", check.render(), check=check.name, status=check.status,
                      detail=check.detail, fix=check.fix)
    failed = [c.name for c in checks if c.status == "FAIL"]
    console.out("")
    console.out(f"{len(failed)} check(s) failed: {', '.join(failed)}" if failed
                else "All checks passed.")
    return EXIT_NODE_FAILED if failed else EXIT_OK


def environment_checks() -> list[Check]:
    from tauro_compile.environment import (
        find_java,
        jars_hint,
        missing_jars,
        package_version,
    )
    from tauro_compile.streaming.session import jars_dir, pinned_jars

    checks = []
    version = sys.version.split()[0]
    if sys.version_info[:2] == (3, 11):
        checks.append(Check("python", "OK", f"{version} ({sys.executable})"))
    else:
        checks.append(Check("python", "FAIL", f"{version}: Tauro is built for Python 3.11",
                            "install Python 3.11 and Tauro into a virtualenv made with it"))
    java = find_java()
    problem = java.problem()
    if problem is None:
        checks.append(Check("java", "OK", f"{java.version} ({java.path})"))
    else:
        checks.append(Check("java", "FAIL", problem[0], problem[1]))
    found = pinned_jars()
    missing = missing_jars(found)
    if missing:
        checks.append(Check("jars", "FAIL", f"missing in {jars_dir()}: {', '.join(missing)}",
                            jars_hint(jars_dir())))
    else:
        checks.append(Check("jars", "OK", f"{len(found)} pinned jars in {jars_dir()}"))
    pyspark, delta = package_version("pyspark"), package_version("delta-spark")
    if pyspark and delta and pyspark.split(".")[:2] == delta.split(".")[:2]:
        checks.append(Check("spark", "OK", f"pyspark {pyspark}, delta-spark {delta}"))
    else:
        checks.append(Check("spark", "FAIL", f"pyspark {pyspark or 'missing'}, delta-spark "
                            f"{delta or 'missing'}: they must be a matching pair",
                            "pip install 'pyspark==4.0.1' 'delta-spark==4.0.1'"))
    return checks


def project_checks(options: ProjectOptions, log_path: Path | None = None) -> list[Check]:
    from tauro_compile.compiler.compile import compile_project

    project_file = Path(options.project_dir) / "tauro_project.yml"
    if not project_file.is_file():
        return [Check("project", "SKIP", f"no tauro_project.yml in {options.project_dir}",
                      "run `tauro debug` in a project (or pass --project-dir) to check it too")]
    try:
        compiled = compile_project(options, write_artifacts=False)
    except TauroError as exc:
        return [Check("project", "FAIL", exc.render().splitlines()[0],
                      "run `tauro compile` for every problem with its file and line")]
    profile = compiled.profile
    checks = [Check("project", "OK", f"{compiled.project.name}: {len(compiled.nodes)} nodes, "
                    f"profile {profile.name}")]
    checks.append(master_check(profile.spark.master))
    places = {"target": compiled.target_dir,
              "logs": log_path or compiled.target_dir / "logs"}
    places.update({f"paths.{k}": v for k, v in sorted(profile.paths.items())})
    for name, where in places.items():
        checks.append(writable_check(name, str(where)))
    return checks


def master_check(master: str) -> Check:
    """Reachability of the profile's Spark master (a TCP connection, no Spark involved)."""
    from tauro_compile.streaming.session import is_local_master

    if is_local_master(master):
        return Check("master", "OK", f"{master} (Spark runs inside the tauro process)")
    match = _HOST_PORT.match(master.strip())
    if match is None:
        return Check("master", "SKIP", f"{master}: not checked (only spark://, sc://, k8s:// "
                     "and local masters are)")
    reasons = []
    for address in match["rest"].split(","):
        host, _, port = address.split("/")[0].rpartition(":")
        if not host:
            host, port = port, str(_DEFAULT_PORTS[match["scheme"]])
        try:
            with socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S):
                return Check("master", "OK", f"{master} answers on {host}:{port}")
        except (OSError, ValueError) as exc:
            reasons.append(f"{host}:{port}: {getattr(exc, 'strerror', None) or exc}")
    return Check("master", "FAIL", f"{master} cannot be reached ({'; '.join(reasons)})",
                 "start the master (or the Spark Connect server), or fix spark.master in "
                 "the profile; check firewalls between this machine and the master")


def writable_check(name: str, where: str) -> Check:
    """Can Tauro write there (or create it)? Remote URIs (s3a://, ...) are not checked."""
    if re.match(r"^[a-zA-Z][\w+.-]*://", where) and not where.startswith("file:"):
        return Check(name, "SKIP", f"{where}: remote, not checked")
    path = Path(where.removeprefix("file://").removeprefix("file:"))
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        state = "writable" if existing == path else f"can be created (under {existing})"
        return Check(name, "OK", f"{path} {state}")
    why = "is not a directory" if existing.exists() and not existing.is_dir() else \
        "is not writable"
    return Check(name, "FAIL", f"{path} cannot be written: {existing} {why}",
                 f"point {name} at a directory you can write, or fix {existing}")
