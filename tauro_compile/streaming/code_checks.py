"""What a node's code needs, checked without running it: the one rule for the compiler and
the library's `StreamingValidator`.

`module:function` references (python transforms, a foreach_batch function, a contract
strategy) must be importable, a contract file must exist and be a valid contract, and a
watermark must name a column of the input when the input declares its columns. The compiler
adds file and line to each finding; the library lists them in its error.

Transforms are checked statically: the module file is located on the project directory and
`sys.path` (packages walked as directories, so no package `__init__` runs), parsed with
`ast`, and the name looked up among its top-level definitions and imports. Importing
would run the user's module, which usually imports pyspark: `tauro compile` must not.
A module that defines `__getattr__` or uses `import *` is given the benefit of the doubt.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tauro_compile.errors import Problem, did_you_mean
from tauro_compile.streaming.config import ConfigIssue, NodeConfig
from tauro_compile.streaming.model_issues import field_path_text
from tauro_compile.streaming.probes import FileProbes


@dataclass(frozen=True)
class _Module:
    path: Path | None           # None for compiled / builtin modules (names unknown)
    names: frozenset[str]
    dynamic: bool               # `import *` or a module `__getattr__`: any name may exist
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)
    broken: bool = False        # not parsable: reported once on the module's own file
    imports: tuple[tuple[str, int, int], ...] = ()   # (absolute module, line, level) at top


@dataclass(frozen=True)
class Signature:
    """How a function read from source can be called (no code of the user's is run)."""

    positional: tuple[str, ...]      # positional parameters, in order
    keyword: frozenset[str]          # names a keyword argument may use
    required: tuple[str, ...]        # parameters with no default
    var_positional: bool
    var_keyword: bool


class ReferenceChecker:
    """Answers "can `module:name` be imported?" for node files, caching per module."""

    def __init__(self, project_dir: Path, probes: FileProbes | None = None) -> None:
        self.probes = probes = FileProbes() if probes is None else probes
        roots = [Path(project_dir)]
        roots += [Path(p or os.getcwd()) for p in sys.path if probes.is_dir(p or os.getcwd())]
        self.roots = list(dict.fromkeys(roots))
        self.project_dir = Path(project_dir)
        self._modules: dict[str, _Module | None] = {}

    def problem(self, reference: str) -> tuple[str, str | None] | None:
        """(message, hint) when `reference` cannot be imported; None when it can."""
        module_name, _, attribute = reference.partition(":")
        if not module_name or not attribute:
            return f"'{reference}' is not 'module:function'", "e.g. transforms.events:deduplicate"
        module = self._module(module_name)
        if module is None:
            return (
                f"module '{module_name}' of '{reference}' cannot be found",
                self._module_hint(module_name),
            )
        head = attribute.split(".", 1)[0]
        if module.dynamic or module.path is None or module.broken or head in module.names:
            return None
        near = did_you_mean(head, module.names)
        where = _display(module.path, self.project_dir)
        return (
            f"module '{module_name}' ({where}) has no '{head}'",
            near or f"define `def {head}(df, ...)` in {where}",
        )

    def module_problems(self, reference: str) -> list[Problem]:
        """Problems of the module `reference` names, on the module's file (syntax, imports)."""
        module_name = reference.partition(":")[0]
        module = self._module(module_name) if module_name else None
        if module is None or module.path is None:
            return []
        shown = _display(module.path, self.project_dir)
        if module.broken:
            return [_syntax_problem(module.path, shown)]
        problems = []
        for imported, line, level in module.imports:
            if not self._importable(imported, module.path, level):
                top = imported.split(".")[0]
                problems.append(Problem(
                    f"{shown} imports '{imported}', which is not installed", file=shown,
                    line=line, code="missing_import", found=f"import {imported}",
                    expected="a module installed where tauro runs, or one of the project",
                    hint=f"install the package that provides '{top}' in the environment that "
                    "runs tauro (and on the cluster), or remove the import",
                ))
        return problems

    def signature(self, reference: str) -> Signature | None:
        """The signature of a plain `def` named by `reference` (None when unsure)."""
        module_name, _, attribute = reference.partition(":")
        module = self._module(module_name) if module_name else None
        if module is None or module.broken or "." in attribute:
            return None
        func = module.functions.get(attribute)
        if func is None or func.decorator_list:
            return None
        args = func.args
        ordered = [*args.posonlyargs, *args.args]
        defaults = len(args.defaults)
        required = [a.arg for a in ordered[: len(ordered) - defaults]]
        required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                     if d is None]
        return Signature(
            positional=tuple(a.arg for a in ordered),
            keyword=frozenset(a.arg for a in [*args.args, *args.kwonlyargs]),
            required=tuple(required), var_positional=args.vararg is not None,
            var_keyword=args.kwarg is not None,
        )

    def _importable(self, dotted: str, importer: Path, level: int) -> bool:
        if level:
            base = importer.parent
            for _ in range(level - 1):
                base = base.parent
            target = base.joinpath(*dotted.split(".")) if dotted else base
            probes = self.probes
            return (probes.is_file(target.with_suffix(".py"))
                    or probes.is_file(target / "__init__.py") or probes.is_dir(target))
        if self._locate(dotted) is not None:
            return True
        top = dotted.split(".")[0]
        if self._locate(top) is not None:
            return True  # a package of the project or on sys.path: its submodules are its own
        return self.probes.find_spec(top)  # a top-level name only: nothing is imported

    def _module(self, dotted: str) -> _Module | None:
        if dotted not in self._modules:
            self._modules[dotted] = self._locate(dotted)
        return self._modules[dotted]

    def _locate(self, dotted: str) -> _Module | None:
        if dotted in sys.builtin_module_names:
            return _Module(None, frozenset(), True)
        parts = dotted.split(".")
        for root in self.roots:
            base = root.joinpath(*parts)
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if self.probes.is_file(candidate):
                    self.probes.content(candidate)
                    return _parse(candidate)
            if any(f.startswith(parts[-1] + ".") and f.endswith((".so", ".pyd"))
                   for f in self.probes.listdir(base.parent)):
                return _Module(None, frozenset(), True)
        return None

    def _module_hint(self, dotted: str) -> str | None:
        """`did you mean` among the modules next to where `dotted` would be in the project."""
        parts = dotted.split(".")
        folder = self.project_dir.joinpath(*parts[:-1])
        if not folder.is_dir():
            return f"create {'/'.join(parts)}.py in the project"
        names = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        near = did_you_mean(parts[-1], names)
        prefix = ".".join(parts[:-1])
        return (near.replace("'", f"'{prefix}.", 1) if near and prefix else near) or (
            f"create {'/'.join(parts)}.py in the project"
        )


