"""`target/manifest.json`: the compiled project, for the runner and for other tools.

Schema, version 1 (a reader checks `metadata.manifest_version`; a change that removes or
renames a key bumps it, added keys do not):

```
{
  "metadata": {
    "manifest_version": 1,
    "tauro_version": "0.1.0",
    "generated_at": "2024-05-01T12:00:00+00:00",       # UTC, ISO 8601
    "project_name": "shop",
    "profile": "dev",
    "selected": ["raw_events", "clean_events"],        # after --select/--exclude, start order
    "invocation": {"command": "compile", "project_dir": "/abs/shop", "profile": "dev",
                   "profiles_dir": null, "select": [], "exclude": [], "vars": {}}
  },
  "nodes": {
    "shop.clean_events": {                             # unique id: "<project>.<node>"
      "unique_id": "shop.clean_events",
      "name": "clean_events",
      "file": "nodes/silver/clean_events.yml",         # project-relative, posix
      "line": 1,                                       # where the node starts in that file
      "checksum": "sha256:...",                        # of the node file's text as written
      "depends_on": {"nodes": ["shop.raw_events"],     # unique ids of upstream nodes
                     "sources": ["source.shop.landing_events"]},
      "tags": ["silver"],
      "description": "...",
      "config": {...},        # the resolved NodeConfig (streaming.config), secrets masked
      "checkpoint_location": "/abs/checkpoints/clean_events",
      "query_name": "clean_events",
      "trigger": {"type": "processing_time", "interval": "30 seconds"},
      "output_mode": "append",
      "bounded": false        # true when the trigger ends by itself (once, available_now)
    }
  },
  "sources": {
    "source.shop.landing_events": {"unique_id": ..., "name": "landing_events",
                                   "file": "tauro_project.yml", "line": 12, "config": {...}}
  },
  "parent_map": {"shop.clean_events": ["shop.raw_events"], "shop.raw_events": []},
  "child_map":  {"shop.raw_events": ["shop.clean_events"], "shop.clean_events": []}
}
```

`nodes`, `parent_map` and `child_map` hold every node of the project (selected or not);
the maps list node unique ids only, sorted. Secret values (`secret()` placeholders,
`env_var()` values that land in secret-like option keys, values of secret-like keys) are
`***`. The file is written atomically (temp file, then rename) and only by a compile
that found no problem, so it always describes the last valid compile.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile import __version__
from tauro_compile.errors import UsageError
from tauro_compile.fileio import default_file_mode
from tauro_compile.streaming.secrets import mask_structure

if TYPE_CHECKING:
    from tauro_compile.compiler.compile import CompiledProject

MANIFEST_VERSION = 1
MANIFEST_FILE = "manifest.json"


class ManifestError(UsageError):
    """A manifest that is missing, unreadable or of a version this Tauro cannot read."""


def generated_at() -> str:
    """The manifest's `metadata.generated_at`: now, UTC, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def source_id(project: str, name: str) -> str:
    return f"source.{project}.{name}"


def build_manifest(compiled: CompiledProject, invocation: dict[str, Any]) -> dict[str, Any]:
    """The manifest document of a compiled project (see the module docstring)."""
    project = compiled.project.name
    secrets = compiled.secret_values
    uid = {name: node.unique_id for name, node in compiled.nodes.items()}
    nodes: dict[str, Any] = {}
    parent_map: dict[str, list[str]] = {}
    child_map: dict[str, list[str]] = {}
    for name in sorted(compiled.nodes):
        node = compiled.nodes[name]
        config = node.config
        streaming = config.streaming
        nodes[node.unique_id] = mask_structure({
            "unique_id": node.unique_id,
            "name": name,
            "file": node.file,
            "line": node.line,
            "checksum": f"sha256:{node.checksum}",
            "depends_on": {
                "nodes": sorted(uid[d] for d in node.depends_on if d in uid),
                "sources": sorted(source_id(project, s) for s in node.sources),
            },
            "tags": list(node.tags),
            "description": node.description,
            "config": config.model_dump(mode="json", by_alias=True),
            "checkpoint_location": streaming.checkpoint_location,
            "query_name": config.query_name,
            "trigger": {"type": streaming.trigger.type.value, "interval": streaming.trigger.interval},
            "output_mode": streaming.output_mode.value,
            "bounded": streaming.trigger.bounded,
        }, secrets)
        parent_map[node.unique_id] = [uid[p] for p in compiled.graph.parents(name)]
        child_map[node.unique_id] = [uid[c] for c in compiled.graph.children(name)]
    sources = {
        source_id(project, name): mask_structure({
            "unique_id": source_id(project, name), "name": name, "file": "tauro_project.yml",
            "line": declared.line,
            "config": declared.config.model_dump(mode="json", by_alias=True),
        }, secrets)
        for name, declared in sorted(compiled.sources.items())
    }
    return {
        "metadata": {
            "manifest_version": MANIFEST_VERSION,
            "tauro_version": __version__,
            "generated_at": generated_at(),
            "project_name": project,
            "profile": compiled.profile.name,
            "selected": list(compiled.selected),
            "invocation": mask_structure(invocation, secrets),
        },
        "nodes": nodes,
        "sources": sources,
        "parent_map": parent_map,
        "child_map": child_map,
    }


def write_atomically(path: Path, text: str | Iterable[str]) -> None:
    """Write `text` (or its pieces, in order) to `path` through a temp file and a rename:
    readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_file_mode())  # mkstemp's 0600 would ignore the umask
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if isinstance(text, str):
                handle.write(text)
            else:
                handle.writelines(text)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def render_manifest(document: dict[str, Any]) -> str:
    """The manifest file's text."""
    # Compact: json's C encoder only runs without `indent` (5x faster on large projects).
    return json.dumps(document, separators=(",", ":"), default=str) + "\n"


def write_manifest(document: dict[str, Any] | str, target_dir: Path) -> Path:
    """Write the manifest (a document or its text) into `target_dir` atomically; its path."""
    path = target_dir / MANIFEST_FILE
    write_atomically(path, document if isinstance(document, str) else render_manifest(document))
    return path


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest (a file, or a target directory holding one) and check its version."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"no manifest at {path}", hint="run `tauro compile` first") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read the manifest {path}: {exc}") from None
    version = (document.get("metadata") or {}).get("manifest_version") \
        if isinstance(document, dict) else None
    if version != MANIFEST_VERSION:
        raise ManifestError(
            f"manifest {path} has version {version!r}; this Tauro reads version "
            f"{MANIFEST_VERSION}", hint="run `tauro compile` again with this Tauro",
        )
    return document
