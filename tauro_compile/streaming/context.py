"""What the streaming layer takes from its caller's context: a dict or any object with attributes.

Keys/attributes read (all optional except `spark`):

- `spark`: the SparkSession every reader, writer and query uses;
- `checkpoint_root`: the directory under which a node without `streaming.checkpoint_location`
  checkpoints, as `<checkpoint_root>/<node name>` (stable across runs, so a rerun resumes);
- `format_policy`: restricts the formats `StreamingValidator` accepts (see validators);
- `batch_listener`: `callable(node_name, batch_id, info)` told about every foreachBatch batch;
- `project_dir`, `on_validation`: read by the contracts stage (contract paths are relative to
  `project_dir`; `on_validation(result)` receives each batch's contract validation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.exceptions import StreamingError, create_error_context

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

BatchListener = Callable[[str, int, dict[str, Any]], None]
CONTEXT_KEYS = ("spark", "checkpoint_root", "format_policy", "batch_listener", "project_dir",
                "on_validation", "batch_printer")


@dataclass(frozen=True)
class StreamingContext:
    """The one typed context: what the public entry points normalise a caller's context to.

    `StreamingContext.of(x)` accepts a dict, any object with these attributes, or a
    StreamingContext; the rest of the layer reads it with `context_value`, like the others.
    """

    spark: Any = None
    checkpoint_root: str | None = None
    format_policy: Any = None
    batch_listener: BatchListener | None = None
    project_dir: str | None = None
    on_validation: Callable[[Any], None] | None = None
    # Where console sinks print `(node, batch_id, text)` (the runner: above its live table).
    batch_printer: Callable[[str, int, str], None] | None = None

    @classmethod
    def of(cls, context: Any) -> StreamingContext:
        if isinstance(context, StreamingContext):
            return context
        return cls(**{key: context_value(context, key) for key in CONTEXT_KEYS})

    def with_batch_listener(self, listener: BatchListener) -> StreamingContext:
        """This context with `listener` told about every batch, before the caller's own."""
        own = self.batch_listener

        def both(node_name: str, batch_id: int, info: dict[str, Any]) -> None:
            listener(node_name, batch_id, info)
            if own is not None:
                own(node_name, batch_id, info)

        return replace(self, batch_listener=both)


def context_value(context: Any, key: str, default: Any = None) -> Any:
    """`context[key]` for a mapping, `context.key` for an object, else `default`."""
    if context is None:
        return default
    if isinstance(context, Mapping):
        return context.get(key, default)
    return getattr(context, key, default)


def spark_from_context(context: Any) -> SparkSession:
    """The SparkSession of a context; a clear error when there is none."""
    spark = context_value(context, "spark")
    if spark is None:
        raise StreamingError(
            "the streaming context has no SparkSession",
            context=create_error_context("get_spark", "context",
                                         context_type=type(context).__name__),
            hint="pass {'spark': spark} or an object with a `spark` attribute",
        )
    return spark


def checkpoint_root_from_context(context: Any) -> str | None:
    """The context's `checkpoint_root`, without a trailing slash, or None."""
    root = context_value(context, "checkpoint_root")
    if root is None:
        return None
    text = str(root)
    return text.rstrip("/") or "/"


def batch_listener_from_context(context: Any) -> BatchListener | None:
    """The context's `batch_listener` callable, or None."""
    listener = context_value(context, "batch_listener")
    return listener if callable(listener) else None


BatchPrinter = Callable[[str, int, str], None]


def batch_printer_from_context(context: Any) -> BatchPrinter | None:
    """The context's `batch_printer(node_name, batch_id, text)`: where console sinks print."""
    printer = context_value(context, "batch_printer")
    return printer if callable(printer) else None
