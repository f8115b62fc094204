"""`tauro_project.yml`: the project's name, layout, vars, streaming defaults and declared sources.

    name: shop_events            # required; unique ids of nodes are "<name>.<node>"
    version: "1.0"
    profile: dev                 # default profile (else --profile / $TAURO_PROFILE)
    node_paths: [nodes]          # where node files live (*.yml, *.yaml, recursively)
    contract_paths: [contracts]  # where `contract:` paths are also looked up
    macro_paths: [macros]        # *.jinja, *.j2, *.sql files whose macros node files may call
    target_path: target          # manifest.json and compiled/ go here
    vars: {threshold: 3}         # lowest precedence: < profile vars < --vars
    streaming:                   # merged UNDER every node's `streaming:` section
      trigger: {type: processing_time, interval: 30 seconds}
    on_failure: {action: restart, max_restarts: 3}   # default failure policy of every node
    sources:                     # external inputs nodes read with `input: {source: name}`
      landing_events:
        format: file_stream
        path: "{{ target.paths.landing }}/events"
        file_format: json
        schema: "event_id STRING, user_id STRING, event_time TIMESTAMP"

The project file is plain YAML; only string values under `sources:` are Jinja-rendered (with
the node context minus `ref`), so templated values there must be quoted. The project
directory goes on `sys.path`, so `python: transforms.events:deduplicate` imports
`<project>/transforms/events.py`.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator

from tauro_compile.compiler.discovery import (
    DEFAULT_CONTRACT_PATHS,
    DEFAULT_MACRO_PATHS,
    DEFAULT_NODE_PATHS,
    DEFAULT_TARGET_PATH,
    PROJECT_FILE,
    walk_files,
)
from tauro_compile.compiler.discovery import (
    MACRO_SUFFIXES as MACRO_SUFFIXES,
)
from tauro_compile.compiler.discovery import (
    NODE_SUFFIXES as NODE_SUFFIXES,
)
from tauro_compile.compiler.problems import validation_problems
from tauro_compile.compiler.yaml_source import LineIndex, YamlSyntaxError, load_yaml, yaml_problems
from tauro_compile.errors import Problem, ProjectError, UsageError
from tauro_compile.streaming.config import ConfigModel, FailurePolicy, StreamingConfig
from tauro_compile.textfiles import ENCODING_HINT, EncodingProblem, decode_text, read_text

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class ProjectConfig(ConfigModel):
    """The validated content of `tauro_project.yml` (see the module docstring)."""

    name: str = Field(pattern=NAME_PATTERN)
    version: str = "0.1.0"
    description: str | None = None
    profile: str | None = None
    node_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_NODE_PATHS))
    contract_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_CONTRACT_PATHS))
    macro_paths: list[str] = Field(default_factory=lambda: list(DEFAULT_MACRO_PATHS))
    target_path: str = DEFAULT_TARGET_PATH
    vars: dict[str, Any] = Field(default_factory=dict)
    streaming: dict[str, Any] = Field(default_factory=dict)
    on_failure: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    _project_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @property
    def project_dir(self) -> Path:
        """Absolute directory holding tauro_project.yml."""
        return self._project_dir

    @property
    def target_dir(self) -> Path:
        return self._project_dir / self.target_path


@dataclass(frozen=True)
class ProjectFile:
    """A text file of the project: its project-relative posix path and content."""

    rel: str
    path: str      # absolute
    text: str


def load_project(project_dir: Path) -> ProjectConfig:
    """Read and validate tauro_project.yml; UsageError when missing, ProjectError when invalid."""
    project_dir = Path(os.path.abspath(project_dir))
    path = project_dir / PROJECT_FILE
    if not path.is_file():
        hint = "run `tauro init <dir>` to create a project, or pass --project-dir"
        if not project_dir.is_dir():
            raise UsageError(f"project directory {project_dir} does not exist", hint=hint)
        raise UsageError(f"no {PROJECT_FILE} in {project_dir}", hint=hint)
    text = read_project_text(path, PROJECT_FILE)
    try:
        raw = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ProjectError(yaml_problems(exc, PROJECT_FILE)) from None
    if not isinstance(raw, dict):
        raise ProjectError([Problem(
            f"{PROJECT_FILE} must be a mapping", file=PROJECT_FILE, line=1,
            expected="name: <project>, profile: <default>, ...", found=type(raw).__name__,
        )])
    index = LineIndex(text)

    def locate(field_path: Any) -> tuple[int | None, str]:
        return index.line_of(field_path), "source"

    problems: list[Problem] = []
    try:
        project = ProjectConfig.model_validate(raw)
    except ValidationError as exc:
        raise ProjectError(validation_problems(
            exc, ProjectConfig, file=PROJECT_FILE, locate=locate,
        )) from None
    for section, model in (("streaming", StreamingConfig), ("on_failure", FailurePolicy)):
        try:
            model.model_validate(getattr(project, section))
        except ValidationError as exc:
            problems += validation_problems(
                exc, model, file=PROJECT_FILE, locate=locate, prefix=(section,),
                field_prefix=(section,),
            )
    if "checkpoint_location" in project.streaming or "query_name" in project.streaming:
        problems.append(Problem(
            "a project-wide checkpoint_location or query_name would be shared by every node",
            file=PROJECT_FILE, line=index.line_of(("streaming",)), field="streaming",
            hint="set `paths.checkpoints` in the profile; each node gets <checkpoints>/<node>",
        ))
    if problems:
        raise ProjectError(problems)
    project._project_dir = project_dir
    return project


def encoding_problem(exc: EncodingProblem, file: str) -> Problem:
    """The Problem of a file that is not UTF-8: file, line, column of the first bad byte."""
    return Problem(exc.message, file=file, line=exc.line, expected="UTF-8 text",
                   found=exc.found, hint=ENCODING_HINT, code="encoding")


def read_project_text(path: Path, shown: str) -> str:
    """A file the whole compile depends on; ProjectError when it is not UTF-8 or unreadable."""
    try:
        return read_text(path)
    except EncodingProblem as exc:
        raise ProjectError([encoding_problem(exc, shown)]) from None
    except OSError as exc:
        raise ProjectError([Problem(f"cannot read the file: {exc.strerror or exc}", file=shown,
                                    code="unreadable")]) from None


def discover(project: ProjectConfig, dirs: list[str], suffixes: tuple[str, ...],
             *, required: bool, preread: MutableMapping[str, bytes] | None = None,
             ) -> tuple[list[ProjectFile], list[Problem]]:
    """Files under `dirs` (project-relative) ending in `suffixes`, sorted, hidden ones skipped.

    `preread` maps absolute paths to bytes already read (by the compile cache, which hashed
    them): those files are not read again, and their entries are taken out (memory).
    """
    root = project.project_dir
    problems: list[Problem] = []
    for directory in dirs:
        base = root / directory
        if not base.is_dir() and (required and directory != "nodes" or base.exists()):
            problems.append(Problem(
                f"'{directory}' is not a directory", file=PROJECT_FILE,
                field="node_paths", found=directory,
            ))
    found = walk_files(root, dirs, suffixes)
    result = []
    for rel in found:
        try:
            data = preread.pop(found[rel], None) if preread else None
            text = read_text(found[rel]) if data is None else decode_text(data)
        except EncodingProblem as exc:
            problems.append(encoding_problem(exc, rel))
            continue
        except OSError as exc:
            problems.append(Problem(f"cannot read the file: {exc.strerror or exc}", file=rel,
                                    code="unreadable"))
            continue
        result.append(ProjectFile(rel, found[rel], text))
    return result, problems
