"""Semantic checks over resolved nodes: registry rules, collisions, watermarks, references.

Every check returns Problems (file, line, field, expected, found, hint) and never raises, so
one compile reports all of them at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tauro_compile.compiler.problems import split_field
from tauro_compile.compiler.references import ContractChecker, ReferenceChecker
from tauro_compile.compiler.resolve import ResolvedNode
from tauro_compile.errors import Problem
from tauro_compile.streaming.config import NodeConfig, check_node

# Columns a source produces whatever the user declares.
RATE_COLUMNS = frozenset({"timestamp", "value"})
KAFKA_METADATA_COLUMNS = frozenset(
    {"key", "value", "topic", "partition", "offset", "timestamp", "timestampType", "headers"}
)


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


def watermark_problems(node: ResolvedNode) -> list[Problem]:
    """The watermark column must be a column of the input when its schema is known."""
    inp = node.config.input
    if inp.watermark is None:
        return []
    columns = known_columns(node.config)
    if columns is None:
        return []
    column = inp.watermark.column.split(".", 1)[0].strip("`")
    if column in columns:
        return []
    return [node_problem(
        node, f"watermark column '{column}' is not a column of the input",
        ("input", "watermark", "column"), code="watermark_column",
        expected=f"one of: {', '.join(sorted(columns))}", found=column,
        hint="the watermark applies to the input as read, before any transform",
    )]


def known_columns(config: NodeConfig) -> set[str] | None:
    """The input's columns when the node declares them (file schema, kafka JSON schema, rate)."""
    inp = config.input
    if inp.format == "rate":
        return set(RATE_COLUMNS)
    if inp.format == "file_stream" and isinstance(inp.schema_, str):
        return ddl_columns(inp.schema_)
    if inp.format == "kafka" and inp.parse_json and isinstance(inp.json_schema, str):
        columns = ddl_columns(inp.json_schema)
        if columns is not None and inp.include_metadata:
            columns |= KAFKA_METADATA_COLUMNS
        return columns
    return None


def ddl_columns(ddl: str) -> set[str] | None:
    """Top-level column names of a Spark DDL schema (`a INT, b STRUCT<x: INT>`), None if unsure."""
    text = ddl.strip()
    if re.match(r"(?i)^struct\s*<", text) and text.endswith(">"):
        text = text[text.index("<") + 1:-1]
    columns: set[str] = set()
    depth = 0
    current = ""
    for char in text + ",":
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        if char == "," and depth == 0:
            item = current.strip()
            current = ""
            if not item:
                continue
            match = re.match(r"^(`[^`]+`|[^\s:]+)", item)
            if not match:
                return None
            columns.add(match.group(1).strip("`"))
        else:
            current += char
    return columns or None


def collision_problems(nodes: Iterable[ResolvedNode]) -> list[Problem]:
    """Two nodes sharing a checkpoint, an output or a query name: every one of them is named."""
    by_checkpoint: dict[str, list[ResolvedNode]] = {}
    by_output: dict[tuple[str, ...], list[ResolvedNode]] = {}
    by_query: dict[str, list[ResolvedNode]] = {}
    for node in nodes:
        streaming = node.config.streaming
        if streaming.checkpoint_location:
            by_checkpoint.setdefault(_location_key(streaming.checkpoint_location), []).append(node)
        key = output_key(node.config)
        if key is not None:
            by_output.setdefault(key, []).append(node)
        by_query.setdefault(node.config.query_name, []).append(node)
    problems: list[Problem] = []
    for location, group in by_checkpoint.items():
        problems += _shared(group, "checkpoint location", ("streaming", "checkpoint_location"),
                            location, "each node needs its own checkpoint; remove the explicit "
                            "checkpoint_location to get <checkpoints>/<node name>")
    for key, group in by_output.items():
        problems += _shared(group, "output", ("output",), " ".join(key),
                            "two streams writing one sink interleave and break exactly-once; "
                            "write to separate sinks and union downstream")
    for query, group in by_query.items():
        problems += _shared(group, "query name", ("streaming", "query_name"), query,
                            "Spark refuses two active queries with one name")
    return problems


def output_key(config: NodeConfig) -> tuple[str, ...] | None:
    """What identifies the sink a node writes to (None for sinks that cannot collide)."""
    out = config.output
    if out.table_name:
        return ("table", out.table_name.lower())
    if out.path:
        return ("path", _location_key(out.path))
    if out.format == "kafka" and "topic" in out.options:
        servers = str(out.options.get("kafka.bootstrap.servers", ""))
        return ("kafka topic", str(out.options["topic"]), "on", servers)
    return None


def _location_key(location: str) -> str:
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:/", location):
        return location.rstrip("/")
    return os.path.normpath(location)


def _shared(group: list[ResolvedNode], what: str, path: tuple[str, ...], value: str,
            hint: str) -> list[Problem]:
    if len(group) < 2:
        return []
    problems = []
    for node in group:
        others = [n for n in group if n is not node]
        listing = ", ".join(f"'{o.draft.name}' ({o.draft.file})" for o in others)
        problems.append(node_problem(
            node, f"{what} shared with {listing}", path, code=f"shared_{what.replace(' ', '_')}",
            found=value, expected=f"a {what} no other node uses", hint=hint,
        ))
    return problems


def reference_problems(node: ResolvedNode, checker: ReferenceChecker) -> list[Problem]:
    """Python references (transforms, foreach_batch function, contract strategy) importable."""
    config = node.config
    references: list[tuple[tuple[str | int, ...], str]] = []
    for index, transform in enumerate(config.transforms):
        python = getattr(transform, "python", None)
        if python:
            references.append((("transforms", index, "python"), python))
    if config.output.function:
        references.append((("output", "function"), config.output.function))
    if config.contract is not None and config.contract.strategy:
        references.append((("contract", "strategy"), config.contract.strategy))
    problems = []
    for path, reference in references:
        found = checker.problem(reference)
        if found is not None:
            message, hint = found
            problems.append(node_problem(
                node, message, path, code="unimportable", found=reference, hint=hint,
                expected="an importable 'module:function' (the project directory is on sys.path)",
            ))
    return problems


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
