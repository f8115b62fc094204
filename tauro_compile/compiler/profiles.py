"""`profiles.yml`: named environments (dev, prod, ...), one of which a compile resolves.

Where: `--profiles-dir`, else the project directory, else `~/.tauro/`. Shape:

    profiles:                      # (a bare mapping of name -> profile is accepted too)
      base:
        spark: {master: "local[2]", app_name: shop, conf: {spark.sql.shuffle.partitions: 4}}
        paths: {warehouse: data/warehouse, checkpoints: data/checkpoints, landing: data/landing}
        vars: {threshold: 3}
        fail_fast: false
      dev:
        extends: base
        nodes:                     # overrides ON TOP of node files, applied in this order:
          "*": {streaming: {trigger: {type: available_now}}}     # every node
          "tag:gold": {output: {options: {mergeSchema: "true"}}}  # nodes tagged gold
          clean_events: {streaming: {output_mode: append}}       # one node

Choice: `--profile`, else `$TAURO_PROFILE`, else the project's `profile`, else the only
profile there is. `extends` deep-merges the child over its parent (see `merge.py`: mappings
merge recursively, lists and scalars of the child replace the parent's, a `trigger` is
replaced whole); chains are allowed, cycles are an error. Relative `paths` are resolved
against the project directory (URIs such as `s3a://...` are kept); every path in the
result is absolute. String values may use `env_var()` and `var()` (project and --vars).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from tauro_compile.compiler.discovery import PROFILES_FILE, profile_candidates
from tauro_compile.compiler.problems import validation_problems
from tauro_compile.compiler.project import read_project_text
from tauro_compile.compiler.rendering import Renderer
from tauro_compile.compiler.yaml_source import LineIndex, YamlSyntaxError, load_yaml, yaml_problems
from tauro_compile.errors import Problem, ProjectError, UsageError, did_you_mean
from tauro_compile.streaming.config import ConfigModel, OptionValue
from tauro_compile.streaming.formats import is_secret_key
from tauro_compile.streaming.merge import deep_merge
from tauro_compile.streaming.plan import SparkSettings
from tauro_compile.streaming.secrets import MASK

PROFILE_ENV = "TAURO_PROFILE"
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:/")


class PoolConfig(ConfigModel):
    """A FAIR scheduler pool (Spark's fairscheduler.xml fields)."""

    weight: int = Field(default=1, ge=0)
    min_share: int = Field(default=0, ge=0)
    mode: Literal["FAIR", "FIFO"] = "FIFO"


class SparkProfile(ConfigModel):
    """How the SparkSession of a run is built: a master (local, spark://, yarn) or a remote."""

    master: str | None = None
    remote: str | None = Field(default=None, pattern=r"^sc://")
    app_name: str | None = None
    conf: dict[str, OptionValue] = Field(default_factory=dict)
    pools: dict[str, PoolConfig] = Field(default_factory=dict)


class MetricsProfile(ConfigModel):
    """`metrics:` of a profile: the Prometheus endpoint of `tauro run` (off unless a port)."""

    port: int | None = Field(default=None, ge=0, le=65535)
    host: str = "0.0.0.0"


class ProfileConfig(ConfigModel):
    """One named profile as written (after `extends` is merged)."""

    extends: str | None = None
    description: str | None = None
    spark: SparkProfile = Field(default_factory=SparkProfile)
    paths: dict[str, str] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fail_fast: bool = False
    metrics: MetricsProfile = Field(default_factory=MetricsProfile)


@dataclass(frozen=True)
class ResolvedProfile:
    """The profile a compile uses: extends merged, paths absolute, spark settings built."""

    name: str
    file: str
    spark: SparkSettings
    paths: dict[str, str] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_fast: bool = False
    chain: tuple[str, ...] = ()          # this profile, then the ones it extends
    secret_values: tuple[str, ...] = ()  # env_var() values that landed in secret-like keys
    override_lines: dict[str, int | None] = field(default_factory=dict)  # `nodes:` key -> line
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    # (`nodes:` key, field path) -> (profile of the chain that writes it, line); for provenance
    locate_override: Callable[[str, Sequence[str | int]], tuple[str, int | None]] | None = field(
        default=None, compare=False, repr=False)

    def target_context(self) -> dict[str, Any]:
        """What node templates see as `target` (secret-like spark conf values masked)."""
        conf = {k: (MASK if is_secret_key(k) else v) for k, v in self.spark.conf.items()}
        return {
            "name": self.name, "paths": dict(self.paths), "vars": dict(self.vars),
            "spark": {"master": self.spark.master, "remote": self.spark.remote,
                      "app_name": self.spark.app_name, "conf": conf},
        }


def find_profiles_file(project_dir: Path, profiles_dir: Path | None) -> Path:
    """profiles.yml from --profiles-dir, else the project, else ~/.tauro; UsageError if none."""
    searched = profile_candidates(project_dir, profiles_dir)
    if profiles_dir is not None:
        if not searched[0].is_file():
            raise UsageError(f"no {PROFILES_FILE} in --profiles-dir {profiles_dir}")
        return searched[0]
    for candidate in searched:
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"no {PROFILES_FILE} found (looked in {', '.join(str(p.parent) for p in searched)})",
        hint=f"create {PROFILES_FILE} in the project, or pass --profiles-dir",
    )


