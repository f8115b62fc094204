"""Which Delta table version a micro-batch wrote, read from the Delta log without a Spark job.

The latest version comes from Delta's cached log of the table (this JVM just committed to
it); the commit files from there backwards are read until one carries the batch's
`txn` action (appId = the node's stable id, version = the batch id). A replayed batch that
Delta skipped therefore still reports the version its first attempt wrote.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOOKBACK = 20


def latest_version(spark: SparkSession, path: str) -> int | None:
    """The table's latest committed version, or None when there is no Delta table there."""
    jvm = spark._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    version = int(log.unsafeVolatileSnapshot().version())
    return version if version >= 0 else None


def version_of_batch(spark: SparkSession, path: str, app_id: str, batch_id: int,
                     lookback: int = LOOKBACK) -> int | None:
    """The version whose commit holds txn(app_id, batch_id), searching the last `lookback`."""
    latest = latest_version(spark, path)
    if latest is None:
        return None
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    for version in range(latest, max(-1, latest - lookback), -1):
        commit = jvm.org.apache.hadoop.fs.Path(f"{path.rstrip('/')}/_delta_log/{version:020d}.json")
        fs = commit.getFileSystem(conf)
        if not fs.exists(commit):
            break
        stream = fs.open(commit)
        try:
            text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
        for line in text.splitlines():
            if '"txn"' not in line:
                continue
            txn = json.loads(line).get("txn") or {}
            if txn.get("appId") == app_id and int(txn.get("version", -1)) == batch_id:
                return version
    return None
