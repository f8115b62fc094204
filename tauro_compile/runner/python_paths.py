"""Make a project's Python modules (transforms, foreach_batch functions, strategies) importable.

The project directories go first on `sys.path` (the driver) and on `PYTHONPATH` (inherited
by the Python workers of a Spark started by this process). Top-level project modules that
an earlier run in the same process imported from another project are forgotten, and the
project's modules are registered with cloudpickle to be pickled by value, so UDFs defined in
them also work on a SparkSession whose workers cannot import the project (tests, notebooks).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from pathlib import Path
from typing import Any

from tauro_compile.runner.plan import RunPlan


def prepare_python_paths(plan: RunPlan) -> None:
    """Put the plan's python_paths first for the driver and the workers (see module doc)."""
    paths = [str(Path(p).resolve()) for p in plan.python_paths]
    for path in reversed(paths):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    existing = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in existing if p not in paths])
    importlib.invalidate_caches()
    for name in project_modules(plan):
        _forget_foreign_module(name, paths)
        try:
            module = importlib.import_module(name)
        except Exception:  # the node's start reports the import error with its node and field
            continue
        if _is_under(getattr(module, "__file__", None), paths):
            _pickle_by_value(module)


def project_modules(plan: RunPlan) -> list[str]:
    """Top-level module names of every `module:function` reference in the plan."""
    refs: list[str] = []
    for node in plan.nodes:
        cfg = node.config
        refs += [t.python for t in cfg.transforms if getattr(t, "python", None)]
        if cfg.output.function:
            refs.append(cfg.output.function)
        if cfg.contract is not None and cfg.contract.strategy:
            refs.append(cfg.contract.strategy)
    names: list[str] = []
    for ref in refs:
        top = ref.partition(":")[0].split(".")[0]
        if top and top not in names:
            names.append(top)
    return names


def _is_under(file: str | None, paths: list[str]) -> bool:
    if not file:
        return False
    resolved = str(Path(file).resolve())
    return any(resolved.startswith(p.rstrip(os.sep) + os.sep) for p in paths)


def _forget_foreign_module(name: str, paths: list[str]) -> None:
    module = sys.modules.get(name)
    if module is None:
        return
    file = getattr(module, "__file__", None)
    if file is None or _is_under(file, paths):
        return
    # Only modules that came from a directory (a previous project), never installed packages.
    if "site-packages" in str(file) or "dist-packages" in str(file):
        return
    for m in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[m]


def _pickle_by_value(module: Any) -> None:
    from pyspark import cloudpickle

    with contextlib.suppress(ValueError):  # already registered
        cloudpickle.register_pickle_by_value(module)
