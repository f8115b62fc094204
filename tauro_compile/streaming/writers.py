"""Streaming writers, one per sink format of the registry, and the factory that picks one.

`BaseStreamingWriter.write` sets what every sink shares (output mode, query name,
checkpoint, trigger, rows-out metric) and either starts the sink directly or, when the node
needs per-batch work (Delta merge, a foreach_batch function, stages), through
`MicroBatchWriter` in foreachBatch.

Rows out: the stream handed to the sink is wrapped in
`observe("tauro_rows_out", count(1) AS rows)`, so each `query.lastProgress["observedMetrics"]`
has `{"tauro_rows_out": {"rows": n}}` for every sink (checked on Spark 4.0.1). With
foreachBatch it counts the rows that entered the batch (before stages); the per-output rows
actually written are in the batch listener's info. Continuous queries cannot observe, so they
report no rows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming import storage
from tauro_compile.streaming.batch_sinks import FileBatchSink, MemoryBatchSink
from tauro_compile.streaming.batch_writer import (
    BatchSink,
    BatchStage,
    DeltaBatchSink,
    FormatBatchSink,
    FunctionBatchSink,
    MicroBatchWriter,
    run_before_start,
)
from tauro_compile.streaming.config import NodeConfig, TriggerConfig
from tauro_compile.streaming.constants import StreamingOutputMode, StreamingTrigger
from tauro_compile.streaming.context import (
    batch_listener_from_context,
    batch_printer_from_context,
    spark_from_context,
)
from tauro_compile.streaming.durations import parse_duration
from tauro_compile.streaming.exceptions import (
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
)
from tauro_compile.streaming.factory import RegistryFactory
from tauro_compile.streaming.kafka import check_kafka, is_internal_column
from tauro_compile.streaming.references import load_reference
from tauro_compile.streaming.session import is_connect_session
from tauro_compile.streaming.spark_options import is_true, spark_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamWriter, StreamingQuery

ROWS_OUT_METRIC = "tauro_rows_out"


def observe_rows_out(df: DataFrame, trigger: TriggerConfig | None = None) -> DataFrame:
    """`df` counting its rows into the query progress as `tauro_rows_out.rows`."""
    if trigger is not None and trigger.type is StreamingTrigger.CONTINUOUS:
        return df
    from pyspark.sql import functions as F

    return df.observe(ROWS_OUT_METRIC, F.count(F.lit(1)).alias("rows"))


def rows_out(progress: Any) -> int | None:
    """The rows-out count of one query progress (object or dict), or None when absent."""
    if progress is None:
        return None
    metrics = progress.get("observedMetrics") if hasattr(progress, "get") else None
    row = (metrics or {}).get(ROWS_OUT_METRIC)
    if row is None:
        return None
    value = row.get("rows") if isinstance(row, Mapping) else row["rows"]
    return None if value is None else int(value)


def apply_trigger(writer: DataStreamWriter, trigger: TriggerConfig) -> DataStreamWriter:
    """`writer` with the node's trigger."""
    kind = trigger.type
    if kind is StreamingTrigger.AVAILABLE_NOW:
        return writer.trigger(availableNow=True)
    if kind is StreamingTrigger.ONCE:
        return writer.trigger(once=True)
    interval = parse_duration(trigger.interval or "10 seconds").spark()
    if kind is StreamingTrigger.CONTINUOUS:
        return writer.trigger(continuous=interval)
    return writer.trigger(processingTime=interval)


