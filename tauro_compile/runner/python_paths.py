"""Make a project's Python modules (transforms, foreach_batch functions, strategies) importable.

`project_imports(plan)` is a context manager. Inside it, the project directories come first
on `sys.path` (the driver) and on `PYTHONPATH` (inherited by the Python workers of a Spark
started by this process); top-level modules of the same name that an earlier run in this
process imported from another project are set aside; the project's modules are registered
with cloudpickle to be pickled by value, so UDFs defined in them also work on a SparkSession
whose workers cannot import the project (tests, notebooks). On exit all of that is undone:
`sys.path`, `PYTHONPATH`, the project's entries in `sys.modules` and the pickle registrations
are as they were, and the modules set aside are back.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from tauro_compile.streaming.plan import RunPlan


@contextlib.contextmanager
def project_imports(plan: RunPlan) -> Iterator[None]:
    """The plan's python_paths importable first, for the driver and the workers (module doc)."""
    paths = [str(Path(p).resolve()) for p in plan.python_paths]
    saved_path = list(sys.path)
    saved_pythonpath = os.environ.get("PYTHONPATH")
    set_aside: dict[str, ModuleType] = {}
    pickled: list[ModuleType] = []
    for path in reversed(paths):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    existing = [p for p in (saved_pythonpath or "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + [p for p in existing if p not in paths])
    importlib.invalidate_caches()
    try:
        for name in project_modules(plan):
            set_aside.update(_set_aside_foreign_module(name, paths))
            try:
                module = importlib.import_module(name)
            except Exception:  # the node's start reports the import error with its node and field
                continue
            if _is_under(getattr(module, "__file__", None), paths) and _pickle_by_value(module):
                pickled.append(module)
        yield
    finally:
        for module in pickled:
            _unpickle_by_value(module)
        for name in [n for n, m in sys.modules.items()
                     if _is_under(getattr(m, "__file__", None), paths)]:
            del sys.modules[name]
        sys.modules.update(set_aside)
        sys.path[:] = [p for p in sys.path if p not in paths or p in saved_path]
        for path in reversed([p for p in saved_path if p in paths]):
            if path not in sys.path:
                sys.path.insert(saved_path.index(path), path)
        if saved_pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved_pythonpath
        importlib.invalidate_caches()


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


def _set_aside_foreign_module(name: str, paths: list[str]) -> dict[str, ModuleType]:
    """Remove `name` (and its submodules) from sys.modules if another project's; returns them."""
    module = sys.modules.get(name)
    if module is None:
        return {}
    file = getattr(module, "__file__", None)
    if file is None or _is_under(file, paths):
        return {}
    # Only modules that came from a directory (a previous project), never installed packages.
    if "site-packages" in str(file) or "dist-packages" in str(file):
        return {}
    return {m: sys.modules.pop(m) for m in list(sys.modules)
            if m == name or m.startswith(name + ".")}


def _pickle_by_value(module: ModuleType) -> bool:
    """Register `module` with cloudpickle; False when it already was (then not ours to undo)."""
    from pyspark import cloudpickle

    if module.__name__ in cloudpickle.list_registry_pickle_by_value():
        return False
    cloudpickle.register_pickle_by_value(module)
    return True


def _unpickle_by_value(module: ModuleType) -> None:
    from pyspark import cloudpickle

    with contextlib.suppress(ValueError):
        cloudpickle.unregister_pickle_by_value(module)


def package_project(plan: RunPlan, dest: Path) -> Path | None:
    """Zip the project's importable code (packages and top-level modules) for the executors.

    From every python path: each directory holding an `__init__.py` (with all its `.py`
    files, at any depth) and each top-level `*.py` module; never the target directory,
    hidden or cache directories. None when there is no Python code to ship.
    """
    import zipfile

    files: dict[str, Path] = {}
    skip = {Path(plan.target_dir).resolve()} if getattr(plan, "target_dir", None) else set()
    for root in (Path(p).resolve() for p in plan.python_paths):
        if not root.is_dir():
            continue
        for entry in sorted(root.iterdir()):
            if entry.name.startswith((".", "_")) or entry.resolve() in skip:
                continue
            if entry.is_file() and entry.suffix == ".py":
                files.setdefault(entry.name, entry)
            elif entry.is_dir() and (entry / "__init__.py").is_file():
                for source in sorted(entry.rglob("*.py")):
                    rel = source.relative_to(root)
                    if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
                        continue
                    files.setdefault(rel.as_posix(), source)
    if not files:
        return None
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(files.items()):
            archive.write(source, name)
    partial.replace(dest)
    return dest
