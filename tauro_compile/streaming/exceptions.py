"""The streaming layer's exception tree; every error carries a `.context` dict a caller can act on.

`StreamingError` is a `TauroError`, so the CLI maps it to a message and an exit code like any
other Tauro error. `handle_streaming_error` wraps anything unexpected raised by a public method
into the streaming kind with the operation, component and node attached.
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from tauro_compile.errors import EXIT_INVALID, EXIT_NODE_FAILED, TauroError

F = TypeVar("F", bound=Callable[..., Any])

# Keys shown first, in this order, when an error is rendered for a user.
_RENDERED_KEYS = ("node_name", "pipeline_name", "field", "location", "expected", "actual", "path",
                  "table", "columns", "checkpoint_location")


class StreamingError(TauroError):
    """Base of every streaming-layer error; `.context` holds operation, component, node, ...."""

    exit_code = EXIT_NODE_FAILED

    def __init__(self, message: str, *, context: Mapping[str, Any] | None = None,
                 hint: str | None = None, cause: BaseException | None = None) -> None:
        super().__init__(message, hint=hint)
        self.context: dict[str, Any] = dict(context or {})
        if hint is not None:
            self.context.setdefault("hint", hint)
        if cause is not None:
            self.__cause__ = cause

    def render(self) -> str:
        """The message, the context keys a user acts on, and the hint."""
        lines = [self.message]
        for key in _RENDERED_KEYS:
            if self.context.get(key) is not None:
                lines.append(f"  {key}: {self.context[key]}")
        for issue in self.context.get("issues", ())[1:]:
            lines.append(f"  also: {issue.get('field')}: {issue.get('message')}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def get_full_traceback(self) -> str:
        """This error and its chain of causes, formatted as Python prints them."""
        return "".join(traceback.format_exception(self))

    def __str__(self) -> str:
        return self.message + (f" (hint: {self.hint})" if self.hint else "")


class StreamingValidationError(StreamingError):
    """A node or pipeline config that cannot run; `.context` has field, expected, actual, node_name.

    `.context["issues"]` lists every problem found (each a dict with field, message, expected,
    found, hint), so a user fixes them all at once.
    """

    exit_code = EXIT_INVALID


class StreamingFormatNotSupportedError(StreamingValidationError):
    """A format no reader/writer implements, or one the format policy forbids."""


class StreamingQueryError(StreamingError):
    """A query could not be built, started, or failed while running."""


class StreamingPipelineError(StreamingError):
    """A pipeline could not be started, found, or supervised."""


def create_error_context(operation: str, component: str, **details: Any) -> dict[str, Any]:
    """The `.context` dict of a streaming error: operation, component, and non-None details."""
    context: dict[str, Any] = {"operation": operation, "component": component}
    context.update({k: v for k, v in details.items() if v is not None})
    return context


def node_name_of(node_config: Any) -> str | None:
    """The `name` of a node given as a NodeConfig, a dict, or None."""
    if node_config is None:
        return None
    if isinstance(node_config, Mapping):
        name = node_config.get("name")
        return name if isinstance(name, str) else None
    name = getattr(node_config, "name", None)
    return name if isinstance(name, str) else None


@overload
def handle_streaming_error(func: F) -> F: ...


@overload
def handle_streaming_error(
    func: type[StreamingError] | None = None, *, operation: str | None = None,
    component: str | None = None,
) -> Callable[[F], F]: ...


def handle_streaming_error(func: Any = None, *, operation: str | None = None,
                           component: str | None = None) -> Any:
    """Wrap unexpected exceptions of a function into a StreamingError with operation context.

    Use bare (`@handle_streaming_error`, wraps into `StreamingError`) or with the error kind
    (`@handle_streaming_error(StreamingQueryError)`). StreamingError subclasses pass through
    unchanged; anything else is re-raised as the chosen kind with the original as `__cause__`
    and `node_name` / `pipeline_name` / `execution_id` taken from the call's arguments.
    """
    if callable(func) and not (isinstance(func, type) and issubclass(func, StreamingError)):
        return _decorate(func, StreamingError, operation, component)
    error_cls = func or StreamingError

    def decorator(f: F) -> F:
        return _decorate(f, error_cls, operation, component)

    return decorator


def _decorate(func: F, error_cls: type[StreamingError], operation: str | None,
              component: str | None) -> F:
    signature = inspect.signature(func)
    op = operation or func.__name__

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StreamingError:
            raise
        except Exception as exc:
            details = _call_details(signature, args, kwargs)
            comp = component or (type(args[0]).__name__ if args and "self" in signature.parameters
                                 else func.__module__.rsplit(".", 1)[-1])
            node = details.get("node_name")
            where = f" for node '{node}'" if node else ""
            message = f"{op} failed{where}: {type(exc).__name__}: {exc}"
            raise error_cls(
                message,
                context=create_error_context(op, comp, error_type=type(exc).__name__,
                                             details=str(exc), **details),
                hint="fix the node's config or the environment the message names, then start "
                     "the node again (the original error is this error's __cause__)",
                cause=exc,
            ) from exc

    return wrapper  # type: ignore[return-value]


def _call_details(signature: inspect.Signature, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> dict[str, Any]:
    """node_name / pipeline_name / execution_id found in a call's arguments."""
    try:
        bound = signature.bind_partial(*args, **kwargs).arguments
    except TypeError:
        return {}
    details: dict[str, Any] = {}
    for key in ("node_config", "node", "config"):
        name = node_name_of(bound.get(key))
        if name:
            details["node_name"] = name
            break
    for key in ("pipeline_name", "execution_id"):
        if isinstance(bound.get(key), str):
            details[key] = bound[key]
    return details