def profile_names(project_dir: Path, profiles_dir: Path | None) -> list[str]:
    """Every profile of the project's profiles.yml, in file order (for --all-profiles)."""
    path = find_profiles_file(project_dir, profiles_dir)
    shown = _display_path(path, project_dir)
    try:
        raw = load_yaml(read_project_text(path, shown))
    except YamlSyntaxError as exc:
        raise ProjectError(yaml_problems(exc, shown)) from None
    profiles = raw.get("profiles") if isinstance(raw, dict) and "profiles" in raw else raw
    return [str(k) for k in profiles] if isinstance(profiles, dict) else []


def choose_profile(explicit: str | None, default: str | None, available: list[str],
                   environ: Mapping[str, str] | None = None) -> str:
    """--profile, else $TAURO_PROFILE, else the project default, else the only one."""
    environ = os.environ if environ is None else environ
    chosen = explicit or environ.get(PROFILE_ENV) or default
    origin = ("--profile" if explicit else f"${PROFILE_ENV}" if environ.get(PROFILE_ENV)
              else "`profile:` in tauro_project.yml")
    listing = ", ".join(sorted(available)) or "(none)"
    if chosen is None:
        if len(available) == 1:
            return available[0]
        raise UsageError(
            "no profile chosen", hint=f"pass --profile, set {PROFILE_ENV} or `profile:` in "
            f"tauro_project.yml; valid profiles: {listing}",
        )
    if chosen not in available:
        near = did_you_mean(chosen, available)
        unset = f"; unset {PROFILE_ENV} or " if origin.startswith("$") else "; "
        raise UsageError(
            f"unknown profile '{chosen}' (from {origin})",
            hint=f"{near + ' ' if near else ''}valid profiles: {listing}"
            + (f"{unset}set it to one of them" if origin.startswith("$") else ""),
        )
    return chosen


def load_profile(
    project_dir: Path,
    *,
    profiles_dir: Path | None,
    explicit: str | None,
    default: str | None,
    renderer: Renderer,
    environ: Mapping[str, str] | None = None,
) -> ResolvedProfile:
    """Find, choose, merge and validate the profile; UsageError / ProjectError on failure."""
    path = find_profiles_file(project_dir, profiles_dir)
    shown = _display_path(path, project_dir)
    text = read_project_text(path, shown)
    try:
        raw = load_yaml(text)
    except YamlSyntaxError as exc:
        raise ProjectError(yaml_problems(exc, shown)) from None
    prefix: tuple[str, ...] = ("profiles",) if isinstance(raw, dict) and "profiles" in raw else ()
    profiles = raw.get("profiles") if prefix else raw
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise ProjectError([Problem(
            f"{PROFILES_FILE} must map profile names to profiles", file=shown, line=1,
            expected="profiles: {dev: {...}, prod: {...}}", found=type(profiles).__name__,
        )])
    name = choose_profile(explicit, default, [str(k) for k in profiles], environ)
    index = LineIndex(text)
    chain, merged = _merge_chain(name, profiles, shown, index, prefix)
    secrets: set[str] = set()
    merged = _render_strings(merged, renderer, shown, index, (*prefix, name), secrets)
    try:
        config = ProfileConfig.model_validate({k: v for k, v in merged.items() if k != "extends"})
    except ValidationError as exc:
        raise ProjectError(validation_problems(
            exc, ProfileConfig, file=shown, prefix=(*prefix, name),
            locate=lambda p: (index.line_of(p), "source"), secrets=tuple(sorted(secrets)),
        )) from None
    root = Path(os.path.abspath(project_dir))
    _check_spark_target(config.spark, shown, index, chain, prefix)
    spark = SparkSettings(
        master=config.spark.master or "local[2]",
        app_name=config.spark.app_name or "",
        conf={k: _conf_text(v) for k, v in config.spark.conf.items()},
        remote=config.spark.remote,
        pools={k: v.model_dump() for k, v in config.spark.pools.items()},
    )
    return ResolvedProfile(
        name=name, file=shown, spark=spark,
        paths={k: absolute_path(v, root) for k, v in config.paths.items()},
        vars=config.vars, nodes=config.nodes, fail_fast=config.fail_fast,
        chain=tuple(chain), secret_values=tuple(sorted(secrets)),
        override_lines={key: _first_line(index, prefix, chain, ("nodes", key))
                        for key in config.nodes},
        metrics_port=config.metrics.port, metrics_host=config.metrics.host,
        locate_override=lambda key, path: _override_line(index, prefix, chain, key, path),
    )


def _override_line(index: LineIndex, prefix: tuple[str, ...], chain: list[str], key: str,
                   path: Sequence[str | int]) -> tuple[str, int | None]:
    """Profile of the chain whose `nodes.<key>` writes the longest part of `path`, and its line."""
    for depth in range(len(path), -1, -1):
        for member in chain:
            line = index.exact_line_of((*prefix, member, "nodes", key, *path[:depth]))
            if line is not None:
                return member, line
    return chain[0], None


