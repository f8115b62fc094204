"""`tauro ls`: the selected nodes, as names, project-relative file paths, or JSON."""

from __future__ import annotations

from typing import Any

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console

OUTPUTS = ("name", "json", "path")


def run_ls(options: ProjectOptions, output: str = "name", console: Console | None = None) -> int:
    """Compile without writing artifacts and list the selected nodes in start order."""
    from tauro_compile.compiler.compile import compile_project

    compiled = compile_project(options, write_artifacts=False)
    nodes = [compiled.nodes[name] for name in compiled.selected]
    if console is None:
        return 0
    if output == "json":
        console.json([node_listing(node) for node in nodes])
    elif output == "path":
        for path in dict.fromkeys(node.file for node in nodes):
            console.out(path)
    else:
        for node in nodes:
            console.out(node.name)
    return 0


def node_listing(node: Any) -> dict[str, Any]:
    """The JSON entry of one compiled node in `tauro ls --output json`."""
    config = node.config
    trigger = config.streaming.trigger
    return {
        "name": node.name,
        "unique_id": node.unique_id,
        "file": node.file,
        "tags": list(node.tags),
        "depends_on": list(node.depends_on),
        "input_format": config.input.format,
        "output_format": config.output.format,
        "trigger": {"type": trigger.type.value, "interval": trigger.interval},
    }
