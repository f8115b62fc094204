"""`StreamingValidator`: turn a node or pipeline config into typed `NodeConfig`s, or say all that is wrong.

Built only on the typed models (`NodeConfig.model_validate`), the registry rules
(`config.check_node`) and the code rules (`code_checks`: importable references, a valid
contract file, a watermark on an input column), the same the compiler applies, so it accepts
exactly what the readers and writers can run. The
pipeline checks add what needs several nodes at once: unique names and query names, no two
nodes sharing a checkpoint, no two nodes writing the same sink.

`format_policy` (optional) narrows the accepted formats. Accepted shapes:

- a set/list/tuple of format names, allowed for inputs and outputs alike;
- a mapping `{"sources": [...], "sinks": [...]}` (a missing key allows every format);
- an object with `is_supported_input(fmt)` / `is_supported_output(fmt)` and/or
  `is_supported_streaming(fmt)` methods returning bool (the role-specific one wins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming import formats
from tauro_compile.streaming.code_checks import (
    ContractChecker,
    ReferenceChecker,
    node_code_issues,
)
from tauro_compile.streaming.collisions import collisions
from tauro_compile.streaming.config import ConfigIssue, NodeConfig, check_node
from tauro_compile.streaming.constants import PipelineType
from tauro_compile.streaming.exceptions import (
    StreamingFormatNotSupportedError,
    StreamingValidationError,
    create_error_context,
    node_name_of,
)
from tauro_compile.streaming.merge import deep_merge
from tauro_compile.streaming.model_issues import model_issues

_FORMAT_FIELDS = ("input.format", "output.format", "contract.quarantine.format")


class StreamingValidator:
    """Validates streaming nodes and pipelines against the models and the format registry."""

    def __init__(self, format_policy: Any = None, *, project_dir: str | Path | None = None) -> None:
        """`project_dir`: where relative contract paths and the project's modules are found
        (default: the working directory; `sys.path` is searched for modules too)."""
        self.format_policy = format_policy
        self.project_dir = Path(project_dir) if project_dir is not None else Path.cwd()

    def validate_streaming_node_config(self, node_config: Mapping[str, Any] | NodeConfig) -> NodeConfig:
        """The node as a NodeConfig; raises with every issue listed when it cannot run."""
        node, issues = self._node_issues(node_config)
        if node is None or issues:
            raise _error(issues, node_name_of(node_config), "validate_streaming_node_config")
        return node

    def validate_streaming_pipeline_config(self, pipeline_config: Mapping[str, Any]) -> list[NodeConfig]:
        """Every node of a pipeline, defaults applied; raises listing all issues of all nodes.

        `pipeline_config` is `{"type": "streaming", "nodes": [...], "streaming": {...}}`: the
        pipeline's `streaming` section is deep-merged under each node's `streaming` (the node
        wins; a node's `trigger` replaces the default trigger as a whole).
        """
        op = "validate_streaming_pipeline_config"
        if not isinstance(pipeline_config, Mapping):
            raise _error([ConfigIssue("pipeline", "a pipeline config must be a mapping",
                                      expected="{type, nodes, streaming}",
                                      found=type(pipeline_config).__name__)], None, op)
        issues: list[tuple[str | None, ConfigIssue]] = []
        ptype = pipeline_config.get("type", PipelineType.STREAMING.value)
        valid_types = [t.value for t in PipelineType]
        if ptype not in valid_types:
            issues.append((None, ConfigIssue("type", f"unknown pipeline type '{ptype}'",
                                             expected=f"one of: {', '.join(valid_types)}",
                                             found=str(ptype))))
        unknown = sorted(set(pipeline_config) - {"type", "nodes", "streaming", "name", "description"})
        for key in unknown:
            issues.append((None, ConfigIssue(key, f"unknown pipeline key '{key}'",
                                             expected="type, nodes, streaming", found=key,
                                             hint=did_you_mean(key, ["type", "nodes", "streaming"]))))
        defaults = pipeline_config.get("streaming") or {}
        if not isinstance(defaults, Mapping):
            issues.append((None, ConfigIssue("streaming", "pipeline `streaming` defaults must be a mapping",
                                             found=type(defaults).__name__)))
            defaults = {}
        raw_nodes = pipeline_config.get("nodes")
        if not isinstance(raw_nodes, Sequence) or isinstance(raw_nodes, str) or not raw_nodes:
            issues.append((None, ConfigIssue("nodes", "a pipeline needs a non-empty list of nodes",
                                             expected="a list of node configs",
                                             found=repr(raw_nodes)[:80])))
            raw_nodes = []

        nodes: list[NodeConfig] = []
        checkers = self._code_checkers()  # one per pipeline: a shared module is read once
        for index, raw in enumerate(raw_nodes):
            merged = with_streaming_defaults(raw, defaults)
            node, node_issues = self._node_issues(merged, checkers)
            name = node_name_of(raw) or f"nodes[{index}]"
            issues += [(name, issue) for issue in node_issues]
            if node is not None:
                nodes.append(node)
        issues += _cross_node_issues(nodes)
        if issues:
            first_node = issues[0][0]
            raise _error([i for _, i in issues], first_node, op,
                         node_names=[n for n, _ in issues])
        return nodes

    # -- internals ---------------------------------------------------------------------------

    def _code_checkers(self) -> tuple[ReferenceChecker, ContractChecker]:
        return ReferenceChecker(self.project_dir), ContractChecker(self.project_dir)

    def _node_issues(self, node_config: Any,
                     checkers: tuple[ReferenceChecker, ContractChecker] | None = None,
                     ) -> tuple[NodeConfig | None, list[ConfigIssue]]:
        if isinstance(node_config, NodeConfig):
            node = node_config
        else:
            if not isinstance(node_config, Mapping):
                return None, [ConfigIssue("node", "a node config must be a mapping or a NodeConfig",
                                          expected="a mapping", found=type(node_config).__name__)]
            try:
                node = NodeConfig.model_validate(dict(node_config))
            except ValidationError as exc:
                return None, _raw_format_issues(node_config) + _pydantic_issues(exc)
        return node, check_node(node) + self._policy_issues(node) + node_code_issues(
            node, *(checkers or self._code_checkers()))

    def _policy_issues(self, node: NodeConfig) -> list[ConfigIssue]:
        issues = []
        for field, fmt, role in (("input.format", node.input.format, "source"),
                                 ("output.format", node.output.format, "sink")):
            if not self._policy_allows(fmt, role):
                issues.append(ConfigIssue(
                    field, f"format '{fmt}' is not allowed by the format policy",
                    expected="a format the policy allows", found=fmt,
                    hint="the context's `format_policy` restricts the formats of this project",
                ))
        return issues

    def _policy_allows(self, fmt: str, role: str) -> bool:
        policy = self.format_policy
        if policy is None:
            return True
        if isinstance(policy, set | frozenset | list | tuple):
            return fmt in policy
        if isinstance(policy, Mapping):
            allowed = policy.get("sources" if role == "source" else "sinks")
            return allowed is None or fmt in allowed
        specific = getattr(policy, "is_supported_input" if role == "source" else "is_supported_output", None)
        method = specific if callable(specific) else getattr(policy, "is_supported_streaming", None)
        if callable(method):
            return bool(method(fmt))
        raise StreamingValidationError(
            f"unusable format_policy of type {type(policy).__name__}",
            context=create_error_context("check_format_policy", "StreamingValidator",
                                         field="format_policy",
                                         expected="a set of names, {'sources','sinks'} or an "
                                                  "object with is_supported_* methods",
                                         actual=type(policy).__name__),
        )


def with_streaming_defaults(node: Any, defaults: Mapping[str, Any]) -> Any:
    """`node` with pipeline `streaming` defaults merged under its own `streaming` section."""
    if not defaults:
        return node
    if isinstance(node, NodeConfig):
        raw = node.model_dump(exclude_unset=True, by_alias=True)
    elif isinstance(node, Mapping):
        raw = dict(node)
    else:
        return node
    own = raw.get("streaming") or {}
    if not isinstance(own, Mapping):
        return node
    raw["streaming"] = deep_merge(defaults, own)
    return raw


def _cross_node_issues(nodes: list[NodeConfig]) -> list[tuple[str | None, ConfigIssue]]:
    """What nodes share that they may not: the one rule of `streaming.collisions`."""
    return [(nodes[position].name, issue)
            for collision in collisions(nodes)
            for position, issue in collision.issues(lambda p: f"node '{nodes[p].name}' (nodes[{p}])")]


def _raw_format_issues(raw: Mapping[str, Any]) -> list[ConfigIssue]:
    """Unknown formats in a dict that did not validate, so they are reported with the rest."""
    issues = []
    for section, role in (("input", "source"), ("output", "sink")):
        part = raw.get(section)
        fmt = part.get("format") if isinstance(part, Mapping) else None
        if isinstance(fmt, str):
            known = formats.sources() if role == "source" else formats.sinks()
            if fmt not in known:
                issues.append(ConfigIssue(
                    f"{section}.format", f"unknown {section} format '{fmt}'",
                    expected=f"one of: {', '.join(known)}", found=fmt,
                    hint=did_you_mean(fmt, list(known)),
                ))
    return issues


def _pydantic_issues(exc: ValidationError) -> list[ConfigIssue]:
    """The streaming layer's one translation (`model_issues`), as ConfigIssues."""
    issues = []
    for issue in model_issues(exc, NodeConfig):
        message, expected = issue.message, issue.expected
        if (len(issue.path) == 2 and issue.path[0] == "transforms"
                and issue.code in ("schema.model_type", "schema.callable_type")):
            message = "a transform must be {sql: ...}, {python: module:function} or a callable"
            expected = "a mapping or a callable"
        issues.append(ConfigIssue(issue.field or "node", message, expected=expected,
                                  found=issue.found, hint=issue.hint))
    return issues


def _error(issues: list[ConfigIssue], node_name: str | None, operation: str,
           node_names: list[str | None] | None = None) -> StreamingValidationError:
    first = issues[0]
    format_issue = any(i.field in _FORMAT_FIELDS and i.message.startswith(("unknown", "format '"))
                       for i in issues)
    cls = StreamingFormatNotSupportedError if format_issue else StreamingValidationError
    if format_issue:
        first = next(i for i in issues if i.field in _FORMAT_FIELDS)
        if node_names:
            node_name = node_names[issues.index(first)]
    listed = [
        {"field": i.field, "message": i.message, "expected": i.expected, "found": i.found,
         "hint": i.hint, **({"node_name": node_names[n]} if node_names else {})}
        for n, i in enumerate(issues)
    ]
    where = f"node '{node_name}'" if node_name else "the streaming config"
    count = f" ({len(issues)} problems)" if len(issues) > 1 else ""
    message = f"{where} is invalid{count}: {first.field}: {first.message}"
    return cls(
        message,
        context=create_error_context(
            operation, "StreamingValidator", node_name=node_name, field=first.field,
            expected=first.expected, actual=first.found, details=first.message, issues=listed,
        ),
        hint=first.hint or "fix every listed issue, then validate again",
    )
