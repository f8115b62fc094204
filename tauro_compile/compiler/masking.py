"""Fast masking of secrets in compiled data, with the same rules as `streaming.secrets`.

`streaming.secrets.mask_structure` checks every key against the marker list; a manifest
of 5000 nodes has a quarter of a million keys, but only a few dozen distinct ones, so the
verdict is cached per key, and strings without a placeholder or a known secret are
returned untouched without running a regex.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tauro_compile.streaming.formats import SECRET_KEY_MARKERS, is_secret_key
from tauro_compile.streaming.secrets import MASK, mask_text

secret_key = lru_cache(maxsize=4096)(is_secret_key)


def secret_values_in(value: Any, candidates: Any) -> set[str]:
    """The candidate values (env_var results) found anywhere under a secret-like key."""
    found: set[str] = set()
    wanted = [c for c in candidates if c]
    if not wanted:
        return found
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        current, secret = stack.pop()
        if isinstance(current, str):
            if secret:
                found.update(c for c in wanted if c in current)
        elif isinstance(current, dict):
            for key, item in current.items():
                stack.append((item, secret or (isinstance(key, str) and secret_key(key))))
        elif isinstance(current, list):
            stack.extend((item, secret) for item in current)
    return found


def secret_named_values(env_values: Mapping[str, str]) -> set[str]:
    """Values of environment variables whose *name* says secret (`KAFKA_PASSWORD`, ...)."""
    return {value for name, value in env_values.items() if value and is_secret_key(name)}


def mask_string(text: str, known_secrets: tuple[str, ...] = ()) -> str:
    """`mask_text`, skipped when `text` cannot contain anything to mask."""
    if "${secret:" in text or any(s and s in text for s in known_secrets):
        return mask_text(text, known_secrets)
    return text


def mask_structure(value: Any, known_secrets: tuple[str, ...] = ()) -> Any:
    """A copy of dicts/lists with values of secret-like keys, placeholders and secrets masked.

    Scalars are handled inline (no call per value): a manifest has hundreds of thousands.
    """
    kind = type(value)
    if kind is str:
        return mask_string(value, known_secrets)
    if kind is dict or isinstance(value, Mapping):
        masked = {}
        for key, item in value.items():
            item_kind = type(item)
            if item_kind is str:
                if type(key) is str and secret_key(key):
                    masked[key] = MASK
                elif "${" in item or (known_secrets and any(s in item for s in known_secrets)):
                    masked[key] = mask_text(item, known_secrets)
                else:
                    masked[key] = item
            elif item is None or item_kind is bool or item_kind is int or item_kind is float:
                masked[key] = MASK if item is not None and type(key) is str and secret_key(key) \
                    else item
            elif type(key) is str and secret_key(key):
                masked[key] = MASK  # a list or mapping under a secret key: all of it
            else:
                masked[key] = mask_structure(item, known_secrets)
        return masked
    if kind is list or kind is tuple:
        return [mask_structure(item, known_secrets) for item in value]
    if isinstance(value, str):
        return mask_string(value, known_secrets)
    return value


def has_secret_marker(text: str) -> bool:
    """True when `text` contains any secret-key marker (a cheap pre-check before regexes)."""
    lowered = text.lower()
    return any(marker in lowered for marker in SECRET_KEY_MARKERS)
