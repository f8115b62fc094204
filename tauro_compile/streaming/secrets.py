"""Secrets stay out of every artifact: placeholders at compile time, real values at query start.

`secret('kafka_password')` in a node file renders to the placeholder `${secret:kafka_password}`.
Only the streaming layer, just before it hands options to Spark, swaps placeholders for the
values of the environment variables of the same name. Anything printed, logged or written
goes through `mask_structure` / `mask_options` / `mask_text` first: this module is the one
masking rule (the compiler's artifacts use it too).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tauro_compile.streaming.formats import is_secret_key

MASK = "***"
_PLACEHOLDER = re.compile(r"\$\{secret:([A-Za-z_][A-Za-z0-9_.\-]*)\}")


class MissingSecretError(KeyError):
    """A secret placeholder names an environment variable that is not set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"secret '{self.name}' is not set (export the environment variable {self.name})"


def placeholder(name: str) -> str:
    """The text `secret(name)` renders to."""
    return "${secret:" + name + "}"


def has_placeholder(value: object) -> bool:
    return isinstance(value, str) and bool(_PLACEHOLDER.search(value))


def resolve_value(value: Any, env: Mapping[str, str] | None = None) -> Any:
    """Replace secret placeholders in a string with their values; other values pass through."""
    if not isinstance(value, str) or "${secret:" not in value:
        return value
    env = os.environ if env is None else env

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise MissingSecretError(name)
        return env[name]

    return _PLACEHOLDER.sub(sub, value)


def resolve_options(options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Options with every secret placeholder resolved (call only right before Spark uses them)."""
    return {k: resolve_value(v, env) for k, v in options.items()}


def mask_options(options: Mapping[str, Any], known_secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Options safe to show: secret-like keys, placeholders and known secret values masked."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if is_secret_key(key) or has_placeholder(value):
            out[key] = MASK
        elif isinstance(value, str):
            out[key] = mask_text(value, known_secrets)
        else:
            out[key] = value
    return out


# `password="x"`, `token=x;` inside a longer text (a JAAS config, a connection string).
_INLINE_CREDENTIAL = re.compile(
    r"(?i)((?:password|passwd|secret|token|api[_.\-]?key|access[_.\-]?key)\s*=\s*)"
    r"(\"[^\"]*\"?|'[^']*'?|[^\s;,}\]'\"]+)"
)
# A part of every word `_INLINE_CREDENTIAL` starts with (keep them in step): "pass" of
# password/passwd, "key" of api-key/access-key.
_CREDENTIAL_WORDS = ("pass", "secret", "token", "key")


def _may_hold_credential(text: str) -> bool:
    """False only when `_INLINE_CREDENTIAL` cannot match `text`: none of its words is in it.

    Exact, not a heuristic: every character that the pattern's IGNORECASE matches to a
    letter of these words case-folds to that very letter (tests/unit/streaming check all
    of Unicode), and `str.casefold` maps each character on its own, so a text holding a
    match holds the word once folded. The regex scan it saves is slow (no literal prefix,
    case-insensitive): 0.11 s of a 1000-node compile, whose SQL all holds `=`.
    """
    folded = text.casefold()
    return any(word in folded for word in _CREDENTIAL_WORDS)


def mask_text(text: str, known_secrets: tuple[str, ...] = ()) -> str:
    """`text` with placeholders, `password=...`-style credentials and `known_secrets` masked.

    Each step runs only when its cheap substring test says it can match: a manifest has
    hundreds of thousands of strings and almost none holds a secret.
    """
    if "${secret:" in text:
        text = _PLACEHOLDER.sub(MASK, text)
    for secret in known_secrets:
        if secret and len(secret) >= 3 and secret in text:
            text = text.replace(secret, MASK)
    if "=" in text and _may_hold_credential(text):
        text = _INLINE_CREDENTIAL.sub(lambda m: m.group(1) + MASK, text)
    return text


def shown_value(value: Any, known_secrets: tuple[str, ...] = (), limit: int = 80) -> str:
    """A value as an error message shows it: masked first (by key and by value), then cut."""
    if isinstance(value, Mapping | list | tuple):
        text = repr(mask_structure(value, known_secrets))
    else:
        text = value if isinstance(value, str) else repr(value)
    text = mask_text(text, known_secrets)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mask_structure(value: Any, known_secrets: tuple[str, ...] = ()) -> Any:
    """A copy of dicts/lists with secrets masked: everything under a secret-like key (a list or
    a mapping whole; None stays None, it holds nothing), and in every string the placeholders,
    inline credentials and known secret values (`mask_text`).

    The one masking rule of every output, log, error and artifact. Scalars are handled inline
    (no call per value) and the key verdict is cached: a manifest has hundreds of thousands
    of values but a few dozen distinct keys.
    """
    kind = type(value)
    if kind is str:
        return mask_text(value, known_secrets)
    if kind is dict or isinstance(value, Mapping):
        masked = {}
        for key, item in value.items():
            if type(key) is str and _secret_key(key):
                masked[key] = None if item is None else MASK
                continue
            item_kind = type(item)
            if item_kind is str:
                masked[key] = mask_text(item, known_secrets) if (
                    "${" in item or "=" in item or known_secrets) else item
            elif item is None or item_kind is bool or item_kind is int or item_kind is float:
                masked[key] = item
            else:
                masked[key] = mask_structure(item, known_secrets)
        return masked
    if kind is list or kind is tuple or isinstance(value, list | tuple):
        return [mask_structure(item, known_secrets) for item in value]
    if isinstance(value, str):
        return mask_text(value, known_secrets)
    return value


_secret_key = lru_cache(maxsize=4096)(is_secret_key)
