"""Semantic checks over resolved nodes: registry rules, collisions, watermarks, references.

Every check returns Problems (file, line, field, expected, found, hint) and never raises, so
one compile reports all of them at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tauro_compile.compiler.problems import split_field
from tauro_compile.compiler.resolve import NodeDraft, ResolvedNode
from tauro_compile.errors import Problem, did_you_mean
from tauro_compile.streaming.code_checks import (
    ContractChecker,
    ReferenceChecker,
    Signature,
    reference_issue,
    references,
    watermark_issue,
)
from tauro_compile.streaming.collisions import collisions
from tauro_compile.streaming.config import check_node
from tauro_compile.streaming.config import option_warnings as _option_warnings


def node_problem(node: ResolvedNode, message: str, path: tuple[str | int, ...] | None,
                 **kw: Any) -> Problem:
    """A Problem located at `path` of the node's file (or at the node's start)."""
    draft = node.draft
    line, kind = draft.locate(path) if path else (draft.line, "source")
    field = ".".join(map(str, path)) if path else None
    return Problem(message, file=draft.file, line=line, line_kind=kind, field=field,
                   node=draft.name, **kw)


def registry_problems(node: ResolvedNode) -> list[Problem]:
    """`streaming.config.check_node` issues, located in the node file."""
    return [
        node_problem(node, issue.message, split_field(issue.field), expected=issue.expected,
                     found=issue.found, hint=issue.hint, code="config")
        for issue in check_node(node.config)
    ]


INPUT_PLACEHOLDER = re.compile(r"\{\{\s*input\s*\}\}")
INPUT_HINT = ("`{{ input }}` stands for the stream a sql step receives; it means nothing "
              "anywhere else")


def placeholder_problems(draft: NodeDraft) -> list[Problem]:
    """`{{ input }}` only inside a sql step, and every sql step reads `{{ input }}`."""
    problems: list[Problem] = []

    def add(message: str, path: tuple[str | int, ...], **kw: Any) -> None:
        line, kind = draft.locate(path)
        problems.append(Problem(message, file=draft.file, line=line, line_kind=kind,
                                field=".".join(map(str, path)), node=draft.name, **kw))

    transforms = draft.raw.get("transforms")
    sql_paths: set[tuple[str | int, ...]] = set()
    if isinstance(transforms, list):
        for index, step in enumerate(transforms):
            if isinstance(step, dict) and isinstance(step.get("sql"), str):
                sql_paths.add(("transforms", index, "sql"))
                if not INPUT_PLACEHOLDER.search(step["sql"]):
                    add(f"sql step {index} never reads {{{{ input }}}}",
                        ("transforms", index, "sql"), code="sql_without_input",
                        expected="a statement reading the stream, e.g. "
                        "SELECT ... FROM {{ input }}", found="no {{ input }}",
                        hint="a sql step transforms the stream it receives, which it reads "
                        "as {{ input }}; a table read any other way is not that stream")
    for path in _input_paths(draft.raw, (), []):
        if path not in sql_paths:
            add("{{ input }} is only meaningful in a sql transform", path,
                code="input_outside_sql", found="{{ input }}", expected="{{ input }} only in `transforms[].sql`",
                hint=INPUT_HINT)
    return problems


def _input_paths(value: Any, path: tuple[str | int, ...],
                 found: list[tuple[str | int, ...]]) -> list[tuple[str | int, ...]]:
    """Paths of the strings inside `value` that hold `{{ input }}`, in document order.

    `strings_of` with the placeholder test inlined: run on every node, it builds a path only
    for the few strings that match.
    """
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        kind = type(item)
        if kind is str:
            if "input" in item and INPUT_PLACEHOLDER.search(item):
                found.append((*path, key))
        elif isinstance(item, dict | list):
            _input_paths(item, (*path, key), found)
    return found


def strings_of(value: Any, path: tuple[str | int, ...]) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """(path, text) of every string inside `value`."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_of(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings_of(item, (*path, index))


def option_warnings(node: ResolvedNode) -> list[Problem]:
    """Did-you-mean warnings for option names Spark would silently ignore."""
    return [node_problem(node, issue.message, split_field(issue.field), found=issue.found,
                         hint=issue.hint, code="unknown_option")
            for issue in _option_warnings(node.config)]


def watermark_problems(node: ResolvedNode) -> list[Problem]:
    """The watermark column must be a column of the input when its schema is known."""
    issue = watermark_issue(node.config)
    if issue is None:
        return []
    return [node_problem(node, issue.message, split_field(issue.field), code="watermark_column",
                         expected=issue.expected, found=issue.found, hint=issue.hint)]


def collision_problems(nodes: Iterable[ResolvedNode]) -> list[Problem]:
    """Two nodes sharing a checkpoint, an output or a query name: every one of them is named.

    The rule is the streaming layer's (`streaming.collisions`, shared with the library's
    validator); this adds each node's file and line.
    """
    nodes = list(nodes)

    def label(position: int) -> str:
        draft = nodes[position].draft
        return f"'{draft.name}' ({draft.file})"

    problems = []
    for collision in collisions([node.config for node in nodes], names=False):
        for position, issue in collision.issues(label):
            problems.append(node_problem(
                nodes[position], issue.message, split_field(issue.field), found=issue.found,
                expected=issue.expected, hint=issue.hint,
                code=f"shared_{collision.what.replace(' ', '_')}"))
    return problems


