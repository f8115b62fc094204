"""What the compiler knows about secrets: which rendered values are secrets.

Masking itself is the streaming layer's one rule (`streaming.secrets.mask_structure` and
`mask_text`); this finds the `env_var()` values that must be masked with it: those landing
under a secret-like key and those of variables whose name says secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from tauro_compile.streaming.formats import SECRET_KEY_MARKERS, is_secret_key

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


def has_secret_marker(text: str) -> bool:
    """True when `text` contains any secret-key marker (a cheap pre-check before regexes)."""
    lowered = text.lower()
    return any(marker in lowered for marker in SECRET_KEY_MARKERS)
