"""Compile a project: files -> Jinja -> YAML -> typed models -> refs/sources -> DAG -> checks.

`compile_project` is the one entry point (`tauro compile`, `ls`, `graph`, `run` use it).
It collects every problem of the project before failing with one `ProjectError`; it never
imports pyspark, so compiling never starts a JVM. Artifacts (`target/manifest.json`,
`target/compiled/<node>.yml`) are written when `write_artifacts` is true; the manifest only
when the compile succeeded (see `manifest.py`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from tauro_compile.compiler import checks
from tauro_compile.compiler.artifacts import Precreator, remove_stale, write_compiled
from tauro_compile.compiler.compile_cache import EnvironRecorder
from tauro_compile.compiler.graph import GraphCycleError, NodeGraph
from tauro_compile.compiler.loader import NodeLoader
from tauro_compile.compiler.manifest import build_manifest, render_manifest, write_manifest
from tauro_compile.compiler.masking import secret_named_values
from tauro_compile.compiler.problems import split_field, validation_problems
from tauro_compile.compiler.profiles import ResolvedProfile, absolute_path, load_profile
from tauro_compile.compiler.project import (
    MACRO_SUFFIXES,
    NODE_SUFFIXES,
    PROJECT_FILE,
    ProjectConfig,
    ProjectFile,
    discover,
    load_project,
)
from tauro_compile.compiler.provenance import Layer, relocate
from tauro_compile.compiler.rendering import TOKEN, Renderer
from tauro_compile.compiler.resolve import DeclaredSource, NodeDraft, ResolvedNode, Resolver
from tauro_compile.compiler.selector import SelectableNode, select_nodes
from tauro_compile.compiler.yaml_source import LineIndex
from tauro_compile.errors import Problem, ProblemList, ProjectError, did_you_mean
from tauro_compile.streaming.code_checks import ContractChecker, ReferenceChecker
from tauro_compile.streaming.config import InputConfig, NodeConfig, check_input
from tauro_compile.streaming.formats import is_secret_key
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.probes import FileProbes
from tauro_compile.streaming.secrets import mask_text
from tauro_compile.textfiles import read_text

if TYPE_CHECKING:
    from tauro_compile.compiler.options import ProjectOptions


@dataclass(frozen=True)
class CompiledNode:
    """One node of a compiled project, with where it came from and what it depends on."""

    name: str
    unique_id: str                     # "<project name>.<node name>", stable across runs
    file: str                          # project-relative posix path of the node file
    line: int                          # line where the node starts in that file
    config: NodeConfig                 # fully resolved; secrets as ${secret:X} placeholders
    depends_on: tuple[str, ...]        # upstream node names (input.ref and ref() calls)
    sources: tuple[str, ...]           # declared sources used
    tags: tuple[str, ...]
    description: str | None
    checksum: str                      # sha256 of the node file's text
    # field path -> (line, "source" | "rendered") in `file`, computed only when asked
    locate: Callable[[Sequence[str | int]], tuple[int | None, str]] | None = field(
        default=None, compare=False, repr=False)


@dataclass
class CompiledProject:
    """A valid project: every node resolved, the DAG, and the selected nodes in start order."""

    project: ProjectConfig
    profile: ResolvedProfile
    nodes: dict[str, CompiledNode]
    graph: NodeGraph
    selected: list[str]
    target_dir: Path
    sources: dict[str, DeclaredSource] = field(default_factory=dict)
    secret_values: tuple[str, ...] = ()   # values to mask in anything shown or written
    warnings: tuple[Problem, ...] = ()    # not refused (e.g. an option name Spark ignores)
    # What the compile read beyond the project's files (for target/compile_cache.json):
    env_names: tuple[str, ...] = field(default=(), repr=False, compare=False)
    env_whole: bool = field(default=False, repr=False, compare=False)  # iterated environ
    probes: tuple[tuple[str, str, object], ...] = field(default=(), repr=False, compare=False)
    manifest_text: str | None = field(default=None, repr=False, compare=False)  # as written
    # node name -> its config layers, lowest first (provenance; built only when called)
    layers: Callable[[str], list[Layer]] | None = field(default=None, repr=False, compare=False)
    _generations: list[list[str]] | None = field(default=None, repr=False, compare=False)

    def generations(self) -> list[list[str]]:
        """The selected nodes in topological generations (each sorted by name)."""
        if self._generations is None:
            if len(self.selected) == len(self.graph):
                self._generations = self.graph.generations()
            else:
                self._generations = self.graph.subgraph(self.selected).generations()
        return [list(g) for g in self._generations]

    def mask(self, text: str) -> str:
        """`text` with secret placeholders and known secret values replaced by ***."""
        return mask_text(text, self.secret_values)

    def to_run_plan(self) -> RunPlan:
        """The selected nodes as the runner's plan; `depends_on` keeps selected upstreams only."""
        chosen = set(self.selected)
        planned = tuple(
            PlannedNode(
                name=name, unique_id=self.nodes[name].unique_id, config=self.nodes[name].config,
                depends_on=tuple(d for d in self.nodes[name].depends_on if d in chosen),
                source_file=self.nodes[name].file, locate=self.nodes[name].locate,
            )
            for name in self.selected
        )
        return RunPlan(
            project_name=self.project.name, project_dir=self.project.project_dir,
            target_dir=self.target_dir, profile=self.profile.name, nodes=planned,
            spark=self.profile.spark, fail_fast=self.profile.fail_fast,
            python_paths=(self.project.project_dir,),
            checkpoint_root=self.profile.paths.get("checkpoints"),
            metrics_port=self.profile.metrics_port, metrics_host=self.profile.metrics_host,
        )