class BaseStreamingWriter(ABC):
    """Writes a stream to one sink format; subclasses implement `start` (and `batch_sink`)."""

    format_name: ClassVar[str] = ""
    # True when the sink only exists as a per-batch function (foreach_batch).
    always_batched: ClassVar[bool] = False

    def __init__(self, context: Any) -> None:
        self.context = context
        self.batch_writer: MicroBatchWriter | None = None

    @property
    def spark(self) -> SparkSession:
        return spark_from_context(self.context)

    def write(self, df: DataFrame, node_config: NodeConfig | Mapping[str, Any],
              checkpoint_location: str, *, unique_id: str | None = None,
              stages: Sequence[BatchStage] = ()) -> StreamingQuery:
        """Start the node's query writing `df`; returns the running StreamingQuery."""
        node = node_config if isinstance(node_config, NodeConfig) else NodeConfig.model_validate(
            dict(node_config))
        batched = (bool(stages) or self.always_batched or node.output.mode == "merge"
                   or self.prefers_batches(node))
        self.check(df, node)
        df = self.align(df, node)
        if not batched:
            df = self.prepare(df, node)
        writer = (observe_rows_out(df, node.streaming.trigger).writeStream
                  .outputMode(node.streaming.output_mode.value)
                  .queryName(node.query_name)
                  .option("checkpointLocation", checkpoint_location)
                  .options(**spark_options(node.streaming.options, node_name=node.name,
                                           field="streaming.options")))
        writer = apply_trigger(writer, node.streaming.trigger)
        if not batched:
            return self.start(writer, node)
        sink = self.batch_sink(node)
        if sink is None:
            raise StreamingValidationError(
                f"node '{node.name}': a '{node.output.format}' output cannot run per-batch stages",
                context=create_error_context("write", type(self).__name__, node_name=node.name,
                                             field="output.format",
                                             expected="delta, parquet, json, kafka, console or "
                                                      "foreach_batch",
                                             actual=node.output.format),
                hint="write to a Delta table (or another batch-capable sink) to use contracts "
                     "or dead letters" if node.output.format != "memory" else
                     "over Spark Connect a memory table cannot be filled per batch (the "
                     "foreachBatch function runs on the server): write to a Delta table",
            )
        run_before_start(stages, df, node)
        sink_before_start = getattr(sink, "before_start", None)
        if callable(sink_before_start):
            sink_before_start(df)
        batch_writer = MicroBatchWriter(node, sink, unique_id=unique_id or node.name,
                                        stages=stages,
                                        on_batch=batch_listener_from_context(self.context),
                                        checkpoint_location=checkpoint_location)
        # Kept for the query manager: a batch's failure, as a Python object.
        self.batch_writer = batch_writer
        return writer.foreachBatch(batch_writer).start()

    def check(self, df: DataFrame, node: NodeConfig) -> None:
        """Refuse, before starting, what the sink would reject at the first batch."""
        return None

    def prefers_batches(self, node: NodeConfig) -> bool:
        """True when this sink is better written per batch from Python (see console)."""
        return False

    def prepare(self, df: DataFrame, node: NodeConfig) -> DataFrame:
        """Shape rows for the sink (works on streaming and batch DataFrames)."""
        return df

    def align(self, df: DataFrame, node: NodeConfig) -> DataFrame:
        """The stream with the casts the node opted into (`on_type_mismatch: cast`)."""
        return df

    @abstractmethod
    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        """Start the configured writer on this sink."""

    def batch_sink(self, node: NodeConfig) -> BatchSink | None:
        """How one batch is written when the node runs in foreachBatch (None: not possible)."""
        return None

    def sink_options(self, node: NodeConfig) -> dict[str, str]:
        return spark_options(node.output.options, node_name=node.name, field="output.options")


