"""Options shared by the commands that load a project (declared once, used by every task)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProjectOptions:
    """Where the project is, which profile, which vars, which nodes."""

    project_dir: Path = Path(".")
    profile: str | None = None
    profiles_dir: Path | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    debug: bool = False
