"""Helpers for the streaming layer's real-Spark tests (the `spark` fixture is suite-wide)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


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


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write a throwaway Python module importable as `module:function` for this test."""
    made: list[str] = []

    def make(name: str, source: str) -> str:
        package_dir = tmp_path / "user_code"
        package_dir.mkdir(exist_ok=True)
        (package_dir / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(package_dir))
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)