class DeltaStreamingWriter(BaseStreamingWriter):
    """A Delta table by path or name: append/complete streaming, or MERGE in foreachBatch."""

    format_name = "delta"

    def check(self, df: DataFrame, node: NodeConfig) -> None:
        out = node.output
        columns = {c.lower() for c in df.columns}
        missing_keys = [k for k in out.merge_keys if k.lower() not in columns]
        if missing_keys:
            raise self._misfit(node, df, None, missing_keys, "merge keys {} are not columns of "
                               "the stream", "output.merge_keys",
                               f"merge on columns of the stream: {', '.join(df.columns)}")
        merge = out.mode == "merge"
        if node.streaming.output_mode is StreamingOutputMode.COMPLETE and not merge:
            return  # complete mode rewrites the table
        table = storage.delta_schema(self.spark, path=out.path, table_name=out.table_name)
        if table is None:
            return
        existing = {f.name.lower(): f for f in table.fields}
        evolve = (is_true(out.options.get("mergeSchema", False))
                  or is_true(self.spark.conf.get("spark.databricks.delta.schema.autoMerge.enabled",
                                                 "false")))
        clashes = [f"{f.name} ({f.dataType.simpleString()} vs "
                   f"{existing[f.name.lower()].dataType.simpleString()})"
                   for f in df.schema.fields if f.name.lower() in existing
                   and _kind(f.dataType) != _kind(existing[f.name.lower()].dataType)]
        if clashes:
            raise self._misfit(node, df, table, clashes, "columns {} have types the table "
                               "cannot hold", "output", "cast or rename them in a transform")
        differing = type_mismatches(df.schema, table)
        if differing and out.on_type_mismatch == "fail":
            shown = [f"'{name}' (table {table_type}, stream {stream_type})"
                     for name, table_type, stream_type in differing]
            raise self._misfit(node, df, table, shown, "column {} has another type in the "
                               "table than in the stream" if len(shown) == 1 else
                               "columns {} have other types in the table than in the stream",
                               "output.on_type_mismatch",
                               "cast the column in a transform, or set `on_type_mismatch: "
                               "cast` on the output to cast it to the table's type before "
                               "each write (a value that does not convert fails the batch)")
        extra = [f.name for f in df.schema.fields
                 if f.name.lower() not in existing and not is_internal_column(f.name)]
        if extra and not evolve:
            raise self._misfit(node, df, table, extra, "columns {} are not in the table",
                               "output.options.mergeSchema",
                               "add `mergeSchema: \"true\"` to output.options to add the "
                               "columns, or drop them in a transform")
        absent = [f.name for f in table.fields if f.name.lower() not in columns]
        if merge and absent and not evolve:
            raise self._misfit(node, df, table, absent, "table columns {} are missing from the "
                               "stream (MERGE updates and inserts every column)", "output",
                               "select them in a transform, or set `mergeSchema: \"true\"` "
                               "to leave them unchanged")

    def align(self, df: DataFrame, node: NodeConfig) -> DataFrame:
        out = node.output
        if out.on_type_mismatch != "cast" or (
                node.streaming.output_mode is StreamingOutputMode.COMPLETE and out.mode != "merge"):
            return df
        table = storage.delta_schema(self.spark, path=out.path, table_name=out.table_name)
        if table is None:
            return df
        from pyspark.sql import functions as F

        targets = {f.name.lower(): f.dataType for f in table.fields}
        differing = {name.lower() for name, _, _ in type_mismatches(df.schema, table)}
        return df.select(*[
            F.col(f"`{c}`").cast(targets[c.lower()]).alias(c) if c.lower() in differing
            else F.col(f"`{c}`") for c in df.columns
        ])

    def _misfit(self, node: NodeConfig, df: DataFrame, table: Any, columns: list[str],
                problem: str, field: str, hint: str) -> StreamingQueryError:
        where = node.output.table_name or node.output.path
        return StreamingQueryError(
            f"node '{node.name}': the stream does not fit the Delta table {where}: "
            + problem.format(", ".join(columns)),
            context=create_error_context(
                "check_sink_schema", type(self).__name__, node_name=node.name, table=where,
                field=field, columns=", ".join(columns),
                expected=table.simpleString() if table is not None else None,
                actual=df.schema.simpleString()),
            hint=hint,
        )

    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        out = node.output
        writer = writer.format("delta").options(**self.sink_options(node))
        if out.partition_by:
            writer = writer.partitionBy(*out.partition_by)
        return writer.toTable(out.table_name) if out.table_name else writer.start(out.path)

    def batch_sink(self, node: NodeConfig) -> BatchSink:
        return DeltaBatchSink(node.output, node.streaming.output_mode.value, node.name)


class ConsoleStreamingWriter(BaseStreamingWriter):
    """Prints each micro-batch (debugging).

    Written per batch from Python, so the rows reach the context's `batch_printer` (the
    runner prints them above its live display) instead of the driver JVM's stdout, which
    `tauro run` sends to the log file. A continuous trigger (no foreachBatch) keeps Spark's
    own console sink: its rows then go wherever the JVM's stdout goes.
    """

    format_name = "console"

    def prefers_batches(self, node: NodeConfig) -> bool:
        return node.streaming.trigger.type is not StreamingTrigger.CONTINUOUS

    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        return writer.format("console").options(**self.sink_options(node)).start()

    def batch_sink(self, node: NodeConfig) -> BatchSink:
        return FormatBatchSink(node.output, node.name,
                               printer=batch_printer_from_context(self.context))


class MemoryStreamingWriter(BaseStreamingWriter):
    """An in-memory table named by the query name (tests, notebooks)."""

    format_name = "memory"

    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        return writer.format("memory").options(**self.sink_options(node)).start()

    def batch_sink(self, node: NodeConfig) -> BatchSink | None:
        if is_connect_session(self.spark):
            return None
        return MemoryBatchSink(self.spark, node.query_name, node.streaming.output_mode.value)