def compile_project(options: ProjectOptions, *, write_artifacts: bool = True,
                    environ: Mapping[str, str] | None = None,
                    preread: MutableMapping[str, bytes] | None = None) -> CompiledProject:
    """Compile the project of `options`; ProjectError with every problem, or UsageError.

    `preread`: absolute path -> bytes of node and macro files already read (by the cache).
    """
    recorder = EnvironRecorder(os.environ if environ is None else environ)
    compiled = _compile(options, write_artifacts, recorder, preread)
    return dataclasses.replace(compiled, env_names=tuple(sorted(recorder.names)),
                               env_whole=recorder.whole)


def _compile(options: ProjectOptions, write_artifacts: bool, environ: Mapping[str, str],
             preread: MutableMapping[str, bytes] | None = None) -> CompiledProject:
    project = load_project(options.project_dir)
    project_context = {"name": project.name, "version": project.version,
                       "vars": dict(project.vars)}
    profile_renderer = Renderer(variables={**project.vars, **options.vars},
                                project=project_context, environ=environ)
    profile = load_profile(project.project_dir, profiles_dir=options.profiles_dir,
                           explicit=options.profile, default=project.profile,
                           renderer=profile_renderer, environ=environ)
    if not profile.spark.app_name:
        profile = dataclasses.replace(
            profile, spark=dataclasses.replace(profile.spark, app_name=f"tauro-{project.name}"))
    compilation = _Compilation(project, profile, options, project_context, environ)
    compilation.preread = preread
    return compilation.run(write_artifacts)


