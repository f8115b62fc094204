"""`tauro compile --explain <node>`: every effective setting of a node and the layer that set it.

Layers, lowest first: the project's `streaming:`/`on_failure:` defaults (tauro_project.yml),
the node file, then the profile's `nodes:` overrides `"*"`, `tag:<t>` and `<node>`
(profiles.yml). A value written with `var('x')` also names where `x` came from (`--vars`,
the profile's `vars`, the project's `vars`). A setting no layer writes is a Tauro default
or derived (the checkpoint from the profile's `paths.checkpoints`, an input from the
upstream's output). Nothing is written; secrets are masked. A line of a node file whose
Jinja changed its line count is a line of the rendered text (`target/compiled/<node>.yml`,
written by `tauro compile`), as in compile problems.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console
from tauro_compile.errors import UsageError, did_you_mean

if TYPE_CHECKING:
    from tauro_compile.compiler.compile import CompiledNode, CompiledProject
    from tauro_compile.compiler.provenance import Layer

_VAR_CALL = re.compile(r"""\bvar\(\s*["']([^"']+)["']""")
_NEXT_KEY = re.compile(r""",\s*["']?[\w.\-]+["']?\s*:""")
_VALUE_WIDTH = 48


def run_explain(options: ProjectOptions, node: str, output: str = "text",
                console: Console | None = None) -> int:
    """Compile (nothing written) and print node `node`'s settings with their layers."""
    from tauro_compile.compiler.compile import compile_project

    compiled = compile_project(options, write_artifacts=False)
    if node not in compiled.nodes:
        near = did_you_mean(node, list(compiled.nodes))
        raise UsageError(f"--explain: no node named '{node}' in the project",
                         hint=near or f"nodes: {', '.join(sorted(compiled.nodes)[:20])}")
    document = explain_document(compiled, compiled.nodes[node], options.vars)
    if console is not None:
        if output == "json":
            console.json(document)
        else:
            console.out(explain_text(document))
    return 0


def explain_document(compiled: CompiledProject, node: CompiledNode,
                     cli_vars: dict[str, Any]) -> dict[str, Any]:
    """The node's settings as data: path, value, layer, file, line (masked)."""
    from tauro_compile.compiler.provenance import leaves, origin
    from tauro_compile.streaming.secrets import mask_structure

    layers = compiled.layers(node.name) if compiled.layers else []
    dumped = mask_structure(node.config.model_dump(mode="json", by_alias=True),
                            compiled.secret_values)
    texts = _FileLines(compiled.project.project_dir)
    settings = []
    for path, value in leaves(dumped):
        layer = origin(layers, path)
        entry: dict[str, Any] = {"setting": _dotted(path), "value": value}
        if layer is not None:
            line, kind = layer.locate(path)
            entry.update(layer=layer.label_at(path), file=layer.file, line=line,
                         line_kind=kind)
            if kind == "rendered":  # the line of the rendered text, which compiled/ holds
                entry["file"] = f"target/compiled/{node.name}.yml"
            text = texts.line(layer.file, line) if kind == "source" else ""
            used = _vars_used(_value_text(text, path[-1]) if path else text, compiled,
                              cli_vars)
            if used:
                entry["vars"] = used
                if any(v["from"] == "--vars" for v in used):
                    entry["layer"] = f"--vars, used by the {layer.label_at(path)}"
        else:
            entry.update(_derived(path, layers, compiled, node))
        settings.append(entry)
    return {
        "node": node.name, "file": node.file, "line": node.line,
        "profile": compiled.profile.name,
        "layers": [f"{layer.label} ({layer.file})" for layer in layers],
        "settings": settings,
    }


def explain_text(document: dict[str, Any]) -> str:
    """Human text of an explain document: one line per setting."""
    lines = [f"Node '{document['node']}' ({document['file']}:{document['line']}), "
             f"profile '{document['profile']}'",
             "Layers, lowest first: " + " < ".join(document["layers"]), ""]
    width = max((len(s["setting"]) for s in document["settings"]), default=10)
    for entry in document["settings"]:
        value = entry["value"]
        shown = " ".join(value.split()) if isinstance(value, str) else _compact(value)
        if len(shown) > _VALUE_WIDTH:
            shown = shown[: _VALUE_WIDTH - 3] + "..."
        where = entry["layer"]
        if entry.get("file"):
            where += f" ({entry['file']}:{entry['line']})" if entry.get("line") \
                else f" ({entry['file']})"
        for used in entry.get("vars", ()):
            where += f"; var('{used['name']}') from {used['from']}"
        lines.append(f"  {entry['setting']:<{width}}  {shown:<{_VALUE_WIDTH}}  {where}")
    return "\n".join(lines)


def _derived(path: tuple[str | int, ...], layers: list[Layer], compiled: CompiledProject,
             node: CompiledNode) -> dict[str, Any]:
    """Where a value no layer writes comes from."""
    from tauro_compile.compiler.provenance import origin

    if path == ("name",):
        return {"layer": "default: the node file's name", "file": node.file, "line": None}
    if path == ("streaming", "checkpoint_location"):
        return {"layer": f"derived: profile '{compiled.profile.name}' paths.checkpoints "
                         "+ node name", "file": compiled.profile.file, "line": None}
    if path == ("streaming", "query_name") or path == ("query_name",):
        return {"layer": "default: the node name", "file": None, "line": None}
    if path and path[0] == "input":
        for key in ("ref", "source"):
            layer = origin(layers, ("input", key))
            if layer is not None:
                upstream = (node.depends_on[:1] or ("?",))[0] if key == "ref" else \
                    (node.sources[:1] or ("?",))[0]
                what = f"the output of node '{upstream}'" if key == "ref" else \
                    f"source '{upstream}' (tauro_project.yml)"
                line, kind = layer.locate(("input", key))
                file = f"target/compiled/{node.name}.yml" if kind == "rendered" else layer.file
                return {"layer": f"derived: input.{key} -> {what}", "file": file, "line": line}
    return {"layer": "default (Tauro)", "file": None, "line": None}


def _value_text(line: str, key: str | int) -> str:
    """The part of a YAML line that holds `key`'s value (a flow mapping has several)."""
    at = line.find(f"{key}:") if isinstance(key, str) else -1
    if at < 0:
        return line
    rest = line[at + len(str(key)) + 1:]
    following = _NEXT_KEY.search(rest)
    return rest[: following.start()] if following else rest


def _vars_used(text: str, compiled: CompiledProject,
               cli_vars: dict[str, Any]) -> list[dict[str, str]]:
    used = []
    for name in dict.fromkeys(_VAR_CALL.findall(text)):
        if name in cli_vars:
            where = "--vars"
        elif name in compiled.profile.vars:
            where = f"vars of profile '{compiled.profile.name}'"
        elif name in compiled.project.vars:
            where = "project vars (tauro_project.yml)"
        else:
            where = "its default in the call"
        used.append({"name": name, "from": where})
    return used


class _FileLines:
    """Lines of the project's files, read once each (only for the settings shown)."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)
        self.cache: dict[str, list[str]] = {}

    def line(self, file: str, line: int | None) -> str:
        if not line:
            return ""
        if file not in self.cache:
            path = Path(file) if Path(file).is_absolute() else self.project_dir / file
            try:
                self.cache[file] = path.read_text(encoding="utf-8").split("\n")
            except OSError:
                self.cache[file] = []
        lines = self.cache[file]
        return lines[line - 1] if 0 < line <= len(lines) else ""


def _dotted(path: tuple[str | int, ...]) -> str:
    from tauro_compile.streaming.model_issues import field_path_text

    return field_path_text(path)


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, default=str, ensure_ascii=False)