class FileStreamingWriter(BaseStreamingWriter):
    """Parquet or JSON-lines files under a directory (append only)."""

    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        writer = writer.format(self.format_name).options(**self.sink_options(node))
        if node.output.partition_by:
            writer = writer.partitionBy(*node.output.partition_by)
        return writer.start(node.output.path)

    def batch_sink(self, node: NodeConfig) -> BatchSink:
        return FileBatchSink(node.output, node.name)


class ParquetStreamingWriter(FileStreamingWriter):
    format_name = "parquet"


class JsonStreamingWriter(FileStreamingWriter):
    format_name = "json"


class KafkaStreamingWriter(BaseStreamingWriter):
    """A Kafka topic: `key_column` -> key, `value_columns` (default: `value`, else all) -> JSON value."""

    format_name = "kafka"

    def check(self, df: DataFrame, node: NodeConfig) -> None:
        check_kafka(self.spark, self.sink_options(node), node.name, role="output")

    def prepare(self, df: DataFrame, node: NodeConfig) -> DataFrame:
        from pyspark.sql import functions as F

        out = node.output
        wanted = [out.key_column] if out.key_column else []
        wanted += out.value_columns or []
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise StreamingValidationError(
                f"node '{node.name}': kafka output columns {missing} are not in the stream",
                context=create_error_context("prepare", type(self).__name__, node_name=node.name,
                                             field="output.value_columns" if out.value_columns
                                             else "output.key_column",
                                             expected=f"columns among: {', '.join(df.columns)}",
                                             actual=", ".join(missing)),
                hint=did_you_mean(missing[0], df.columns),
            )
        if out.value_columns:
            value = F.to_json(F.struct(*[F.col(c) for c in out.value_columns]))
        elif "value" in df.columns:
            value = F.col("value")
        else:
            value = F.to_json(F.struct(*[F.col(c) for c in df.columns]))
        columns = [value.alias("value")]
        if out.key_column:
            columns.insert(0, F.col(out.key_column).cast("string").alias("key"))
        elif "key" in df.columns:
            columns.insert(0, F.col("key"))
        return df.select(*columns)

    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        return writer.format("kafka").options(**self.sink_options(node)).start()

    def batch_sink(self, node: NodeConfig) -> BatchSink:
        return FormatBatchSink(node.output, node.name, prepare=lambda df: self.prepare(df, node))


class ForeachBatchStreamingWriter(BaseStreamingWriter):
    """The user's `module:function`, called as function(batch_df, batch_id) for every batch."""

    format_name = "foreach_batch"
    always_batched = True

    def start(self, writer: DataStreamWriter, node: NodeConfig) -> StreamingQuery:
        raise NotImplementedError("foreach_batch always runs through MicroBatchWriter")

    def batch_sink(self, node: NodeConfig) -> BatchSink:
        ref = node.output.function or ""
        fn = load_reference(ref, node_name=node.name, field="output.function")
        return FunctionBatchSink(fn, ref)


class StreamingWriterFactory(RegistryFactory):
    """Creates writers by format name from the format registry; `register` adds one to it."""

    role = "sink"
    kind = "writer"
    field = "output.format"


# Widenings Delta applies on write without losing anything (a stream int into a bigint table).
_WIDENS_TO = {"tinyint": {"smallint", "int", "bigint"}, "smallint": {"int", "bigint"},
              "int": {"bigint"}, "float": {"double"}}


def type_mismatches(stream: Any, table: Any) -> list[tuple[str, str, str]]:
    """(column, table type, stream type) of atomic columns whose types differ (widening aside).

    Delta would cast such a column silently on write (a BIGINT stream into a STRING table
    succeeds), so a type that changes is refused unless the node opts into the cast.
    """
    existing = {f.name.lower(): f.dataType for f in table.fields}
    found = []
    for field in stream.fields:
        target = existing.get(field.name.lower())
        if target is None or _kind(field.dataType) != "atomic" or _kind(target) != "atomic":
            continue
        mine, theirs = field.dataType.simpleString(), target.simpleString()
        if mine != theirs and theirs not in _WIDENS_TO.get(mine, ()) and mine != "void":
            found.append((field.name, theirs, mine))
    return found


def _kind(data_type: Any) -> str:
    """struct / array / map / atomic: Delta casts between atomic types, never across kinds."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    for cls, name in ((StructType, "struct"), (ArrayType, "array"), (MapType, "map")):
        if isinstance(data_type, cls):
            return name
    return "atomic"
