"""`target/compile_cache.json`: lets `tauro compile` skip compiling when nothing changed.

Like dbt's partial parse, but all or nothing, so it is never wrong: the cache holds what the
last successful `tauro compile` printed and wrote (plan, warnings, manifest with its
`generated_at` left out), keyed by everything that compile read. A compile reuses it only
when every one of these is as it was:

- the bytes of `tauro_project.yml`, of the profiles file (and which candidate location
  held one), of every macro file and node file (and the list of them);
- the options: `--profile`, `--profiles-dir`, `--vars`, `--select`, `--exclude`, the
  project directory, the working directory, the home directory, `sys.path`;
- the value (or absence) of every environment variable the compile looked up
  (`env_var()` in any file, `$TAURO_PROFILE`), kept only as a salted PBKDF2 digest;
- every file-system answer the reference and contract checks used (see
  `streaming/probes.py`: transform modules and contract files by sha256, whether a
  module or package is there);
- the Tauro version and the size and mtime of every file of the installed package;
- `target/compiled/`: the same `.yml` files, each with the size and mtime it had after
  the last compile wrote it.

Otherwise the project is compiled from scratch (and the cache rewritten). A compile that
found problems writes no cache (and removes an old one), so errors always come from a real
compile. Files are hashed *before* the compile reads them, so an edit made during a compile
is seen as a change by the next one. The cache stores nothing a compile's own outputs do
not already show: the plan, the warnings and the manifest are masked as printed; no file
content and no environment value is stored. `tauro compile --no-cache` ignores and removes it.

Light on purpose: the warm path imports neither pydantic nor Jinja.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import tauro_compile
from tauro_compile.compiler.discovery import (
    DEFAULT_MACRO_PATHS,
    DEFAULT_NODE_PATHS,
    DEFAULT_TARGET_PATH,
    MACRO_SUFFIXES,
    NODE_SUFFIXES,
    PROJECT_FILE,
    profile_candidates,
    walk_files,
)

if TYPE_CHECKING:
    from tauro_compile.compiler.compile import CompiledProject
    from tauro_compile.compiler.options import ProjectOptions

CACHE_FILE = "compile_cache.json"
CACHE_FORMAT = 1
COMPILED_DIR = "compiled"
PROFILE_ENV = "TAURO_PROFILE"
_PBKDF2_ROUNDS = 20_000
_STAMP = '"generated_at":'


class EnvironRecorder(Mapping[str, str]):
    """A read-only view of the environment that remembers every name looked up."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.names: set[str] = set()
        self.whole = False   # iterated: the compile may depend on any variable

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return self._environ[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.names.add(name)
        return name in self._environ

    def __iter__(self) -> Iterator[str]:
        self.whole = True
        return iter(self._environ)

    def __len__(self) -> int:
        self.whole = True
        return len(self._environ)


@dataclass(frozen=True)
class Hit:
    """What the last compile printed and wrote, ready to be printed and written again."""

    plan_text: str
    plan_json: str
    warnings: list[str]
    manifest_prefix: str     # up to `"generated_at":`, included
    manifest_suffix: str     # from the comma after its value

    def manifest_text(self, generated_at: str) -> str:
        return self.manifest_prefix + json.dumps(generated_at) + self.manifest_suffix


@dataclass(frozen=True)
class Snapshot:
    """The inputs of a compile, hashed before it runs."""

    project_dir: Path
    target_dir: Path
    key: str
    files: dict[str, bytes]   # absolute path -> bytes of each node and macro file, as hashed

    @property
    def path(self) -> Path:
        return self.target_dir / CACHE_FILE

    def lookup(self, environ: Mapping[str, str]) -> Hit | None:
        """The cached result when every input is as it was; None otherwise."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                meta_line, plan_text, plan_json, manifest = handle.read().split("\n", 3)
            meta = json.loads(meta_line)
        except (OSError, ValueError):
            return None
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != self.key:
            return None
        salt = bytes.fromhex(meta["salt"])
        if _env_digest(meta["env_names"], environ, salt) != meta["env_digest"]:
            return None
        from tauro_compile.streaming.probes import evaluate

        if any(evaluate(kind, subject) != answer for kind, subject, answer in meta["probes"]):
            return None
        if _compiled_state(self.target_dir) != meta["compiled"]:
            return None
        start, end = meta["stamp"]
        return Hit(json.loads(plan_text), plan_json, meta["warnings"], manifest[:start],
                   manifest[end:])

    def store(self, compiled: CompiledProject, plan_text: str, document: dict[str, Any],
              warnings: list[str], environ: Mapping[str, str]) -> None:
        """Write the cache for a successful compile (nothing when it cannot be trusted)."""
        text = compiled.manifest_text
        found = text.find(_STAMP) if text is not None else -1
        if text is None or compiled.env_whole or found < 0:
            forget(self.target_dir)
            return
        start = found + len(_STAMP)
        end = text.index(",", start)   # the stamp is a plain ISO string: no comma inside
        salt = secrets.token_bytes(16)
        names = sorted({*compiled.env_names, PROFILE_ENV})
        meta = {
            "format": CACHE_FORMAT, "key": self.key, "salt": salt.hex(), "env_names": names,
            "env_digest": _env_digest(names, environ, salt),
            "probes": [list(p) for p in compiled.probes], "stamp": [start, end],
            "warnings": warnings, "compiled": _compiled_state(self.target_dir),
        }
        from tauro_compile.compiler.manifest import write_atomically

        # Piece by piece: no copy of the (large) manifest text is made.
        write_atomically(self.path, (
            json.dumps(meta, separators=(",", ":")), "\n", json.dumps(plan_text), "\n",
            json.dumps(document, separators=(",", ":"), default=str), "\n", text,
        ))


def snapshot(options: ProjectOptions) -> Snapshot | None:
    """Hash the compile's inputs; None when the project cannot even be located or parsed
    (the compile reports why)."""
    project_dir = Path(os.path.abspath(options.project_dir))
    try:
        project_bytes = (project_dir / PROJECT_FILE).read_bytes()
        project = yaml.load(project_bytes, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(project, dict):
        return None
    node_paths = project.get("node_paths", list(DEFAULT_NODE_PATHS))
    macro_paths = project.get("macro_paths", list(DEFAULT_MACRO_PATHS))
    target_path = project.get("target_path", DEFAULT_TARGET_PATH)
    if not (_strings(node_paths) and _strings(macro_paths) and isinstance(target_path, str)):
        return None
    digest = hashlib.sha256()
    files: dict[str, bytes] = {}

    def add(*parts: object) -> None:
        digest.update(json.dumps(parts, default=str).encode())
        digest.update(b"\0")

    add(CACHE_FORMAT, tauro_compile.__version__, _package_state(), sys.version,
        sys.executable, sys.path, os.getcwd(), str(Path.home()), str(project_dir))
    add(options.profile, str(options.profiles_dir) if options.profiles_dir else None,
        json.dumps(options.vars, sort_keys=True, default=str), list(options.select),
        list(options.exclude))
    add(PROJECT_FILE, hashlib.sha256(project_bytes).hexdigest())
    for candidate in profile_candidates(project_dir, options.profiles_dir):
        add(str(Path(os.path.abspath(candidate))), _file_digest(candidate))
    for dirs, suffixes in ((macro_paths, MACRO_SUFFIXES), (node_paths, NODE_SUFFIXES)):
        add(dirs, [os.path.isdir(project_dir / d) for d in dirs])
        for rel, full in walk_files(project_dir, dirs, suffixes).items():
            try:
                with open(full, "rb") as handle:
                    files[full] = data = handle.read()
                add(rel, hashlib.sha256(data).hexdigest())
            except OSError as exc:  # the compile reports it (and is not cached)
                add(rel, f"error:{exc.errno}")
    return Snapshot(project_dir, project_dir / target_path, digest.hexdigest(), files)


def forget(target_dir: Path) -> None:
    """Remove the cache of a project's target directory (when there is one)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target_dir / CACHE_FILE)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _file_digest(path: Path | str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None
    except OSError as exc:  # unreadable: never equal to a readable state
        return f"error:{exc.errno}"


def _env_digest(names: list[str], environ: Mapping[str, str], salt: bytes) -> str:
    """A slow, salted digest of the variables' values: changes are seen, values not kept."""
    values = json.dumps([[name, environ.get(name)] for name in names]).encode()
    return hashlib.pbkdf2_hmac("sha256", values, salt, _PBKDF2_ROUNDS).hex()


def _compiled_state(target_dir: Path) -> dict[str, list[int]]:
    """Name -> [size, mtime_ns] of each compiled `.yml` file."""
    state: dict[str, list[int]] = {}
    try:
        entries = list(os.scandir(target_dir / COMPILED_DIR))
    except OSError:
        return state
    for entry in entries:
        if entry.name.endswith(".yml"):
            info = entry.stat(follow_symlinks=False)
            state[entry.name] = [info.st_size, info.st_mtime_ns]
    return dict(sorted(state.items()))


def _package_state() -> list[tuple[str, int, int]]:
    """Size and mtime of every Python file of the installed Tauro (an upgrade or an edit
    of a checkout invalidates every cache)."""
    root = os.path.dirname(tauro_compile.__file__)
    found = []
    for current, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                info = os.stat(os.path.join(current, name))
                found.append((os.path.join(current, name)[len(root):], info.st_size,
                              info.st_mtime_ns))
    return found
