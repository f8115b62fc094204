"""Where a project's files are, without parsing anything: shared by the compiler and its cache.

Light on purpose (no pydantic, no Jinja): the warm path of `tauro compile` (see
`compile_cache.py`) lists and hashes the same files the compiler reads, through the same
rules, before deciding whether anything needs compiling at all.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_FILE = "tauro_project.yml"
PROFILES_FILE = "profiles.yml"
NODE_SUFFIXES = (".yml", ".yaml")
MACRO_SUFFIXES = (".jinja", ".j2", ".sql")
DEFAULT_NODE_PATHS = ("nodes",)
DEFAULT_MACRO_PATHS = ("macros",)
DEFAULT_CONTRACT_PATHS = ("contracts",)
DEFAULT_TARGET_PATH = "target"


def walk_files(root: Path, dirs: list[str], suffixes: tuple[str, ...]) -> dict[str, str]:
    """Project-relative posix path -> absolute path of the files under `dirs` ending in
    `suffixes`, sorted by relative path; hidden files and directories are skipped."""
    prefix = len(str(root)) + 1
    found: dict[str, str] = {}
    for directory in dirs:
        base = root / directory
        if not base.is_dir():
            continue
        for current, subdirs, files in os.walk(base):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in files:
                if name.endswith(suffixes) and not name.startswith("."):
                    full = os.path.join(current, name)
                    found.setdefault(full[prefix:].replace(os.sep, "/"), full)
    return {rel: found[rel] for rel in sorted(found)}


def profile_candidates(project_dir: Path, profiles_dir: Path | None) -> list[Path]:
    """Where profiles.yml is looked for, in order: --profiles-dir only, else the project,
    then ~/.tauro."""
    if profiles_dir is not None:
        return [Path(profiles_dir) / PROFILES_FILE]
    return [Path(project_dir) / PROFILES_FILE, Path.home() / ".tauro" / PROFILES_FILE]
