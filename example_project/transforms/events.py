"""Transforms on click events. Each takes a streaming DataFrame plus the node's `args`
as keyword arguments, and returns a DataFrame."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def normalize_events(df: DataFrame, timestamp_column: str = "event_time") -> DataFrame:
    """Typed columns from raw JSON strings: price as decimal, event time as timestamp,
    event_type trimmed and lower-cased, blank user ids as null, plus `ingested_at`."""
    user_id = F.trim(F.col("user_id"))
    event_time = F.to_timestamp(F.col(timestamp_column))
    return (
        df.withColumn("user_id", F.when(user_id == "", None).otherwise(user_id))
        .withColumn("event_type", F.lower(F.trim(F.col("event_type"))))
        .withColumn("price", F.col("price").cast("decimal(10,2)"))
        .withColumn("quantity", F.col("quantity").cast("int"))
        .withColumn(timestamp_column, event_time)
        .withColumn("event_date", F.to_date(event_time))
        .withColumn("ingested_at", F.current_timestamp())
    )


def deduplicate(df: DataFrame, keys: Sequence[str] = ("event_id",)) -> DataFrame:
    """Drop rows whose `keys` were already seen within the input's watermark delay.

    Needs an event-time watermark on the input (`input.watermark` in the node file); the
    state of seen keys is kept only that long, so it does not grow without bound.
    """
    return df.dropDuplicatesWithinWatermark(list(keys))
