"""Pydantic validation errors as ConfigIssues: the one translation, for the library's
`StreamingValidator` and the compiler (which adds file and line to each issue).

One issue per field path: the path without pydantic's union-member tags, an `unknown field`
with the valid names and a did-you-mean, a `missing required field`, a wrong value with what
was expected and what was found (masked: a value under a secret-like key is ***, any other
value is masked before it is cut), a duration that does not parse with its own message.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming.durations import DurationError, parse_duration
from tauro_compile.streaming.formats import is_secret_key
from tauro_compile.streaming.secrets import MASK, shown_value

DURATION_FIELDS = {"interval": None, "delay": None, "backoff": 3600.0}


@dataclass(frozen=True)
class ModelIssue:
    """One field's problem: its path in the validated value and what to say about it."""

    path: tuple[str | int, ...]
    message: str
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    code: str = "schema"

    @property
    def field(self) -> str:
        return field_path_text(self.path)


def field_path_text(path: Sequence[str | int]) -> str:
    """`transforms[1].python` for ("transforms", 1, "python")."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def model_issues(exc: ValidationError, model: type[BaseModel], *,
                 secret_path: Sequence[str | int] = (),
                 secrets: tuple[str, ...] = ()) -> list[ModelIssue]:
    """One issue per field path that `exc` reports for `model`.

    `secret_path` is where the value sits in a larger document: a secret-like key there
    masks everything below it. `secrets` are values to mask wherever they appear.
    """
    issues = []
    tags = _union_tags(model)
    by_path: dict[tuple[str | int, ...], list[Any]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, int) or (
            part not in tags and "[" not in part))
        by_path.setdefault(loc, []).append(error)
    for loc, errors in by_path.items():
        error = errors[0]
        kind = error["type"]
        message = error["msg"].removeprefix("Value error, ")
        expected: str | None = None
        found: str | None = None
        hint: str | None = None
        path = loc
        if kind == "extra_forbidden":
            names = _field_names(model, loc[:-1])
            message = f"unknown field '{loc[-1]}'"
            expected = f"one of: {', '.join(sorted(names))}" if names else None
            found = str(loc[-1])
            hint = did_you_mean(str(loc[-1]), names)
        elif kind == "missing":
            message = f"missing required field '{loc[-1]}'"
            expected = f"`{loc[-1]}`"
            found = "nothing"
        else:
            secret = any(isinstance(p, str) and is_secret_key(p) for p in (*secret_path, *loc))
            found = MASK if secret else shown_value(error.get("input"), secrets)
            expected = " or ".join(dict.fromkeys(e for e in map(_expected, errors) if e)) or None
            if len(errors) > 1:
                message = "wrong type"
            duration = None if secret else _duration_problem(loc, error.get("input"), secrets)
            if duration is not None:
                path, message, expected, found = duration
        issues.append(ModelIssue(tuple(path), message, expected, found, hint,
                                 code=f"schema.{kind}"))
    return issues


_PRIMITIVE_TAGS = frozenset({"str", "int", "float", "bool", "callable", "none", "any"})


def _union_tags(model: type[BaseModel]) -> frozenset[str]:
    """Names pydantic adds to `loc` for union members: model class names and primitive types."""
    names: set[str] = set(_PRIMITIVE_TAGS)
    pending = [model]
    while pending:
        current = pending.pop()
        if current.__name__ in names:
            continue
        names.add(current.__name__)
        for info in current.model_fields.values():
            pending.extend(_models_in(info.annotation))
    return frozenset(names)


def _expected(error: Any) -> str | None:
    ctx = error.get("ctx") or {}
    if "expected" in ctx:
        return f"one of: {ctx['expected']}"
    kind = error["type"]
    for word in ("string", "int", "float", "bool", "dict", "list"):
        if kind.startswith(word):
            return {"dict": "a mapping", "list": "a list", "bool": "true or false",
                    "int": "an integer", "float": "a number", "string": "a string"}[word]
    return None


def _duration_problem(loc: tuple[str | int, ...], value: Any,
                      secrets: tuple[str, ...] = ()) -> tuple[Any, str, str, str] | None:
    """Structured details for an interval that did not parse (trigger, watermark, backoff)."""
    if loc and loc[-1] == "trigger" and isinstance(value, dict) and "interval" in value:
        loc, value = (*loc, "interval"), value["interval"]
    if not loc or loc[-1] not in DURATION_FIELDS:
        return None
    maximum = DURATION_FIELDS[str(loc[-1])]
    try:
        parse_duration(value, **({"maximum": maximum} if maximum else {}))
    except DurationError as exc:
        return loc, f"invalid interval: {exc}", exc.expected, shown_value(value, secrets)
    return None


def _field_names(model: type[BaseModel], loc: Sequence[str | int]) -> set[str]:
    """The field names (aliases where set) of the model reached by `loc` from `model`."""
    models = {model}
    for part in loc:
        if isinstance(part, int):
            continue
        following: set[type[BaseModel]] = set()
        for current in models:
            info = _field(current, part)
            if info is not None:
                following |= _models_in(info.annotation)
            else:  # a dict key: the dict's value type was already expanded
                following.add(current)
        models = following or models
    names: set[str] = set()
    for current in models:
        for name, info in current.model_fields.items():
            names.add(info.alias or name)
    return names


def _field(model: type[BaseModel], name: str) -> Any:
    for field_name, info in model.model_fields.items():
        if name in (field_name, info.alias):
            return info
    return None


def _models_in(annotation: Any) -> set[type[BaseModel]]:
    """Every BaseModel class inside an annotation (through Optional, unions, lists, dicts)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    origin = typing.get_origin(annotation)
    if origin is None:
        return set()
    args = typing.get_args(annotation)
    if origin is dict:
        args = args[1:]
    found: set[type[BaseModel]] = set()
    for arg in args:
        if arg is not type(None):
            found |= _models_in(arg)
    return found