# Settings a Spark Connect client cannot change: they belong to the server's launch.
_SERVER_ONLY_CONF = ("spark.jars", "spark.driver.", "spark.executor.", "spark.master",
                     "spark.submit.", "spark.scheduler.", "spark.pyspark.", "spark.files",
                     "spark.archives", "spark.cores.max", "spark.ui.")


def _check_spark_target(spark: SparkProfile, shown: str, index: LineIndex, chain: list[str],
                        prefix: tuple[str, ...]) -> None:
    """`master` and `remote` exclude each other; a remote profile sets runtime conf only."""
    problems: list[Problem] = []
    if spark.master is not None and spark.remote is not None:
        problems.append(Problem(
            "spark.master and spark.remote are mutually exclusive", file=shown,
            line=_first_line(index, prefix, chain, ("spark", "remote")),
            field="spark.remote", expected="either master (local[*], spark://...) or "
            "remote (sc://host:port)", found=f"master {spark.master!r} and remote {spark.remote!r}",
            hint="a profile that extends a master profile can drop it with `master: null`",
            code="spark_target"))
    if spark.remote is not None:
        for key in spark.conf:
            if key.startswith(_SERVER_ONLY_CONF):
                problems.append(Problem(
                    f"'{key}' cannot be set over Spark Connect: it belongs to the server's launch",
                    file=shown, line=_first_line(index, prefix, chain, ("spark", "conf", key)),
                    field=f"spark.conf.{key}", expected="a runtime setting "
                    "(spark.sql.*, ...)", found=key, code="connect_conf",
                    hint="set it where the Spark Connect server is started (see the README)"))
        if spark.pools:
            problems.append(Problem(
                "spark.pools cannot be used over Spark Connect: scheduler pools are the "
                "server's (spark.scheduler.allocation.file of its launch)", file=shown,
                line=_first_line(index, prefix, chain, ("spark", "pools")),
                field="spark.pools", expected="no pools in a remote profile",
                found=", ".join(spark.pools), code="connect_pools",
                hint="configure pools on the Connect server, or use a master profile"))
    if problems:
        raise ProjectError(problems)


def _first_line(index: LineIndex, prefix: tuple[str, ...], chain: list[str],
                path: tuple[str, ...]) -> int | None:
    """Line of `path` in the first profile of the chain that writes it."""
    for member in chain:
        line = index.exact_line_of((*prefix, member, *path))
        if line is not None:
            return line
    return None


def absolute_path(value: str, root: Path) -> str:
    """`value` made absolute against `root` unless it already is, or is a URI."""
    if not value or _URI.match(value) or os.path.isabs(value):
        return value
    return os.path.normpath(os.path.join(root, value))


def _merge_chain(name: str, profiles: dict[str, Any], shown: str, index: LineIndex,
                 prefix: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """The profile merged over every profile it extends, child last; cycles are a problem."""
    chain = [name]
    while True:
        parent = profiles[chain[-1]].get("extends")
        if parent is None:
            break
        where = index.line_of((*prefix, chain[-1], "extends"))
        if parent not in profiles:
            raise ProjectError([Problem(
                f"profile '{chain[-1]}' extends unknown profile '{parent}'", file=shown,
                line=where, field=f"{chain[-1]}.extends", found=str(parent),
                expected=f"one of: {', '.join(sorted(profiles))}",
                hint=did_you_mean(str(parent), list(profiles)),
            )])
        if parent in chain:
            cycle = " --> ".join([*chain, parent])
            raise ProjectError([Problem(
                f"profiles extend each other in a cycle: {cycle}", file=shown, line=where,
                field=f"{chain[-1]}.extends", found=cycle, code="profile_cycle",
                hint="one profile of the cycle must not extend another",
            )])
        chain.append(parent)
    merged: dict[str, Any] = {}
    for member in reversed(chain):
        merged = deep_merge(merged, profiles[member])
    return chain, merged


def _render_strings(value: Any, renderer: Renderer, shown: str, index: LineIndex,
                    path: tuple[str | int, ...], secrets: set[str]) -> Any:
    """Jinja-render every templated string of a profile (env_var, var); problems raise."""
    if isinstance(value, dict):
        return {k: _render_strings(v, renderer, shown, index, (*path, k), secrets)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_render_strings(v, renderer, shown, index, (*path, i), secrets)
                for i, v in enumerate(value)]
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value
    result = renderer.render_value(value, shown)
    if result.problems:
        line = index.line_of(path)
        raise ProjectError([
            Problem(p.message, file=shown, line=line, field=".".join(map(str, path)),
                    expected=p.expected, found=p.found, hint=p.hint, code=p.code)
            for p in result.problems
        ])
    if any(isinstance(part, str) and is_secret_key(part) for part in path):
        secrets.update(v for v in result.env_values.values() if v)
    secrets.update(v for name, v in result.env_values.items() if v and is_secret_key(name))
    return result.text


def _conf_text(value: OptionValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _display_path(path: Path, project_dir: Path) -> str:
    try:
        return path.resolve().relative_to(Path(project_dir).resolve()).as_posix()
    except ValueError:
        return str(path)
