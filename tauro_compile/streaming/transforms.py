"""Apply a node's `transforms` to its stream, in order.

- `sql`: the statement reads the current stream through the literal `{{ input }}`. The stream
  is registered as a temporary view named per node and step (`__tauro_<node>_<i>`), and
  `{{ input }}` is replaced by that name before `spark.sql` runs. (The compiler's Jinja context
  maps `input` to the same literal text, so it survives compilation.)
- `python`: `module:function` imported from `sys.path`, called as `function(df, **args)`, with
  `spark=` added when the function declares a `spark` parameter. Library users may put plain
  callables in `transforms`; they are called the same way.

Each step must return a streaming DataFrame derived from its input.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.config import NodeConfig, TransformConfig
from tauro_compile.streaming.exceptions import (
    StreamingError,
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
)
from tauro_compile.streaming.references import load_reference

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

INPUT_PLACEHOLDER = re.compile(r"\{\{\s*input\s*\}\}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def view_name(node_name: str, index: int) -> str:
    """The temporary view a SQL step reads as `{{ input }}` (letters, digits and _ only)."""
    return f"__tauro_{_UNSAFE.sub('_', node_name)}_{index}"


def apply_transforms(df: DataFrame, node: NodeConfig, spark: SparkSession | None = None) -> DataFrame:
    """`df` after every transform of `node`, in order."""
    session = spark or df.sparkSession
    for index, step in enumerate(node.transforms):
        field = f"transforms[{index}]"
        if isinstance(step, TransformConfig) and step.sql is not None:
            df = run_sql_step(df, step.sql, node.name, index, session)
        elif isinstance(step, TransformConfig) and step.python is not None:
            fn = load_reference(step.python, node_name=node.name, field=f"{field}.python")
            df = call_python_step(df, fn, step.args, node.name, step.python, f"{field}.python",
                                  session)
        elif callable(step):
            label = getattr(step, "__qualname__", None) or repr(step)
            df = call_python_step(df, step, {}, node.name, label, field, session)
        else:
            raise StreamingValidationError(
                f"node '{node.name}': transform {index} is neither sql, python nor a callable",
                context=create_error_context("apply_transforms", "transforms", node_name=node.name,
                                             field=field, expected="sql, python or a callable",
                                             actual=type(step).__name__),
            )
    return df


def run_sql_step(df: DataFrame, sql: str, node_name: str, index: int, spark: SparkSession) -> DataFrame:
    """Run one SQL step over `df` registered as this step's temporary view."""
    field = f"transforms[{index}].sql"
    if not INPUT_PLACEHOLDER.search(sql):
        raise StreamingValidationError(
            f"node '{node_name}': SQL transform {index} does not read its input",
            context=create_error_context("run_sql_step", "transforms", node_name=node_name,
                                         field=field, expected="a statement reading {{ input }}",
                                         actual=sql[:200]),
            hint="write e.g. SELECT * FROM {{ input }} WHERE ...",
        )
    name = view_name(node_name, index)
    df.createOrReplaceTempView(name)
    statement = INPUT_PLACEHOLDER.sub(name, sql)
    try:
        result = spark.sql(statement)
    except Exception as exc:
        raise StreamingQueryError(
            f"node '{node_name}': SQL transform {index} failed: {_first_line(exc)}",
            context=create_error_context("run_sql_step", "transforms", node_name=node_name,
                                         field=field, details=str(exc), sql=sql,
                                         columns=", ".join(df.columns)),
            hint=f"the input's columns are: {', '.join(df.columns)}",
            cause=exc,
        ) from exc
    return _checked(result, df, node_name, f"SQL transform {index}", field)


def call_python_step(df: DataFrame, fn: Callable[..., Any], args: dict[str, Any], node_name: str,
                     label: str, field: str, spark: SparkSession) -> DataFrame:
    """Call one python transform; its result must be a DataFrame."""
    kwargs = dict(args)
    if _takes_spark(fn):
        kwargs["spark"] = spark
    try:
        result = fn(df, **kwargs)
    except StreamingError:
        raise
    except Exception as exc:
        from tauro_compile.streaming.failures import TRANSFORM_HINT, user_frames_of

        frames = user_frames_of(exc)
        raise StreamingQueryError(
            f"node '{node_name}': python transform {label} raised {type(exc).__name__}: {exc}",
            context=create_error_context("call_python_step", "transforms", node_name=node_name,
                                         field=field, function=label, details=str(exc),
                                         location=frames[-1].render() if frames else None),
            hint=TRANSFORM_HINT,
            cause=exc,
        ) from exc
    return _checked(result, df, node_name, f"python transform {label}", field)


def _checked(result: Any, source: DataFrame, node_name: str, what: str, field: str) -> DataFrame:
    from pyspark.sql import DataFrame

    if not isinstance(result, DataFrame):
        raise StreamingQueryError(
            f"node '{node_name}': {what} returned {type(result).__name__}, not a DataFrame",
            context=create_error_context("apply_transforms", "transforms", node_name=node_name,
                                         field=field, expected="a pyspark DataFrame",
                                         actual=type(result).__name__),
            hint="return the transformed DataFrame (a missing `return` gives None)",
        )
    if source.isStreaming and not result.isStreaming:
        raise StreamingQueryError(
            f"node '{node_name}': {what} returned a batch DataFrame, not the stream",
            context=create_error_context("apply_transforms", "transforms", node_name=node_name,
                                         field=field, expected="a streaming DataFrame derived "
                                         "from the input", actual="a batch DataFrame"),
            hint="build the result from the DataFrame the step receives (joining batch data "
                 "onto it is fine)",
        )
    return result


def _takes_spark(fn: Callable[..., Any]) -> bool:
    try:
        return "spark" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
