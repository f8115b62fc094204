"""Helpers shared by the streaming layer's real-Spark tests (imported as `streaming_helpers`).

No conftest.py here on purpose: other test directories import names from their own
`conftest`, which breaks when several directories have one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def write_json_lines(directory: Path, name: str, rows: Iterable[dict[str, Any]]) -> Path:
    """A JSON-lines file written atomically (a file stream must never see half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory.parent / f".{directory.name}-{name}.tmp"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    target = directory / name
    tmp.rename(target)
    return target


def bounded_node(name: str, input_: dict[str, Any], output: dict[str, Any],
                 **extra: Any) -> dict[str, Any]:
    """A node dict with an available_now trigger."""
    streaming = {"trigger": {"type": "available_now"}, **extra.pop("streaming", {})}
    return {"name": name, "input": input_, "output": output, "streaming": streaming, **extra}


def write_user_module(tmp_path: Path, monkeypatch: Any, name: str, source: str) -> str:
    """A throwaway module importable as `name:function` for the rest of this test."""
    import sys
    import textwrap

    package_dir = tmp_path / "user_code"
    package_dir.mkdir(exist_ok=True)
    (package_dir / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(package_dir))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name
