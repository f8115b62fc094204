"""Transforms on the rate stream: each takes a streaming DataFrame (and keyword args) and returns one."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def add_square(df: DataFrame, column: str = "value") -> DataFrame:
    """Add `<column>_squared`."""
    return df.withColumn(f"{column}_squared", F.col(column) * F.col(column))
