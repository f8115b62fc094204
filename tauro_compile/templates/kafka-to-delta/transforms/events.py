"""Transforms on event streams: each takes a streaming DataFrame (and keyword args) and returns one."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def add_ingest_time(df: DataFrame, column: str = "ingested_at") -> DataFrame:
    """Stamp each row with the time it was ingested."""
    return df.withColumn(column, F.current_timestamp())
