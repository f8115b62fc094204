"""Import `module:function` references (python transforms, foreach_batch functions, stages).

Modules are searched on `sys.path`; the runner puts the project directory there first, so
`transforms.events:deduplicate` finds `<project>/transforms/events.py`.
"""

from __future__ import annotations

import importlib
from typing import Any

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming.exceptions import StreamingValidationError, create_error_context


def load_reference(ref: str, *, node_name: str, field: str) -> Any:
    """The callable a `module:function` (or `module:Class.attr`) reference names."""
    module_name, sep, attr_path = ref.partition(":")
    if not sep or not module_name or not attr_path:
        raise _error(f"'{ref}' is not a 'module:function' reference", ref, node_name, field,
                     "e.g. 'transforms.events:deduplicate'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise _error(f"module '{module_name}' of '{ref}' was not found", ref, node_name, field,
                         "the module must be importable: run from the project directory (its "
                         "directory goes on sys.path) or install the package") from exc
        raise _error(f"importing module '{module_name}' of '{ref}' failed: {exc}", ref, node_name,
                     field, "the module itself imports something that is missing") from exc
    except Exception as exc:
        raise _error(f"importing module '{module_name}' of '{ref}' failed: "
                     f"{type(exc).__name__}: {exc}", ref, node_name, field,
                     "fix the error in the module") from exc
    target: Any = module
    for part in attr_path.split("."):
        if not hasattr(target, part):
            names = [n for n in dir(target) if not n.startswith("_")]
            raise _error(f"'{module_name}' has no attribute '{attr_path}' (from '{ref}')", ref,
                         node_name, field, did_you_mean(part, names)
                         or f"defined there: {', '.join(names[:15]) or 'nothing public'}")
        target = getattr(target, part)
    if not callable(target):
        raise _error(f"'{ref}' is a {type(target).__name__}, not a function", ref, node_name,
                     field, "point the reference at a function")
    return target


def _error(message: str, ref: str, node_name: str, field: str, hint: str | None) -> StreamingValidationError:
    return StreamingValidationError(
        f"node '{node_name}': {message}",
        context=create_error_context("load_reference", "references", node_name=node_name,
                                     field=field, expected="an importable module:function",
                                     actual=ref),
        hint=hint,
    )
