"""The Tauro project the runner benchmarks share: one file-stream source, a bounded
(`available_now`) profile on a local master, and the nodes each benchmark brings.

Imported by the scripts next to it (`python bench/x.py` puts bench/ on sys.path)."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path


def write_file_stream_project(directory: Path, *, name: str, source: str, landing: Path,
                              schema: str, master: str, conf: dict[str, str],
                              files: dict[str, str]) -> Path:
    """Write the project into `directory` (replacing what was there): `source` reads JSON
    files with `schema` from `landing`; `files` are the nodes and any other project files,
    by path relative to the project."""
    texts = {
        "tauro_project.yml": f"""
            name: {name}
            version: "1.0"
            profile: bench
            sources:
              {source}:
                format: file_stream
                path: "{landing}"
                file_format: json
                schema: "{schema}"
        """,
        "profiles.yml": f"""
            profiles:
              bench:
                spark:
                  master: "{master}"
                  conf: {json.dumps(conf)}
                paths: {{warehouse: data/warehouse, checkpoints: data/chk}}
                nodes:
                  "*": {{streaming: {{trigger: {{type: available_now}}}}}}
        """,
        **files,
    }
    if directory.exists():
        shutil.rmtree(directory)
    for rel, text in texts.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return directory


def publish(text: str, out: Path) -> None:
    """Print a bench's results and write them to `out` (under bench/results/)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"wrote {out}")
