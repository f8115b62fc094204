"""Located, actionable Problems from the streaming layer's issues (file and line added)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from tauro_compile.errors import Problem
from tauro_compile.streaming.model_issues import field_path_text, model_issues

# (field path) -> (line, line_kind) in the file the values came from.
Locator = Callable[[Sequence[str | int]], tuple[int | None, str]]


def split_field(field: str) -> tuple[str | int, ...]:
    """The path of a ConfigIssue's dotted field; option keys (`kafka.bootstrap.servers`) stay whole."""
    parts = field.split(".")
    if "options" in parts:
        at = parts.index("options")
        if at + 1 < len(parts):
            return (*parts[: at + 1], ".".join(parts[at + 1:]))
    return tuple(parts)


def short(value: Any, limit: int = 80) -> str:
    """A value as shown in `found:`; long values are cut."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validation_problems(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    file: str,
    locate: Locator,
    prefix: Sequence[str | int] = (),
    field_prefix: Sequence[str | int] = (),
    node: str | None = None,
    secrets: tuple[str, ...] = (),
) -> list[Problem]:
    """The streaming layer's `model_issues`, each located in its file: the adapter that adds
    file and line (the translation itself, masking included, is the one the library uses).

    `prefix` is where the validated value sits in its file (for the line lookup);
    `field_prefix` is prepended to the field path shown to the user.
    """
    problems = []
    for issue in model_issues(exc, model, secret_path=prefix, secrets=secrets):
        line, line_kind = locate((*prefix, *issue.path))
        problems.append(Problem(
            issue.message, file=file, line=line, line_kind=line_kind,
            field=field_path_text((*field_prefix, *issue.path)),
            expected=issue.expected, found=issue.found, hint=issue.hint, code=issue.code,
            node=node,
        ))
    return problems
