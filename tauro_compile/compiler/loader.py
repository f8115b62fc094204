"""Node files -> node drafts: render, parse, split, merge defaults and overrides, validate.

Merge order of one node (lowest first): the project's `streaming:` and `on_failure:`
defaults, the node file, then the profile's `nodes:` overrides `"*"`, `tag:<t>` (for each
of the node's tags, in the profile's order) and `<node name>`. See `merge.py` for the rules.

A problem's line is the line in the file as written when rendering kept the line count;
otherwise it is the line of the rendered text (`line_kind="rendered"`), which
`target/compiled/<node>.yml` holds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from tauro_compile.compiler.masking import secret_named_values, secret_values_in
from tauro_compile.compiler.models import NodeSpec
from tauro_compile.compiler.problems import validation_problems
from tauro_compile.compiler.project import PROJECT_FILE, ProjectConfig, ProjectFile
from tauro_compile.compiler.provenance import Layer
from tauro_compile.compiler.rendering import Renderer, has_token
from tauro_compile.compiler.resolve import NodeDraft
from tauro_compile.compiler.yaml_source import (
    LineIndex,
    YamlDuplicateKeyError,
    YamlSyntaxError,
    first_content_line,
    load_yaml,
    yaml_problems,
)
from tauro_compile.errors import Problem, ProblemList
from tauro_compile.streaming.merge import deep_merge
from tauro_compile.streaming.option_rules import value_issues

NODES_KEY = "nodes"
_NAME_LINE = re.compile(r"""^[ \t-]*name:[ \t]*["']?([A-Za-z0-9_][A-Za-z0-9_\-]*)""", re.M)


def _to_source_lines(exc: YamlDuplicateKeyError, rendered: str,
                     source: str) -> YamlDuplicateKeyError:
    """The duplicates at their lines in the file as written, when each maps unambiguously."""
    rendered_lines = rendered.split("\n")
    source_lines = source.split("\n")

    def mapped(line: int) -> int | None:
        text = rendered_lines[line - 1]
        nth = rendered_lines[:line - 1].count(text)
        hits = [i + 1 for i, s in enumerate(source_lines) if s == text]
        same = len(hits) == rendered_lines.count(text)
        return hits[nth] if same and nth < len(hits) else None

    moved = []
    for dup in exc.duplicates:
        first, second = mapped(dup.first_line), mapped(dup.line)
        if first is None or second is None:
            return exc
        moved.append(dataclasses.replace(dup, first_line=first, line=second))
    return YamlDuplicateKeyError(moved)


def _has_content(text: str) -> bool:
    """True when `text` holds anything but blank lines, comments and document markers."""
    return any(line.strip() and not line.strip().startswith(("#", "---", "..."))
               for line in text.splitlines())


class NodeLoader:
    """Loads node files into drafts; problems go to `problems`, rendered texts to `compiled`."""

    def __init__(self, renderer: Renderer, project: ProjectConfig,
                 overrides: dict[str, dict[str, Any]], problems: ProblemList,
                 known_secrets: tuple[str, ...] = (), profile_name: str | None = None,
                 profile_file: str = "profiles.yml",
                 locate_override: Callable[[str, Sequence[str | int]],
                                           tuple[str, int | None]] | None = None,
                 locate_project: Callable[[tuple[str | int, ...]], int | None] | None = None,
                 ) -> None:
        self.renderer = renderer
        # Provenance (tauro compile --explain, problems located in profiles.yml): each node's
        # own mapping and locator, kept by reference; the layers are built only when asked.
        self.profile_file = profile_file
        self.locate_override = locate_override
        self.locate_project = locate_project
        self.own: dict[str, tuple[dict[str, Any], Any, str]] = {}
        self.node_file_problems: set[int] = set()  # ids of problems that stay in the node file
        self.profile_name = profile_name
        self.known_secrets = known_secrets
        # Secrets of files that failed to parse: every env_var() value they used (their keys
        # are unknown), masked in their compiled text.
        self.unparsed_secrets: set[str] = set()
        self.problems = problems
        self.compiled: dict[str, str] = {}      # compiled file name -> rendered text
        # Names of nodes whose file could not be rendered or parsed: refs to them are not
        # reported again as unknown (the file's own problem is the one to fix).
        self.failed: set[str] = set()
        defaults = {k: v for k, v in (("streaming", project.streaming),
                                      ("on_failure", project.on_failure)) if v}
        self.defaults = defaults
        self.star = overrides.get("*")
        self.tag_overrides = [(k[4:], v) for k, v in overrides.items() if k.startswith("tag:")]
        self.named = {k: v for k, v in overrides.items() if k != "*" and not k.startswith("tag:")}

    def mark_failed(self, path: Path) -> None:
        """Remember the node names a file that could not be read may define."""
        self.failed.add(path.stem)
        try:
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return
        self.failed.update(_NAME_LINE.findall(text))

    def load(self, file: ProjectFile) -> list[NodeDraft]:
        """The drafts of one node file (none when it cannot be rendered or parsed)."""
        stem = PurePosixPath(file.rel).stem
        checksum = hashlib.sha256(file.text.encode("utf-8")).hexdigest()
        result = self.renderer.render(file.rel, file.text)
        if result.text is None:
            self.problems.extend(result.problems)
            self.failed.add(stem)
            self.failed.update(_NAME_LINE.findall(file.text))
            return []
        rendered = result.text
        same_lines = rendered is file.text or rendered.count("\n") == file.text.count("\n")
        kind = "source" if same_lines else "rendered"
        try:
            data = load_yaml(rendered)
        except YamlSyntaxError as exc:
            self.compiled[stem] = rendered
            self.unparsed_secrets.update(v for v in result.env_values.values() if v)
            if isinstance(exc, YamlDuplicateKeyError) and kind == "rendered":
                moved = _to_source_lines(exc, rendered, file.text)
                kind = "source" if moved is not exc else kind
                exc = moved
            self.problems.extend(yaml_problems(
                exc, file.rel, line_kind=kind,
                hint="quote values that start with {{ or contain ': '",
            ))
            self.failed.add(stem)
            self.failed.update(_NAME_LINE.findall(file.text))
            return []
        if data is None:
            if not _has_content(file.text):
                self.problems.add(Problem(
                    "the node file is empty", file=file.rel, line=1, code="empty_node_file",
                    expected="a node (input:, output:, ...) or a `nodes:` list",
                    found="nothing but blanks and comments",
                    hint="to disable a node, delete its file, or wrap its content in "
                    "{% if target.name == 'prod' %}...{% endif %} so that it renders to "
                    "nothing under the profiles that should not run it",
                ))
            return []  # a file whose Jinja renders to nothing holds no node (by design)
        index = LineIndex(rendered)
        if isinstance(data, dict) and NODES_KEY in data:
            items = data[NODES_KEY]
            if set(data) != {NODES_KEY} or not isinstance(items, list):
                self.problems.add(Problem(
                    "a file with `nodes:` holds only that list of nodes", file=file.rel,
                    line=index.line_of((NODES_KEY,)), line_kind=kind, field=NODES_KEY,
                    expected="nodes: [{name: a, ...}, {name: b, ...}]",
                    found=", ".join(map(str, data)), code="node_file_shape",
                ))
                return []
            entries = [(item, (NODES_KEY, i), None) for i, item in enumerate(items)]
        else:
            entries = [(data, (), stem)]
        drafts = []
        for raw, prefix, default_name in entries:
            draft = self._draft(file, raw, prefix, default_name, index, kind, checksum, result)
            if draft is not None:
                drafts.append(draft)
                self.compiled[draft.name] = rendered if not prefix else yaml.safe_dump(
                    raw, sort_keys=False, allow_unicode=True)
        return drafts

    def _draft(self, file: ProjectFile, raw: Any, prefix: tuple[str | int, ...],
               default_name: str | None, index: LineIndex, kind: str, checksum: str,
               result: Any) -> NodeDraft | None:
        def locate(path: Sequence[str | int]) -> tuple[int | None, str]:
            return index.line_of((*prefix, *path)), kind

        if not isinstance(raw, dict):
            line, _ = locate(())
            self.problems.add(Problem(
                "a node must be a mapping", file=file.rel, line=line, line_kind=kind,
                expected="name:, input:, output:, ...", found=type(raw).__name__,
                code="node_file_shape",
            ))
            return None
        name = raw.get("name", default_name)
        if not isinstance(name, str) or not name:
            name = f"{default_name or PurePosixPath(file.rel).stem}[{prefix[-1] if prefix else 0}]"
        merged = self._merge(raw, name, default_name)
        line = first_content_line(file.text) if not prefix else (locate(())[0] or 1)
        secrets = self.known_secrets
        if result.env_values:
            secrets = tuple(sorted({*secrets, *secret_values_in(merged, result.env_values.values()),
                                    *secret_named_values(result.env_values)}))
        spec: NodeSpec | None
        try:
            spec = NodeSpec.model_validate(merged)
        except ValidationError as exc:
            spec = None
            self.problems.extend(validation_problems(
                exc, NodeSpec, file=file.rel, locate=locate, node=name, secrets=secrets,
            ))
        self.own[name] = (raw, locate, file.rel)
        if merged is not raw and self._overridden(raw, name):
            self._hidden_problems(raw, merged, name, default_name, file, locate, secrets)
        return NodeDraft(
            name=name, file=file.rel, line=line, raw=merged, spec=spec, locate=locate,
            checksum=checksum, source=file.text, env_values=result.env_values, secrets=secrets,
            has_tokens=bool(result.refs or result.sources) and has_token(merged),
        )

    def _overridden(self, raw: dict[str, Any], name: str) -> bool:
        """True when a profile override applies to this node."""
        tags = raw.get("tags") if isinstance(raw.get("tags"), list) else []
        return bool(self.star or name in self.named
                    or any(tag in tags for tag, _ in self.tag_overrides))

    def _hidden_problems(self, raw: dict[str, Any], merged: dict[str, Any], name: str,
                         default_name: str | None,
                         file: ProjectFile, locate: Any, secrets: tuple[str, ...]) -> None:
        """Values of the node file that are invalid even though this profile overrides them.

        A typo in a trigger hidden by the dev profile's override would break prod later;
        every profile counts, so the node file's own values are validated too (a value the
        file leaves out is not required of it: the profile may be what provides it).
        """
        own = deep_merge(self.defaults, raw) if self.defaults else dict(raw)
        if default_name is not None:
            own.setdefault("name", default_name)
        try:
            NodeSpec.model_validate(own)
            found: list[Problem] = []
        except ValidationError as exc:
            found = validation_problems(exc, NodeSpec, file=file.rel, locate=locate, node=name,
                                        secrets=secrets)
        inp = raw.get("input")
        if isinstance(inp, dict) and isinstance(inp.get("format"), str):
            options = inp.get("options") if isinstance(inp.get("options"), dict) else {}
            final = (merged.get("input") or {}).get("options") or {}
            for key, message, expected, hint in value_issues(inp["format"], options):
                if isinstance(final, dict) and final.get(key) == options.get(key):
                    continue  # not overridden: the registry check reports it
                line, kind = locate(("input", "options", key))
                found.append(Problem(message, file=file.rel, line=line, line_kind=kind,
                                     field=f"input.options.{key}", expected=expected,
                                     hint=hint, code="config", node=name))
        shown = {(p.field, p.message) for p in self.problems.problems if p.node == name}
        for problem in found:
            if problem.code == "schema.missing" or (problem.field, problem.message) in shown:
                continue
            self._add_node_file_problem(dataclasses.replace(
                problem, message=f"{problem.message} (in the node file; profile "
                f"'{self.profile_name}' overrides it)",
                hint=(problem.hint + "; " if problem.hint else "") + "the value is invalid "
                "for every profile that does not override it",
            ))

    def _add_node_file_problem(self, problem: Problem) -> None:
        self.node_file_problems.add(id(problem))
        self.problems.add(problem)

    def layers(self, name: str) -> list[Layer]:
        """The layers of node `name`, lowest first (empty for a node that was not loaded)."""
        if name not in self.own:
            return []
        raw, locate, rel = self.own[name]
        layers = []
        if self.defaults:
            def project_line(path: Sequence[str | int]) -> tuple[int | None, str]:
                return (self.locate_project(tuple(path)) if self.locate_project else None,
                        "source")

            layers.append(Layer("project defaults", "project defaults",
                                PROJECT_FILE, self.defaults, project_line))
        layers.append(Layer("node file", "node file", rel, raw, locate))
        tags = raw.get("tags") if isinstance(raw.get("tags"), list) else []
        keyed = ([("*", self.star)] if self.star else []) + [
            (f"tag:{tag}", override) for tag, override in self.tag_overrides if tag in tags]
        if name in self.named:
            keyed.append((name, self.named[name]))
        for key, override in keyed:
            layers.append(self._profile_layer(key, override))
        return layers

    def _profile_layer(self, key: str, override: dict[str, Any]) -> Layer:
        member, _ = (self.locate_override(key, ()) if self.locate_override
                     else (self.profile_name, None))

        def line(path: Sequence[str | int]) -> tuple[int | None, str]:
            found = self.locate_override(key, path)[1] if self.locate_override else None
            return found, "source"

        shown = f'"{key}"' if key == "*" or key.startswith("tag:") else key

        def label(path: Sequence[str | int]) -> str:
            writer = self.locate_override(key, path)[0] if self.locate_override else member
            return f"profile '{writer}' nodes.{shown}"

        return Layer("profile", f"profile '{member}' nodes.{shown}", self.profile_file,
                     override, line, label_of=label)

    def _merge(self, raw: dict[str, Any], name: str, default_name: str | None) -> dict[str, Any]:
        merged = deep_merge(self.defaults, raw) if self.defaults else dict(raw)
        if "name" not in merged and default_name is not None:
            merged["name"] = default_name
        if self.star:
            merged = deep_merge(merged, self.star)
        if self.tag_overrides:
            tags = raw.get("tags") if isinstance(raw.get("tags"), list) else []
            for tag, override in self.tag_overrides:
                if tag in tags:
                    merged = deep_merge(merged, override)
        if name in self.named:
            merged = deep_merge(merged, self.named[name])
        return merged
