"""Where a project's run state is, for `tauro status` / `tauro stop` (no JVM, no artifacts).

Only the project file and the profile are read when the profile sets `paths.checkpoints`;
otherwise the project is compiled (without writing artifacts) to find the nodes'
checkpoint directories, whose common parent holds the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tauro_compile.compiler.options import ProjectOptions

if TYPE_CHECKING:
    from tauro_compile.compiler.compile import CompiledProject


@dataclass(frozen=True)
class RunLocation:
    """A project + profile's run state: the lock's directory and the results' directory."""

    project: str
    profile: str
    target_dir: Path
    state_dir: Path
    shared: bool


def all_checkpoints(compiled: CompiledProject) -> list[str]:
    """Every node's checkpoint location, selected or not: one lock for the whole project."""
    return [n.config.streaming.checkpoint_location for n in compiled.nodes.values()
            if n.config.streaming.checkpoint_location]


def locate_run(options: ProjectOptions) -> RunLocation:
    """The run state of `options`' project and profile."""
    import os

    from tauro_compile.compiler.profiles import load_profile
    from tauro_compile.compiler.project import load_project
    from tauro_compile.compiler.rendering import Renderer
    from tauro_compile.runner.lock import state_dir_for

    project = load_project(options.project_dir)
    context = {"name": project.name, "version": project.version, "vars": dict(project.vars)}
    renderer = Renderer(variables={**project.vars, **options.vars}, project=context,
                        environ=os.environ)
    profile = load_profile(project.project_dir, profiles_dir=options.profiles_dir,
                           explicit=options.profile, default=project.profile, renderer=renderer)
    root = profile.paths.get("checkpoints")
    checkpoints: list[str] = []
    if not root:
        from tauro_compile.compiler.compile import compile_project

        checkpoints = all_checkpoints(compile_project(options, write_artifacts=False))
    state_dir, shared = state_dir_for(root, checkpoints, project.target_dir)
    return RunLocation(project.name, profile.name, Path(project.target_dir), state_dir, shared)
