"""Clearing a node for a full refresh, on Spark: what its checkpoint and outputs hold, and
how each is cleared without losing what can be kept.

- A checkpoint directory is moved aside (renamed to `<checkpoint>.reset-<UTC stamp>`), never
  deleted: Spark keeps no history of it, and a new one makes Spark give the query a new id.
  The node's Delta writes carry `txnAppId = <node id>@<checkpoint query id>` (see
  `batch_writer`), and Delta's own streaming sink keys its transactions on that query id, so
  the restarted batch ids (0, 1, ...) are written, not skipped as replays.
- A Delta table gets a new version holding no rows (an overwrite with an empty DataFrame):
  its history stays, so `RESTORE TABLE ... TO VERSION AS OF n` brings the data back. The
  empty version has the schema of the node's current query when it can be analysed (the
  refreshed query may write other columns), else the table's own.
- A file output (parquet, json) is moved aside like a checkpoint: Spark's file sink keeps the
  batches it wrote in `<path>/_spark_metadata` and would skip a new checkpoint's batches.
- Kafka topics are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming import storage
from tauro_compile.streaming.kafka import is_internal_column

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

    from tauro_compile.streaming.config import NodeConfig, OutputConfig

BACKUP_INFIX = ".reset-"


@dataclass(frozen=True)
class DeltaState:
    """A Delta table's current version and row count (None/None: no table yet)."""

    version: int | None
    rows: int | None


def delta_state(spark: SparkSession, output: OutputConfig) -> DeltaState:
    """The table's latest version and its row count, or an empty state when there is none."""
    version = storage.delta_version(spark, path=output.path, table_name=output.table_name)
    if version is None:
        return DeltaState(None, None)
    reader = spark.read.format("delta")
    df = reader.table(output.table_name) if output.table_name else reader.load(output.path)
    return DeltaState(version, df.count())


def path_exists(spark: SparkSession, path: str) -> bool:
    """True when the directory (a checkpoint, a file output) exists."""
    return storage.path_exists(spark, path)


def move_aside(spark: SparkSession, path: str, stamp: str) -> str | None:
    """Rename `path` to `<path>.reset-<stamp>` (a free name); the new path, or None if absent.

    Node names cannot hold a dot, so the backup never clashes with a node's checkpoint.
    """
    fs, source = storage._filesystem(spark, path)
    if not fs.exists(source):
        return None
    base = path.rstrip("/") + BACKUP_INFIX + stamp
    target, n = base, 1
    while fs.exists(spark._jvm.org.apache.hadoop.fs.Path(target)):  # type: ignore[attr-defined]
        target, n = f"{base}-{n}", n + 1
    if not fs.rename(source, spark._jvm.org.apache.hadoop.fs.Path(target)):  # type: ignore[attr-defined]
        raise OSError(f"could not rename {path} to {target}")
    return target


def query_schema(spark: SparkSession, node: NodeConfig, context: Any) -> StructType:
    """The columns the node's query writes: its stream built (not started) with its transforms,
    without Tauro's internal columns."""
    from pyspark.sql.types import StructType

    from tauro_compile.streaming.readers import StreamingReaderFactory
    from tauro_compile.streaming.transforms import apply_transforms

    reader = StreamingReaderFactory.create(node.input.format, context)
    schema = apply_transforms(reader.read(node), node, spark).schema
    return StructType([f for f in schema.fields if not is_internal_column(f.name)])


def empty_delta(spark: SparkSession, output: OutputConfig,
                schema: StructType | None = None) -> int | None:
    """Write a new version of the table holding no rows; its version, or None (no table).

    `schema` (the refreshed query's) replaces the table's schema; without it the table keeps
    its own. The table's history, properties and earlier versions stay.
    """
    from pyspark.sql.types import StructField, StructType

    if not storage.is_delta_table(spark, path=output.path, table_name=output.table_name):
        return None
    if schema is None:
        schema = storage.delta_schema(spark, path=output.path, table_name=output.table_name)
    nullable = StructType([StructField(f.name, f.dataType, True, f.metadata)
                           for f in schema.fields])  # type: ignore[union-attr]
    writer = (spark.createDataFrame([], nullable).write.format("delta").mode("overwrite")
              .option("overwriteSchema", "true")
              .option("userMetadata", "tauro full refresh"))
    if output.partition_by:
        writer = writer.partitionBy(*output.partition_by)
    if output.table_name:
        writer.saveAsTable(output.table_name)
    else:
        writer.save(output.path)
    return storage.delta_version(spark, path=output.path, table_name=output.table_name)
