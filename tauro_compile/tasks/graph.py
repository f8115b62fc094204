"""`tauro graph`: the DAG of the selected nodes as mermaid or Graphviz dot text."""

from __future__ import annotations

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console

FORMATS = ("mermaid", "dot")


def run_graph(options: ProjectOptions, fmt: str = "mermaid", console: Console | None = None) -> int:
    """Compile without writing artifacts and print the selected part of the DAG."""
    from tauro_compile.compiler.compile import compile_project

    compiled = compile_project(options, write_artifacts=False)
    graph = compiled.graph.subgraph(compiled.selected)
    labels = {
        name: f"{name}\n{compiled.nodes[name].config.output.format}" for name in compiled.selected
    }
    text = graph.to_dot(labels) if fmt == "dot" else graph.to_mermaid(labels)
    if console is not None:
        console.out(text)
    return 0
