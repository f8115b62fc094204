"""Batch sinks for outputs that Spark would otherwise write itself: memory tables and files.

They let a node run through `MicroBatchWriter` (contracts, dead letters) on any sink with the
same delivery guarantee as Spark's own sink where that is possible:

- `MemoryBatchSink`: the rows of every batch, kept on the driver, as a temporary view named
  by the query name in the session that started the query (what Spark's memory sink does).
  A batch id already held is skipped, as Spark's `MemorySink` skips it; complete mode keeps
  only the latest batch. Like Spark's memory sink, the table lives as long as the process.
- `FileBatchSink` (parquet, json): exactly once per batch. Spark's file sink gets this from
  its `_spark_metadata` log; from foreachBatch each batch is written to a staging directory
  (`<path>/_tauro_batches/<app>/<batch id>/`, overwritten by a retry), its files are moved
  into `<path>` as `tauro-<app>-<batch id>-<name>` and a marker
  `<path>/_tauro_batches/<app>/<batch id>.done` is written last. A replayed batch with its
  marker is skipped; one without (a crash mid-way) first deletes its own moved files. `<app>`
  is a digest of the Delta-style transaction app id (node id @ checkpoint query id), so a new
  checkpoint, whose batch ids restart at 0, never collides with the old one. Readers never see
  the staging area: Spark skips paths starting with `_`. Over Spark Connect (no Hadoop
  filesystem API in the foreachBatch worker) batches are appended directly: at least once.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming import storage
from tauro_compile.streaming.config import OutputConfig
from tauro_compile.streaming.exceptions import StreamingQueryError, create_error_context
from tauro_compile.streaming.session import is_connect_session
from tauro_compile.streaming.spark_options import spark_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

STAGING_DIR = "_tauro_batches"


class MemoryBatchSink:
    """Spark's memory sink, from foreachBatch: a temp view of every batch's rows."""

    def __init__(self, spark: SparkSession, name: str, output_mode: str) -> None:
        self.spark = spark  # the user's session: the view must be visible there
        self.name = name
        self.complete = output_mode == "complete"
        self.batches: dict[int, list[Row]] = {}

    def before_start(self, stream_df: DataFrame) -> None:
        """An empty table at query start, as Spark's memory sink has."""
        self.spark.createDataFrame([], stream_df.schema).createOrReplaceTempView(self.name)

    def write(self, df: DataFrame, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        if batch_id in self.batches and not self.complete:
            return {"target": self.name, "committed": False, "rows": 0}
        rows = df.collect()
        if self.complete:
            self.batches.clear()
        self.batches[batch_id] = rows
        held = [row for key in sorted(self.batches) for row in self.batches[key]]
        self.spark.createDataFrame(held, df.schema).createOrReplaceTempView(self.name)
        return {"target": self.name, "committed": True, "rows": len(rows)}


class FileBatchSink:
    """Parquet or JSON files, each batch written exactly once (see the module docstring)."""

    def __init__(self, output: OutputConfig, node_name: str) -> None:
        self.output = output
        self.node_name = node_name

    def before_start(self, stream_df: DataFrame) -> None:
        """Refuse a directory Spark's own file sink wrote: readers would not see our files."""
        spark = stream_df.sparkSession
        path = self.output.path or ""
        if is_connect_session(spark) or not storage.path_exists(spark, f"{path}/_spark_metadata"):
            return
        raise StreamingQueryError(
            f"node '{self.node_name}': {path} was written by Spark's streaming file sink; "
            "files written per batch (for a contract or dead letters) would be invisible to "
            "readers, which list only the files in its _spark_metadata log",
            context=create_error_context("before_start", type(self).__name__,
                                         node_name=self.node_name, path=path,
                                         field="output.path"),
            hint="write the node to a new output.path (the existing files stay readable where "
                 "they are), or remove the contract / dead letters from the node",
        )

    def write(self, df: DataFrame, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        spark = df.sparkSession
        path = self.output.path or ""
        if is_connect_session(spark):
            self._save(df, path, "append")
            return {"target": path, "committed": True, "rows": None}
        app = hashlib.sha256(txn_app_id.encode()).hexdigest()[:12]
        staging = f"{path}/{STAGING_DIR}/{app}/{batch_id}"
        marker = f"{staging}.done"
        prefix = f"tauro-{app}-{batch_id}-"
        fs, root = storage._filesystem(spark, path)
        jvm = spark._jvm  # type: ignore[attr-defined]
        if fs.exists(jvm.org.apache.hadoop.fs.Path(marker)):
            return {"target": path, "committed": False, "rows": 0}
        staged = jvm.org.apache.hadoop.fs.Path(staging)
        if fs.exists(staged):  # an earlier attempt stopped before its marker
            _delete_files(fs, root, prefix)
        counted, observation = _counted(df, f"tauro_file_rows_{app}_{batch_id}")
        self._save(counted, staging, "overwrite")
        _move_files(jvm, fs, staged, root, prefix)
        fs.create(jvm.org.apache.hadoop.fs.Path(marker), True).close()
        fs.delete(staged, True)
        return {"target": path, "committed": True, "rows": _rows(observation)}

    def _save(self, df: DataFrame, path: str, mode: str) -> None:
        opts = spark_options(self.output.options, node_name=self.node_name, field="output.options")
        writer = df.write.format(self.output.format).mode(mode).options(**opts)
        if self.output.partition_by:
            writer = writer.partitionBy(*self.output.partition_by)
        writer.save(path)


def _counted(df: DataFrame, name: str) -> tuple[DataFrame, Any]:
    """`df` counting its rows in the job that writes it."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observation = Observation(name)
    return df.observe(observation, F.count(F.lit(1)).alias("n")), observation


def _rows(observation: Any) -> int | None:
    """The observed count, or None when the write ran no job over the rows (nothing waits)."""
    jo = getattr(observation, "_jo", None)
    if jo is None or not jo.future().isCompleted():
        return None
    return int(observation.get["n"])


def _data_files(fs: Any, directory: Any) -> list[Any]:
    """The data files under `directory` (recursive), without Spark's `_`/`.` files."""
    if not fs.exists(directory):
        return []
    found, listing = [], fs.listFiles(directory, True)
    while listing.hasNext():
        status = listing.next()
        relative = str(status.getPath().toUri().getPath())[len(str(directory.toUri().getPath())):]
        if not any(part.startswith(("_", ".")) for part in relative.split("/") if part):
            found.append(status.getPath())
    return found


def _move_files(jvm: Any, fs: Any, staging: Any, root: Any, prefix: str) -> None:
    """Move the staged files under `root` (same partition dirs), named `prefix + name`."""
    base = str(staging.toUri().getPath())
    for file in _data_files(fs, staging):
        relative = str(file.getParent().toUri().getPath())[len(base):].strip("/")
        parent = jvm.org.apache.hadoop.fs.Path(root, relative) if relative else root
        fs.mkdirs(parent)
        if not fs.rename(file, jvm.org.apache.hadoop.fs.Path(parent, prefix + file.getName())):
            raise OSError(f"could not move {file} into {parent}")


def _delete_files(fs: Any, root: Any, prefix: str) -> None:
    for file in _data_files(fs, root):
        if str(file.getName()).startswith(prefix):
            fs.delete(file, False)
