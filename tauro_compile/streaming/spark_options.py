"""Options as Spark receives them: secrets resolved at the last moment, values as strings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tauro_compile.streaming.exceptions import StreamingQueryError, create_error_context
from tauro_compile.streaming.secrets import MissingSecretError, resolve_options


def spark_value(value: Any) -> str:
    """An option value as the string Spark expects (`True` -> "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def spark_options(options: Mapping[str, Any], *, node_name: str, field: str) -> dict[str, str]:
    """`options` with `${secret:NAME}` placeholders resolved, ready for `.options(**...)`.

    Call only right before handing them to Spark: the result holds real secret values and must
    never be logged or stored.
    """
    try:
        resolved = resolve_options(options)
    except MissingSecretError as exc:
        raise StreamingQueryError(
            f"node '{node_name}': {exc}",
            context=create_error_context("resolve_options", "spark_options", node_name=node_name,
                                         field=field, expected=f"environment variable {exc.name}",
                                         actual="not set"),
            hint=f"export {exc.name}=... in the environment that starts the query",
        ) from None
    return {key: spark_value(value) for key, value in resolved.items()}


def is_true(value: Any) -> bool:
    """True for `True`, "true", "TRUE", 1, "1"."""
    return spark_value(value).strip().lower() in ("true", "1")
