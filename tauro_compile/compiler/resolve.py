"""From node drafts to resolved `NodeConfig`s: refs, sources, defaults, absolute paths.

Resolution rules (each broken rule is a Problem on the node's file and line):

- `input: {ref: x}` reads x's output: a delta sink becomes a `delta` source on the same
  path/table (`format: delta_stream` reads its Change Data Feed instead); a kafka sink a
  `kafka` source on the same `kafka.*` options with `subscribe: <topic>`; a parquet/json
  sink a `file_stream` with that `file_format` (the schema is then the user's to give);
  console, memory and foreach_batch sinks cannot be read, so a ref to them is a problem.
  Every other key of the input (`options`, `watermark`, `schema`, ...) is merged on top.
- `input: {source: s}` is the declared source s with the node's keys merged on top.
- `ref('x')` / `source('s')` inside strings become x's output identifier (its table name,
  absolute path, kafka topic or memory query name) and s's (table, path, or subscription).
- Relative local paths (input, output, dead letter, quarantine, checkpoint) are made
  absolute against the project directory; URIs are kept.
- `streaming.checkpoint_location` defaults to `<profile paths.checkpoints>/<node name>`,
  `streaming.query_name` to the node name. Nothing derives from a run id, so a second run
  resumes from the first one's checkpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tauro_compile.compiler.models import NodeSpec, contract_dict
from tauro_compile.compiler.problems import Locator, validation_problems
from tauro_compile.compiler.profiles import absolute_path
from tauro_compile.compiler.rendering import TOKEN, TOKEN_START
from tauro_compile.errors import Problem, did_you_mean
from tauro_compile.streaming import formats
from tauro_compile.streaming.config import InputConfig, NodeConfig, OutputConfig
from tauro_compile.streaming.merge import deep_merge

_INPUT_ORIGIN_KEYS = ("ref", "source", "format")


@dataclass
class NodeDraft:
    """One node as loaded from its file, before refs and sources are resolved."""

    name: str
    file: str
    line: int
    raw: dict[str, Any]            # defaults + node file + profile overrides, tokens inside
    spec: NodeSpec | None          # None when the node failed schema validation
    locate: Locator                # field path (within the node) -> (line, line kind)
    checksum: str
    source: str                    # the file's text as written (to find ref() calls' lines)
    env_values: dict[str, str] = field(default_factory=dict)
    has_tokens: bool = False
    refs: tuple[str, ...] = ()     # upstream names, known once resolve() ran (even on failure)
    secrets: tuple[str, ...] = ()  # values to mask in this node's problems


@dataclass
class DeclaredSource:
    """A source declared in tauro_project.yml (rendered and validated)."""

    name: str
    raw: dict[str, Any]
    config: InputConfig
    line: int | None

    @property
    def identifier(self) -> str:
        cfg = self.config
        return cfg.table_name or cfg.path or str(cfg.options.get("subscribe", self.name))


@dataclass
class ResolvedNode:
    """A node ready to compile: its config and what it depends on."""

    draft: NodeDraft
    config: NodeConfig
    depends_on: tuple[str, ...]
    sources: tuple[str, ...]


class Resolver:
    """Resolves every draft against the others (refs), the declared sources and the profile."""

    def __init__(self, drafts: dict[str, NodeDraft], sources: dict[str, DeclaredSource],
                 *, project_dir: Path, checkpoint_root: str | None, profile_name: str,
                 contract_paths: Sequence[str] = (),
                 source_names: Sequence[str] | None = None,
                 broken: Collection[str] = (),
                 exists: Callable[[Path], bool] = os.path.exists) -> None:
        self.drafts = drafts
        self.exists = exists  # how contract paths are looked up (the compile records it)
        # Nodes whose files failed to render or parse: already reported, never "unknown".
        self.broken = frozenset(broken)
        # Every declared source, valid or not (an invalid one is reported on tauro_project.yml).
        self.source_names = set(sources if source_names is None else source_names)
        self.contract_paths = tuple(contract_paths)
        self.sources = sources
        self.root = project_dir
        self.checkpoint_root = checkpoint_root
        self.profile_name = profile_name
        self._identifiers: dict[str, str | None] = {}
        self._resolving: set[str] = set()

    # -- identifiers ---------------------------------------------------------------------

    def identifier(self, name: str) -> str | None:
        """What `ref(name)` renders to: table, absolute path, topic or memory query name."""
        if name in self._identifiers:
            return self._identifiers[name]
        draft = self.drafts.get(name)
        if draft is None or draft.spec is None or name in self._resolving:
            return None
        self._resolving.add(name)
        try:
            out = draft.spec.output
            value: str | None
            if out.table_name:
                value = self.substitute(out.table_name, [], [])
            elif out.path:
                value = absolute_path(self.substitute(out.path, [], []), self.root)
            elif out.format == "kafka":
                value = self.substitute(str(out.options.get("topic", "")), [], []) or None
            elif out.format == "memory":
                value = draft.spec.streaming.query_name or name
            else:
                value = None
        finally:
            self._resolving.discard(name)
        self._identifiers[name] = value
        return value

    def substitute(self, value: Any, refs: list[str], sources: list[str],
                   missing: Callable[[str, str], None] | None = None) -> Any:
        """`value` with every ref/source token replaced; the names used are appended."""
        if isinstance(value, str):
            if TOKEN_START not in value:
                return value

            def sub(match: re.Match[str]) -> str:
                kind, name = match.group(1), match.group(2)
                if kind == "source":
                    if name not in sources:
                        sources.append(name)
                    declared = self.sources.get(name)
                    return declared.identifier if declared else ""
                if name not in refs:
                    refs.append(name)
                ident = self.identifier(name)
                if ident is None and missing is not None:
                    missing(kind, name)
                return ident or ""

            return TOKEN.sub(sub, value)
        if isinstance(value, dict):
            return {k: self.substitute(v, refs, sources, missing) for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, refs, sources, missing) for v in value]
        return value

    # -- one node ------------------------------------------------------------------------

    def resolve(self, draft: NodeDraft) -> tuple[ResolvedNode | None, list[Problem]]:
        """The node's resolved config, or the problems that prevent it."""
        spec = draft.spec
        if spec is None:
            return None, []
        problems: list[Problem] = []
        refs: list[str] = []
        used_sources: list[str] = []

        def problem(message: str, path: Sequence[str | int], **kw: Any) -> None:
            line, kind = draft.locate(path)
            problems.append(Problem(message, file=draft.file, line=line, line_kind=kind,
                                    field=".".join(map(str, path)), node=draft.name, **kw))

        def missing(kind: str, name: str) -> None:
            line = _call_line(draft.source, "ref", name) or draft.line

            def at_call(message: str, path: Sequence[str | int], **kw: Any) -> None:
                problems.append(Problem(message, file=draft.file, line=line, node=draft.name,
                                        **kw))

            self._ref_problem(name, draft, at_call, in_string=True)

        raw = draft.raw
        if draft.has_tokens:
            raw = self.substitute(raw, refs, used_sources, missing)
        raw_input = raw.get("input") or {}
        overrides = {k: v for k, v in raw_input.items() if k not in _INPUT_ORIGIN_KEYS}
        if spec.input.ref:
            ref = spec.input.ref
            if ref not in refs:
                refs.insert(0, ref)
            derived = self._input_from_ref(ref, spec.input.format, draft, problem)
        elif spec.input.source:
            if spec.input.source not in used_sources:
                used_sources.insert(0, spec.input.source)
            derived = self._input_from_source(spec.input.source, problem)
        else:
            derived = {"format": raw_input.get("format")}
        draft.refs = tuple(refs)
        final = dict(raw)
        final["name"] = draft.name
        if derived is not None:
            merged_input = deep_merge(derived, overrides)
            if merged_input.get("path"):
                merged_input["path"] = absolute_path(str(merged_input["path"]), self.root)
            final["input"] = merged_input
        final["output"] = self._absolute(raw.get("output"), "path")
        final["streaming"] = self._streaming_defaults(draft, raw.get("streaming") or {}, problem)
        if isinstance(raw.get("contract"), str | dict):
            contract = dict(contract_dict(raw["contract"]))
            if isinstance(contract.get("path"), str):
                contract["path"] = resolve_contract_path(
                    contract["path"], self.root, self.contract_paths, self.exists)
            if isinstance(contract.get("quarantine"), dict):
                contract["quarantine"] = self._absolute(contract["quarantine"], "path")
            final["contract"] = contract
        if isinstance(final.get("input"), dict) and isinstance(final["input"].get("dead_letter"), dict):
            final["input"] = dict(final["input"])
            final["input"]["dead_letter"] = self._absolute(final["input"]["dead_letter"], "path")
        if problems or derived is None:
            return None, problems
        try:
            config = NodeConfig.model_validate(final)
        except ValidationError as exc:
            return None, validation_problems(
                exc, NodeConfig, file=draft.file, locate=draft.locate, node=draft.name,
                secrets=draft.secrets,
            )
        return ResolvedNode(draft, config, tuple(refs), tuple(used_sources)), problems

    def _input_from_ref(self, ref: str, requested: str | None, draft: NodeDraft,
                        problem: Callable[..., None]) -> dict[str, Any] | None:
        upstream = self.drafts.get(ref)
        if upstream is None:
            self._ref_problem(ref, draft, problem, in_string=False)
            return None
        if upstream.spec is None:
            return None  # the upstream's own problems are reported on its file
        out: OutputConfig = upstream.spec.output
        sink = formats.sink(out.format)
        readable = sink.readable_downstream_as if sink else None
        if readable is None:
            problem(
                f"node '{ref}' writes to '{out.format}', which no stream can read",
                ("input", "ref"), code="unreadable_ref", found=out.format,
                expected="an upstream writing to delta, kafka, parquet or json",
                hint=f"write '{ref}' to a readable sink, or read its source directly",
            )
            return None
        if requested == "delta_stream" and readable != "delta":
            problem(
                "`format: delta_stream` reads a delta table's change feed, but "
                f"'{ref}' writes to '{out.format}'", ("input", "format"),
                expected="an upstream with a delta output", found=out.format,
            )
            return None
        if readable == "delta":
            derived: dict[str, Any] = {"format": requested or "delta"}
            if out.table_name:
                derived["table_name"] = self.substitute(out.table_name, [], [])
            else:
                derived["path"] = self.identifier(ref)
            return derived
        if readable == "kafka":
            options = {k: v for k, v in out.options.items() if k.startswith("kafka.")}
            options["subscribe"] = self.identifier(ref) or ""
            return {"format": "kafka", "options": self.substitute(options, [], [])}
        return {"format": "file_stream", "path": self.identifier(ref), "file_format": out.format}

    def _input_from_source(self, name: str, problem: Callable[..., None]) -> dict[str, Any] | None:
        declared = self.sources.get(name)
        if declared is None:
            if name in self.source_names:
                return None  # declared but invalid: reported on tauro_project.yml
            problem(
                f"unknown source '{name}'", ("input", "source"), code="unknown_source",
                found=name, hint=did_you_mean(name, list(self.source_names)),
                expected="a source declared under `sources:` in tauro_project.yml: "
                f"{', '.join(sorted(self.source_names)) or '(none declared)'}",
            )
            return None
        return declared.raw

    def _ref_problem(self, name: str, draft: NodeDraft, report: Callable[..., None],
                     *, in_string: bool) -> None:
        """Report an unknown (or unreadable) ref, from `input.ref` or from a ref() call."""
        path = ("input", "ref")
        if name in self.drafts:
            upstream = self.drafts[name]
            if upstream.spec is None or name in self._resolving:
                return  # reported on the upstream's file, or a cycle reported by the graph
            report(
                f"ref('{name}') has no identifier: '{name}' writes to "
                f"'{upstream.spec.output.format}', which has no path, table or topic",
                path, code="unreadable_ref", found=upstream.spec.output.format,
            )
            return
        if name in self.broken:
            return  # its file has problems of its own, reported there (no cascade)
        candidates = [n for n in self.drafts if n != draft.name]
        report(
            f"unknown ref '{name}'" + (" in a string" if in_string else ""), path,
            code="unknown_ref", found=name, hint=did_you_mean(name, candidates),
            expected="the name of a node of this project",
        )

    def _streaming_defaults(self, draft: NodeDraft, streaming: dict[str, Any],
                            problem: Callable[..., None]) -> dict[str, Any]:
        result = dict(streaming)
        checkpoint = result.get("checkpoint_location")
        if checkpoint:
            result["checkpoint_location"] = absolute_path(str(checkpoint), self.root)
        elif self.checkpoint_root:
            result["checkpoint_location"] = join_location(self.checkpoint_root, draft.name)
        else:
            problem(
                "the node has no checkpoint location", ("streaming", "checkpoint_location"),
                code="no_checkpoint", found="nothing",
                expected="`paths.checkpoints` in the profile, or "
                "`streaming.checkpoint_location` in the node",
                hint=f"add `paths: {{checkpoints: <dir>}}` to profile '{self.profile_name}'; "
                "each node then checkpoints in <dir>/<node name>",
            )
        result.setdefault("query_name", None)
        if not result["query_name"]:
            result["query_name"] = draft.name
        return result

    def _absolute(self, section: Any, key: str) -> Any:
        if not isinstance(section, dict) or not isinstance(section.get(key), str) or not section[key]:
            return section
        updated = dict(section)
        updated[key] = absolute_path(section[key], self.root)
        return updated


def join_location(root: str, name: str) -> str:
    """`root/name` for a local directory or a URI."""
    return root.rstrip("/") + "/" + name


def _call_line(source: str, function: str, name: str) -> int | None:
    """Line of the first `function('name')` call in a template's text."""
    match = re.search(rf"\b{function}\(\s*['\"]{re.escape(name)}['\"]", source)
    return source.count("\n", 0, match.start()) + 1 if match else None


def resolve_contract_path(value: str, project_dir: Path, contract_paths: Sequence[str],
                          exists: Callable[[Path], bool] = os.path.exists) -> str:
    """A `contract:` path: as given (relative to the project), else under a contract path."""
    if os.path.isabs(value) or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:/", value):
        return value
    direct = project_dir / value
    if not exists(direct):
        for folder in contract_paths:
            candidate = project_dir / folder / value
            if exists(candidate):
                return os.path.normpath(candidate)
    return os.path.normpath(direct)
