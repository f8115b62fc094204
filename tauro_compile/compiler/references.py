"""Checks that `module:function` references and contract files exist, without running user code.

Transforms are checked statically: the module file is located on the project directory and
`sys.path` (packages walked as directories, so no package `__init__` runs), parsed with
`ast`, and the name looked up among its top-level definitions and imports. Importing
would run the user's module, which usually imports pyspark: `tauro compile` must not.
A module that defines `__getattr__` or uses `import *` is given the benefit of the doubt.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tauro_compile.compiler.yaml_source import YamlSyntaxError, load_yaml
from tauro_compile.errors import Problem, did_you_mean


@dataclass(frozen=True)
class _Module:
    path: Path | None           # None for compiled / builtin modules (names unknown)
    names: frozenset[str]
    dynamic: bool               # `import *` or a module `__getattr__`: any name may exist


class ReferenceChecker:
    """Answers "can `module:name` be imported?" for node files, caching per module."""

    def __init__(self, project_dir: Path) -> None:
        roots = [Path(project_dir)]
        roots += [Path(p or os.getcwd()) for p in sys.path if Path(p or ".").is_dir()]
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
        if module.dynamic or module.path is None or head in module.names:
            return None
        near = did_you_mean(head, module.names)
        where = _display(module.path, self.project_dir)
        return (
            f"module '{module_name}' ({where}) has no '{head}'",
            near or f"define `def {head}(df, ...)` in {where}",
        )

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
                if candidate.is_file():
                    return _parse(candidate)
            parent = base.parent
            if parent.is_dir() and any(
                f.startswith(parts[-1] + ".") and f.endswith((".so", ".pyd"))
                for f in os.listdir(parent)
            ):
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


def _parse(path: Path) -> _Module | None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return _Module(path, frozenset(), False)
    names: set[str] = set()
    dynamic = False
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        stmt = pending.pop()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
            dynamic = dynamic or stmt.name == "__getattr__"
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
    return _Module(path, frozenset(names), dynamic)


def _display(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class ContractChecker:
    """Validates contract files once each, through the contracts layer when it is available."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = Path(project_dir)
        self._results: dict[Path, list[Problem]] = {}

    def problems(self, path: Path) -> list[Problem]:
        """Problems of the contract at `path` (absolute); empty when it is valid."""
        if path not in self._results:
            self._results[path] = self._check(path)
        return self._results[path]

    def _check(self, path: Path) -> list[Problem]:
        shown = _display(path, self.project_dir)
        if not path.is_file():
            return [Problem(f"contract file {shown} does not exist", file=shown,
                            code="contract_missing")]
        try:
            from tauro_compile.contracts import ContractError, load_contract  # type: ignore[attr-defined]
        except ImportError:
            return _check_contract_yaml(path, shown)
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


def _check_contract_yaml(path: Path, shown: str) -> list[Problem]:
    """Fallback check when the contracts layer is absent: YAML with apiVersion and kind."""
    try:
        data: Any = load_yaml(path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        return [Problem(f"YAML syntax error: {exc.message}", file=shown, line=exc.line,
                        code="contract_invalid")]
    if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
        return [Problem(
            "not a data contract", file=shown, code="contract_invalid",
            expected="an ODCS document with `apiVersion` and `kind: DataContract`",
            found=type(data).__name__ if not isinstance(data, dict) else
            f"keys: {', '.join(map(str, list(data)[:6]))}",
        )]
    return []