class _Compilation:
    """The state of one compile: the renderer, the problems found, the secrets seen."""

    def __init__(self, project: ProjectConfig, profile: ResolvedProfile,
                 options: ProjectOptions, project_context: dict[str, Any],
                 environ: Mapping[str, str]) -> None:
        self.project = project
        self.profile = profile
        self.options = options
        self.problems = ProblemList()
        self.warnings: list[Problem] = []
        self.secrets: set[str] = set(profile.secret_values)
        self.renderer = Renderer(
            variables={**project.vars, **profile.vars, **options.vars},
            project=project_context, target=profile.target_context(),
            sources=list(project.sources), environ=environ,
        )
        self._project_index: LineIndex | None = None
        self.probes = FileProbes()
        self.preread: MutableMapping[str, bytes] | None = None
        self._written: list[str] = []   # compiled file names handed to the writer

    def run(self, write_artifacts: bool) -> CompiledProject:
        project = self.project
        files, found = discover(project, project.node_paths, NODE_SUFFIXES, required=True,
                                preread=self.preread)
        precreated = Precreator(project.target_dir, (PurePosixPath(f.rel).stem for f in files)) \
            if write_artifacts else None
        try:
            return self._run(files, found, write_artifacts, precreated)
        finally:
            if precreated is not None:
                precreated.discard_unused(self._written)

    def _run(self, files: list[ProjectFile], found_files: list[Problem], write_artifacts: bool,
             precreated: Precreator | None) -> CompiledProject:
        project, problems = self.project, self.problems
        macros, found = discover(project, project.macro_paths, MACRO_SUFFIXES, required=False,
                                 preread=self.preread)
        problems.extend(found)
        problems.extend(self.renderer.load_macros([(f.rel, f.text) for f in macros]))
        sources = self._declared_sources()
        found = found_files
        problems.extend(found)
        loader = NodeLoader(self.renderer, project, self.profile.nodes, problems,
                            known_secrets=tuple(sorted(self.secrets)),
                            profile_name=self.profile.name, profile_file=self.profile.file,
                            locate_override=self.profile.locate_override,
                            locate_project=self._project_line)
        for unreadable in found:  # files that could not be read: their nodes are not unknown
            if unreadable.file:
                loader.mark_failed(project.project_dir / unreadable.file)
        drafts: dict[str, NodeDraft] = {}
        duplicates: dict[str, list[NodeDraft]] = {}
        for file in files:
            for draft in loader.load(file):
                if draft.name in drafts:
                    duplicates.setdefault(draft.name, [drafts[draft.name]]).append(draft)
                else:
                    drafts[draft.name] = draft
        self._duplicate_problems(duplicates)
        self._override_problems(drafts)
        resolver = Resolver(drafts, sources, project_dir=project.project_dir,
                            checkpoint_root=self.profile.paths.get("checkpoints"),
                            profile_name=self.profile.name, contract_paths=project.contract_paths,
                            source_names=list(project.sources), broken=loader.failed,
                            exists=self.probes.exists)
        for draft in drafts.values():
            self.secrets.update(draft.secrets)
        self.secrets |= loader.unparsed_secrets
        secrets = tuple(sorted(self.secrets))
        target_dir = project.target_dir
        # The compiled files are written in a thread while the checks run and the manifest
        # is built (creating thousands of files is mostly kernel time).
        written = write_compiled(target_dir, loader.compiled, clean=False,
                                 substitute=lambda text: _substitute_text(text, resolver),
                                 known_secrets=secrets, background=True,
                                 precreated=precreated) if write_artifacts else None
        self._written = list(loader.compiled) if write_artifacts else []
        try:
            resolved = self._resolve(drafts, resolver)
            graph = NodeGraph(drafts, ((up, n) for n, d in drafts.items() for up in d.refs))
            self._cycle_problem(graph, drafts)
            compiled = self._compiled(resolved, graph, sources, secrets, loader,
                                      write_artifacts)
        finally:
            if written is not None:
                written()  # compiled/ complete (or its error raised) before the manifest
                if not problems:  # files of nodes that are gone, only by a valid compile
                    remove_stale(target_dir, loader.compiled)
        if compiled.manifest_text is not None:
            write_manifest(compiled.manifest_text, target_dir)
        return compiled

    def _compiled(self, resolved: dict[str, ResolvedNode], graph: NodeGraph,
                  sources: dict[str, DeclaredSource], secrets: tuple[str, ...],
                  loader: NodeLoader, write_artifacts: bool) -> CompiledProject:
        """The compiled project (with its manifest text when artifacts are written)."""
        project, problems, target_dir = self.project, self.problems, self.project.target_dir
        if problems:
            raise ProjectError([_masked(p, secrets) for p in _relocated(problems, loader)])
        nodes = {
            name: CompiledNode(
                name=name, unique_id=f"{project.name}.{name}", file=node.draft.file,
                line=node.draft.line, config=node.config, depends_on=node.depends_on,
                sources=node.sources, tags=tuple(node.config.tags),
                description=node.config.description, checksum=node.draft.checksum,
                locate=node.draft.locate,
            )
            for name, node in resolved.items()
        }
        selectable = {n: SelectableNode(n, c.tags, c.file) for n, c in nodes.items()}
        selected = select_nodes(graph, selectable, self.options.select, self.options.exclude)
        compiled = CompiledProject(project=project, profile=self.profile, nodes=nodes,
                                   graph=graph, selected=selected, target_dir=target_dir,
                                   sources=sources, secret_values=secrets,
                                   warnings=tuple(_masked(w, secrets) for w in
                                                  _relocated(self.warnings, loader)),
                                   layers=loader.layers, probes=tuple(self.probes.records()))
        if write_artifacts:
            compiled.manifest_text = render_manifest(build_manifest(compiled, self._invocation()))
        return compiled

    # -- steps ---------------------------------------------------------------------------

    def _resolve(self, drafts: dict[str, NodeDraft], resolver: Resolver) -> dict[str, ResolvedNode]:
        resolved: dict[str, ResolvedNode] = {}
        references = ReferenceChecker(self.project.project_dir, self.probes)
        contracts = ContractChecker(self.project.project_dir, self.probes)
        for name, draft in drafts.items():
            self.problems.extend(checks.placeholder_problems(draft))
            node, found = resolver.resolve(draft)
            self.problems.extend(found)
            if node is None:
                continue
            resolved[name] = node
            self.problems.extend(checks.registry_problems(node))
            self.warnings.extend(checks.option_warnings(node))
            self.problems.extend(checks.watermark_problems(node))
            self.problems.extend(checks.reference_problems(node, references))
            self.problems.extend(checks.contract_problems(node, contracts))
        self.problems.extend(checks.collision_problems(resolved.values()))
        if self.profile.spark.remote:
            self.problems.extend(checks.connect_problems(resolved, self.profile.name))
        return resolved

    def _declared_sources(self) -> dict[str, DeclaredSource]:
        """The project's `sources:`, rendered (no ref()) and checked like an input section."""
        declared: dict[str, DeclaredSource] = {}
        for name, raw in self.project.sources.items():
            prefix = ("sources", name)
            rendered, ok = self._render_source(raw, prefix)
            if not ok:
                continue
            misplaced = [path for path, text in checks.strings_of(rendered, prefix)
                         if checks.INPUT_PLACEHOLDER.search(text)]
            for path in misplaced:
                self.problems.add(Problem(
                    "{{ input }} is only meaningful in a sql transform", file=PROJECT_FILE,
                    line=self._project_line(path), field=".".join(map(str, path)),
                    found="{{ input }}", expected="{{ input }} only in a node's "
                    "`transforms[].sql`", hint=checks.INPUT_HINT, code="input_outside_sql",
                ))
            if misplaced:
                continue
            if isinstance(rendered.get("path"), str):
                rendered["path"] = absolute_path(rendered["path"], self.project.project_dir)
            try:
                config = InputConfig.model_validate(rendered)
            except ValidationError as exc:
                self.problems.extend(validation_problems(
                    exc, InputConfig, file=PROJECT_FILE, prefix=prefix, field_prefix=prefix,
                    locate=lambda p: (self._project_line(p), "source"),
                    secrets=tuple(sorted(self.secrets)),
                ))
                continue
            issues = check_input(config)
            for issue in issues:
                path = split_field(issue.field.removeprefix("input."))
                self.problems.add(Problem(
                    f"source '{name}': {issue.message}", file=PROJECT_FILE,
                    line=self._project_line((*prefix, *path)), field=f"sources.{name}."
                    + issue.field.removeprefix("input."), expected=issue.expected,
                    found=issue.found, hint=issue.hint, code="config",
                ))
            if not issues:  # nodes reading an invalid source are not reported again
                declared[name] = DeclaredSource(name, rendered, config,
                                                self._project_line(prefix))
        return declared

    def _render_source(self, value: Any, path: tuple[str | int, ...]) -> tuple[Any, bool]:
        if isinstance(value, dict):
            out, ok = {}, True
            for key, item in value.items():
                out[key], item_ok = self._render_source(item, (*path, key))
                ok = ok and item_ok
            return out, ok
        if isinstance(value, list):
            items = [self._render_source(v, (*path, i)) for i, v in enumerate(value)]
            return [v for v, _ in items], all(ok for _, ok in items)
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value, True
        result = self.renderer.render_value(value, PROJECT_FILE)
        for problem in result.problems:
            self.problems.add(dataclasses.replace(
                problem, file=PROJECT_FILE, line=self._project_line(path),
                field=".".join(map(str, path)),
            ))
        if any(isinstance(part, str) and is_secret_key(part) for part in path):
            self.secrets.update(v for v in result.env_values.values() if v)
        self.secrets |= secret_named_values(result.env_values)
        return result.text, result.text is not None

    def _project_line(self, path: tuple[str | int, ...]) -> int | None:
        if self._project_index is None:
            text = read_text(self.project.project_dir / PROJECT_FILE)
            self._project_index = LineIndex(text)
        return self._project_index.line_of(path)

    def _duplicate_problems(self, duplicates: dict[str, list[NodeDraft]]) -> None:
        for name, group in duplicates.items():
            places = [f"{d.file}:{d.line}" for d in group]
            for draft in group:
                self.problems.add(Problem(
                    f"node name '{name}' is defined more than once: {', '.join(places)}",
                    file=draft.file, line=draft.line, field="name", found=name,
                    expected="a name unique in the project", code="duplicate_node",
                    hint="rename one of them (a node's name defaults to its file name)",
                    node=name,
                ))

    def _override_problems(self, drafts: dict[str, NodeDraft]) -> None:
        for key in self.profile.nodes:
            if key == "*" or key.startswith("tag:") or key in drafts:
                continue
            self.problems.add(Problem(
                f"profile '{self.profile.name}' overrides unknown node '{key}'",
                file=self.profile.file, line=self.profile.override_lines.get(key),
                field=f"nodes.{key}", found=key, code="unknown_override",
                expected="'*', 'tag:<tag>' or a node name",
                hint=did_you_mean(key, list(drafts)),
            ))

    def _cycle_problem(self, graph: NodeGraph, drafts: dict[str, NodeDraft]) -> None:
        try:  # ordering is fast; finding the cycle's path is only needed when there is one
            graph.generations()
            return
        except GraphCycleError as exc:
            cycle = exc.cycle or graph.find_cycle()
        if not cycle:
            return
        first = drafts[cycle[0]]
        line, kind = first.locate(("input", "ref"))
        path = " --> ".join(cycle)
        self.problems.add(Problem(
            f"the nodes depend on each other in a cycle: {path}", file=first.file, line=line,
            line_kind=kind, field="input.ref", found=path, code="cycle", node=first.name,
            hint="a stream cannot read its own output through other nodes; break one ref",
        ))

    def _invocation(self) -> dict[str, Any]:
        options = self.options
        return {
            "command": "compile", "project_dir": str(self.project.project_dir),
            "profile": self.profile.name,
            "profiles_dir": str(options.profiles_dir) if options.profiles_dir else None,
            "select": list(options.select), "exclude": list(options.exclude),
            "vars": dict(options.vars),
        }


def _relocated(problems: ProblemList | list[Problem], loader: NodeLoader) -> list[Problem]:
    """Problems of a value a profile override set, pointed at that line of profiles.yml."""
    found = problems.problems if isinstance(problems, ProblemList) else problems
    if not loader.star and not loader.tag_overrides and not loader.named:
        return list(found)
    return relocate(found, loader.layers, keep=lambda p: id(p) in loader.node_file_problems)


def _substitute_text(text: str, resolver: Resolver) -> str:
    """Rendered text with ref/source tokens replaced by identifiers (for compiled files)."""
    if "\ue000" not in text:
        return text

    def sub(match: Any) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "source":
            declared = resolver.sources.get(name)
            return declared.identifier if declared else f"<unknown source {name}>"
        return resolver.identifier(name) or f"<unresolved ref {name}>"

    return TOKEN.sub(sub, text)


def _masked(problem: Problem, secrets: tuple[str, ...]) -> Problem:
    changes = {
        name: mask_text(value, secrets)
        for name in ("message", "expected", "found", "hint")
        if isinstance(value := getattr(problem, name), str)
    }
    return dataclasses.replace(problem, **changes)
