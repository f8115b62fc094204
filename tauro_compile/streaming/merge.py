"""The one merge rule, for the compiler (profile `extends`, per-profile node overrides,
project defaults) and the library (a pipeline's `streaming` defaults under each node's).

Mappings merge key by key, recursively; lists and scalars of the override replace the base's.
One exception, because a trigger is one value and not a bag of keys: a `trigger` mapping in
the override replaces the base's `trigger` whole (so a dev override `{type: available_now}`
does not inherit the production `interval`). Inputs are never mutated; untouched sub-trees
are shared, not copied, so callers treat merged values as read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPLACED_WHOLE = frozenset({"trigger"})


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: `override` merged on top of `base` (see module docstring for the rules)."""
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if (
            key not in REPLACED_WHOLE
            and isinstance(current, Mapping)
            and isinstance(value, Mapping)
        ):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged
