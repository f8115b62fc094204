"""`tauro compile`: validate the project, write target/manifest.json, print the plan.

Text output lists the selected nodes in start order (topological generations): for each,
input -> output (format and path/table/topic), trigger, output mode, checkpoint and tags,
then `Wrote <target>/manifest.json`. `--output json` prints the same plan as one JSON
document on stdout and nothing else. Secrets are masked in both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console, shown_path

if TYPE_CHECKING:
    from tauro_compile.compiler.compile import CompiledNode, CompiledProject
    from tauro_compile.streaming.config import InputConfig, OutputConfig


def run_compile(options: ProjectOptions, output: str = "text", console: Console | None = None,
                *, use_cache: bool = True) -> int:
    """Compile the project (ProjectError/UsageError propagate to the CLI handler); exit code.

    With `use_cache`, a project unchanged since the last successful compile is not compiled
    again: its plan, warnings and manifest come from `target/compile_cache.json` (see
    `compiler/compile_cache.py`); `use_cache=False` compiles and removes that cache.
    """
    from tauro_compile.compiler import compile_cache
    from tauro_compile.compiler.manifest import MANIFEST_FILE

    snapshot = compile_cache.snapshot(options) if use_cache else None
    if snapshot is not None:
        hit = snapshot.lookup(os.environ)
        if hit is not None:
            return _replay(hit, snapshot.target_dir / MANIFEST_FILE, output, console)
    from tauro_compile.compiler.compile import compile_project

    try:
        compiled = compile_project(options, preread=snapshot.files if snapshot else None)
    except BaseException:
        if snapshot is not None:
            compile_cache.forget(snapshot.target_dir)
        raise
    manifest = compiled.target_dir / MANIFEST_FILE
    document = plan_document(compiled, manifest)
    text = plan_text(document)
    warnings = [f"Warning: {warning.render()}" for warning in compiled.warnings]
    if snapshot is not None and snapshot.target_dir == compiled.target_dir:
        snapshot.store(compiled, text, document, warnings, os.environ)
    else:
        compile_cache.forget(compiled.target_dir)
    if console is not None:
        _show(console, output, warnings, text, lambda: document, manifest)
    return 0


def _replay(hit: Any, manifest: Path, output: str, console: Console | None) -> int:
    """Write the cached manifest (generated now) and print the cached plan; exit code."""
    import json

    from tauro_compile.compiler.manifest import generated_at, write_atomically

    write_atomically(manifest, hit.manifest_text(generated_at()))
    if console is not None:
        _show(console, output, hit.warnings, hit.plan_text, lambda: json.loads(hit.plan_json),
              manifest)
    return 0


def _show(console: Console, output: str, warnings: list[str], text: str,
          document: Callable[[], dict[str, Any]], manifest: Path) -> None:
    for warning in warnings:
        console.err(warning)
    if output == "json":
        console.json(document())
    else:
        console.out(text)
        console.out("")
        console.out(f"Wrote {shown_path(manifest)}")


def run_compile_all_profiles(options: ProjectOptions, console: Console | None = None) -> int:
    """Validate the project under every profile (CI); nothing is written. Exit code."""
    import dataclasses

    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.compiler.profiles import profile_names
    from tauro_compile.compiler.project import load_project
    from tauro_compile.errors import Problem, ProjectError, TauroError

    names = profile_names(load_project(options.project_dir).project_dir, options.profiles_dir)
    found: dict[Problem, list[str]] = {}
    counts: dict[str, int] = {}
    warned: dict[Problem, list[str]] = {}
    for name in names:
        try:
            compiled = compile_project(dataclasses.replace(options, profile=name),
                                       write_artifacts=False)
        except ProjectError as exc:
            for problem in exc.problems:
                found.setdefault(problem, []).append(name)
            continue
        except TauroError as exc:  # e.g. an env_var() the profile needs is not set
            found.setdefault(Problem(exc.message, hint=exc.hint), []).append(name)
            continue
        counts[name] = len(compiled.selected)
        for warning in compiled.warnings:
            warned.setdefault(warning, []).append(name)
    if console is not None:
        for warning, where in warned.items():
            console.err(f"Warning ({'profiles' if len(where) > 1 else 'profile'} "
                        f"{', '.join(where)}): {warning.render()}")
    if found:
        raise ProjectError([
            dataclasses.replace(problem, message=f"{problem.message} (profile"
                                f"{'s' if len(where) > 1 else ''} {', '.join(where)})")
            for problem, where in found.items()
        ])
    if console is not None:
        for name in names:
            console.out(f"Profile '{name}': {counts[name]} node"
                        f"{'s' if counts[name] != 1 else ''} selected, valid")
        console.out(f"All {len(names)} profiles compile (nothing written).")
    return 0


def plan_document(compiled: CompiledProject, manifest: Path | None = None) -> dict[str, Any]:
    """The plan as data: generations of selected nodes with their input, output and run settings."""
    nodes = []
    generations = compiled.generations()
    for index, generation in enumerate(generations, start=1):
        for name in generation:
            nodes.append(_node_entry(compiled, compiled.nodes[name], index))
    return {
        "project": compiled.project.name,
        "profile": compiled.profile.name,
        "selected": len(compiled.selected),
        "total": len(compiled.nodes),
        "generations": generations,
        "nodes": nodes,
        "manifest": str(manifest) if manifest else None,
    }


def plan_text(document: dict[str, Any]) -> str:
    """Human text of a plan document."""
    count = document["selected"]
    lines = [
        f"Project '{document['project']}', profile '{document['profile']}': "
        f"{count} of {document['total']} node{'s' if document['total'] != 1 else ''} selected, "
        f"{len(document['generations'])} generation{'s' if len(document['generations']) != 1 else ''}"
    ]
    current = None
    for node in document["nodes"]:
        if node["generation"] != current:
            current = node["generation"]
            lines.append("")
            lines.append(f"Generation {current}:")
        tags = f"  [{', '.join(node['tags'])}]" if node["tags"] else ""
        trigger = node["trigger"]
        when = trigger["type"] + (f" every {trigger['interval']}" if trigger["interval"] else "")
        lines += [
            f"  {node['name']}{tags}",
            f"    {_describe(node['input'])} -> {_describe(node['output'])}",
            f"    trigger: {when}, output mode: {node['output_mode']}",
            f"    checkpoint: {node['checkpoint_location']}",
        ]
    if not document["nodes"]:
        lines.append("")
        lines.append("No node selected.")
    return "\n".join(lines)


def _node_entry(compiled: CompiledProject, node: CompiledNode, generation: int) -> dict[str, Any]:
    config = node.config
    streaming = config.streaming
    return {
        "name": node.name,
        "unique_id": node.unique_id,
        "generation": generation,
        "file": node.file,
        "line": node.line,
        "depends_on": list(node.depends_on),
        "sources": list(node.sources),
        "input": _endpoint(config.input, compiled),
        "output": _endpoint(config.output, compiled),
        "trigger": {"type": streaming.trigger.type.value, "interval": streaming.trigger.interval},
        "output_mode": streaming.output_mode.value,
        "checkpoint_location": streaming.checkpoint_location,
        "query_name": config.query_name,
        "bounded": streaming.trigger.bounded,
        "tags": list(node.tags),
    }


def _endpoint(section: InputConfig | OutputConfig, compiled: CompiledProject) -> dict[str, Any]:
    """Format and location of an input or output (path, table, topic), masked."""
    options = section.options
    location: str | None = section.table_name or section.path
    if location is None:
        for key in ("subscribe", "subscribePattern", "assign", "topic"):
            if key in options:
                location = f"{key} {options[key]}"
                break
    servers = options.get("kafka.bootstrap.servers")
    entry = {
        "format": section.format,
        "location": compiled.mask(str(location)) if location else None,
    }
    if servers:
        entry["servers"] = compiled.mask(str(servers))
    file_format = getattr(section, "file_format", None)
    if file_format:
        entry["file_format"] = file_format
    return entry


def _describe(endpoint: dict[str, Any]) -> str:
    text = endpoint["format"]
    if endpoint.get("file_format"):
        text += f" ({endpoint['file_format']})"
    if endpoint.get("location"):
        text += f" {endpoint['location']}"
    if endpoint.get("servers"):
        text += f" @ {endpoint['servers']}"
    return text