def _syntax_problem(path: Path, shown: str) -> Problem:
    """The Python syntax (or encoding) error of a module, at its own file and line."""
    try:
        ast.parse(path.read_bytes(), filename=shown)
    except SyntaxError as exc:
        column = f", column {exc.offset}" if exc.offset else ""
        return Problem(
            f"Python syntax error in {shown}: {exc.msg}", file=shown, line=exc.lineno,
            code="python_syntax", found=(exc.text or "").strip()[:80] or None,
            expected=f"valid Python{column}",
            hint="fix the module; nodes using it cannot run until it parses",
        )
    except (ValueError, OSError) as exc:
        return Problem(f"cannot read {shown}: {exc}", file=shown, code="python_syntax",
                       hint="save the module as UTF-8 Python source")
    return Problem(f"cannot read {shown}", file=shown, code="python_syntax")


def _top_level_imports(tree: ast.Module) -> tuple[tuple[str, int, int], ...]:
    """Imports that run when the module loads (guarded ones, in `try` or `if`, are left out)."""
    found = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            found += [(alias.name, stmt.lineno, 0) for alias in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and (stmt.module or stmt.level):
            if stmt.module == "__future__":
                continue
            found.append((stmt.module or "", stmt.lineno, stmt.level))
    return tuple(found)


def _parse(path: Path) -> _Module | None:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return _Module(path, frozenset(), False, broken=True)
    names: set[str] = set()
    dynamic = False
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
            dynamic = dynamic or stmt.name == "__getattr__"
            if not isinstance(stmt, ast.ClassDef):
                functions[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            names.update(n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(stmt, ast.AnnAssign | ast.AugAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
        elif isinstance(stmt, ast.Import | ast.ImportFrom):
            for alias in stmt.names:
                if alias.name == "*":
                    dynamic = True
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(stmt, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                pending.extend(getattr(stmt, block, []))
            for handler in getattr(stmt, "handlers", []):
                pending.extend(handler.body)
    return _Module(path, frozenset(names), dynamic, functions,
                   imports=_top_level_imports(tree))


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class ContractChecker:
    """Validates contract files once each, through the contracts layer."""

    def __init__(self, project_dir: Path, probes: FileProbes | None = None) -> None:
        self.project_dir = Path(project_dir)
        self.probes = FileProbes() if probes is None else probes
        self._results: dict[Path, list[Problem]] = {}

    def problems(self, path: Path) -> list[Problem]:
        """Problems of the contract at `path` (absolute); empty when it is valid."""
        if path not in self._results:
            self._results[path] = self._check(path)
        return self._results[path]

    def _check(self, path: Path) -> list[Problem]:
        shown = _display(path, self.project_dir)
        if not self.probes.is_file(path):
            return [Problem(f"contract file {shown} does not exist", file=shown,
                            code="contract_missing")]
        self.probes.content(path)
        from tauro_compile.contracts import ContractError, load_contract

        try:
            load_contract(path)
        except ContractError as exc:
            found = list(getattr(exc, "problems", []) or [])
            if not found:
                return [Problem(f"invalid contract: {exc}", file=shown, code="contract_invalid")]
            return [_with_file(p, _display(Path(p.file), self.project_dir) if p.file else shown)
                    for p in found]
        except Exception as exc:  # noqa: BLE001 - a broken contract must not crash compile
            return [Problem(f"invalid contract: {type(exc).__name__}: {exc}", file=shown,
                            code="contract_invalid")]
        return []


def _with_file(problem: Problem, file: str) -> Problem:
    from dataclasses import replace

    return replace(problem, file=file)


# Columns a source produces whatever the user declares.
RATE_COLUMNS = frozenset({"timestamp", "value"})
KAFKA_METADATA_COLUMNS = frozenset(
    {"key", "value", "topic", "partition", "offset", "timestamp", "timestampType", "headers"}
)


def references(config: NodeConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """The node's `module:function` references with the path of the field naming each."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for index, transform in enumerate(config.transforms):
        python = getattr(transform, "python", None)
        if python:
            found.append((("transforms", index, "python"), python))
    if config.output.function:
        found.append((("output", "function"), config.output.function))
    if config.contract is not None and config.contract.strategy:
        found.append((("contract", "strategy"), config.contract.strategy))
    return found


def reference_issue(checker: ReferenceChecker, path: tuple[str | int, ...],
                    reference: str) -> ConfigIssue | None:
    """The issue of one reference that cannot be imported, else None."""
    found = checker.problem(reference)
    if found is None:
        return None
    message, hint = found
    return ConfigIssue(field_path_text(path), message, found=reference, hint=hint,
                       expected="an importable 'module:function' (the project directory is on "
                                "sys.path)")


def contract_issue(checker: ContractChecker, config: NodeConfig) -> ConfigIssue | None:
    """The contract file of the node, missing or invalid, as one issue (its first problem)."""
    if config.contract is None:
        return None
    path = Path(config.contract.path)
    if not path.is_absolute():
        path = checker.project_dir / path
    problems = checker.problems(path)
    if not problems:
        return None
    first = problems[0]
    return ConfigIssue("contract.path", f"contract {first.file or config.contract.path} is not "
                       f"usable: {first.message}", expected=first.expected, found=first.found,
                       hint=first.hint or "fix the contract file")


def watermark_issue(config: NodeConfig) -> ConfigIssue | None:
    """The watermark column must be a column of the input when its schema is known."""
    inp = config.input
    if inp.watermark is None:
        return None
    columns = known_columns(config)
    column = inp.watermark.column.split(".", 1)[0].strip("`")
    if columns is None or column in columns:
        return None
    return ConfigIssue("input.watermark.column",
                       f"watermark column '{column}' is not a column of the input",
                       expected=f"one of: {', '.join(sorted(columns))}", found=column,
                       hint="the watermark applies to the input as read, before any transform")


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


def node_code_issues(config: NodeConfig, references_checker: ReferenceChecker,
                     contracts: ContractChecker) -> list[ConfigIssue]:
    """Every code and contract rule above for one node (the library validator's use)."""
    issues = [i for i in (watermark_issue(config), contract_issue(contracts, config)) if i]
    for path, reference in references(config):
        issue = reference_issue(references_checker, path, reference)
        if issue is not None:
            issues.append(issue)
    return issues