def reference_problems(node: ResolvedNode, checker: ReferenceChecker) -> list[Problem]:
    """Python references (transforms, foreach_batch function, contract strategy) importable."""
    config = node.config
    problems = []
    for path, reference in references(config):
        problems += checker.module_problems(reference)
        issue = reference_issue(checker, path, reference)
        if issue is not None:
            problems.append(node_problem(node, issue.message, path, code="unimportable",
                                         found=issue.found, hint=issue.hint,
                                         expected=issue.expected))
            continue
        if path[0] == "transforms":
            step = config.transforms[int(path[1])]
            problems += _argument_problems(node, checker.signature(reference), reference,
                                           dict(getattr(step, "args", {}) or {}), path[:2])
        elif path == ("output", "function"):
            problems += _batch_function_problems(node, checker.signature(reference), reference)
    return problems


def _argument_problems(node: ResolvedNode, signature: Signature | None, reference: str,
                       args: dict[str, Any], step: tuple[str | int, ...]) -> list[Problem]:
    """`args` of a python step against the function's signature: called fn(df, **args)."""
    if signature is None:
        return []
    problems = []
    if not signature.positional and not signature.var_positional:
        return [node_problem(
            node, f"{reference} takes no DataFrame: it is called as function(df, **args)",
            (*step, "python"), code="transform_signature", found="no positional parameter",
            expected="a first parameter for the DataFrame", hint="add `df` as first parameter",
        )]
    injected = {"spark"} if "spark" in signature.keyword else set()
    accepted = (set(signature.keyword) - set(signature.positional[:1])) | injected
    for name in args:
        if signature.var_keyword or name in accepted - injected:
            continue
        offered = sorted(accepted - injected)
        problems.append(node_problem(
            node, f"{reference} takes no argument '{name}'", (*step, "args", name),
            code="transform_args", found=name,
            expected=f"one of: {', '.join(offered)}" if offered else "no args",
            hint=did_you_mean(name, offered) or "remove it, or add the parameter to the function",
        ))
    first = signature.positional[:1]
    missing = [p for p in signature.required
               if p not in first and p not in args and p not in injected]
    for name in missing:
        problems.append(node_problem(
            node, f"{reference} needs argument '{name}'", (*step, "args"),
            code="transform_args", found="nothing", expected=f"`{name}` in args",
            hint=f"add `args: {{{name}: ...}}` to the step, or give '{name}' a default",
        ))
    return problems


def _batch_function_problems(node: ResolvedNode, signature: Signature | None,
                             reference: str) -> list[Problem]:
    """A foreach_batch function is called as function(batch_df, batch_id)."""
    if signature is None:
        return []
    takes_two = signature.var_positional or len(signature.positional) >= 2
    extra = [p for p in signature.required if p not in signature.positional[:2]]
    if takes_two and not extra:
        return []
    problem = (f"{reference} is called as function(batch_df, batch_id), but takes "
               f"{len(signature.positional)} positional parameter(s)" if not takes_two else
               f"{reference} is called with (batch_df, batch_id) only, but requires "
               f"{', '.join(extra)}")
    return [node_problem(node, problem, ("output", "function"), code="function_signature",
                         found=", ".join(signature.positional) or "no parameters",
                         expected="def function(batch_df, batch_id)",
                         hint="define it as `def name(batch_df, batch_id):`")]


def contract_problems(node: ResolvedNode, checker: ContractChecker) -> list[Problem]:
    """The node's contract file exists and is a valid contract."""
    contract = node.config.contract
    if contract is None:
        return []
    found = checker.problems(Path(contract.path))
    if not found:
        return []
    first = found[0]
    summary = node_problem(
        node, f"contract {first.file or contract.path} is not usable: {first.message}",
        ("contract",),
        code=first.code, hint=first.hint or "fix the contract file (problems listed with it)",
        expected=first.expected, found=first.found,
    )
    return [summary, *found[1:]] if first.file == summary.file else [summary, *found]


def connect_problems(nodes: dict[str, ResolvedNode], profile_name: str) -> list[Problem]:
    """What a `remote` (Spark Connect) profile cannot run, per node and feature.

    - `streaming.pool`: a query's scheduler pool is a property of the starting thread of the
      driver (`SparkContext.setLocalProperty`), which a Connect client has no access to;
    - a continuous node reading a parquet/json output of another node: the runner creates the
      upstream's directory before the downstream starts, which needs the driver's JVM.
    """
    where = f"over Spark Connect (profile '{profile_name}' has spark.remote)"
    problems: list[Problem] = []
    for node in nodes.values():
        cfg = node.config
        if cfg.streaming.pool is not None:
            problems.append(node_problem(
                node, f"node '{node.draft.name}': scheduler pools cannot be chosen {where}",
                ("streaming", "pool"), expected="no streaming.pool", found=cfg.streaming.pool,
                code="connect_unsupported",
                hint="remove streaming.pool (the Connect server's own pools apply), or run "
                     "this profile with spark.master"))
        if cfg.streaming.trigger.bounded:
            continue
        for upstream in node.depends_on:
            up = nodes.get(upstream)
            if up is not None and up.config.output.format in ("parquet", "json"):
                problems.append(node_problem(
                    node, f"node '{node.draft.name}': a continuous node cannot read the "
                    f"{up.config.output.format} output of '{upstream}' {where}",
                    ("input",), expected="a delta or kafka output upstream, or a bounded "
                    "trigger", found=f"{up.config.output.format} output of '{upstream}'",
                    code="connect_unsupported",
                    hint=f"write '{upstream}' as delta, or give this node a bounded trigger "
                         "(available_now), which starts once the upstream has finished"))
    return problems
