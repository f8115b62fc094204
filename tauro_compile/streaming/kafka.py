"""Kafka records to columns: parse the `value` as JSON with a declared schema.

What happens to a record that does not parse (`on_parse_error`):

- `fail`: the micro-batch fails with an error naming the node, topic, partition and offset;
- `drop`: the record is dropped (so is a record with a null value, e.g. a tombstone);
- `dead_letter`: not implemented yet (raises `StreamingValidationError`).

Malformed records are found with Spark's corrupt-record column (`columnNameOfCorruptRecord`):
on Spark 4, `from_json` in PERMISSIVE mode returns a struct of nulls, not a null struct, for
text that is not JSON, so "struct is null" cannot tell bad records from empty ones.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.exceptions import StreamingValidationError, create_error_context

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

METADATA_COLUMNS = ("key", "topic", "partition", "offset", "timestamp")
CORRUPT_COLUMN = "__tauro_corrupt_record"
_PARSED = "__tauro_parsed"
_SAMPLE_CHARS = 200


def to_struct_type(schema: Any, *, node_name: str | None = None) -> StructType:
    """A StructType from a StructType, a DDL string, or Spark's JSON schema (str or dict)."""
    from pyspark.sql.types import StructType

    if isinstance(schema, StructType):
        return schema
    try:
        if isinstance(schema, dict):
            return StructType.fromJson(schema)
        if isinstance(schema, str):
            text = schema.strip()
            if text.startswith("{"):
                return StructType.fromJson(json.loads(text))
            parsed = StructType.fromDDL(text)
            if isinstance(parsed, StructType):
                return parsed
    except Exception as exc:
        raise _schema_error(schema, node_name, str(exc)) from exc
    raise _schema_error(schema, node_name, f"got {type(schema).__name__}")


def parse_kafka_json(df: DataFrame, schema: Any, on_parse_error: str = "fail",
                     include_metadata: bool = False, *, node_name: str | None = None) -> DataFrame:
    """Kafka rows -> the columns of `schema` parsed from `value` (+ Kafka metadata if asked)."""
    from pyspark.sql import functions as F

    node = node_name or "?"
    struct = to_struct_type(schema, node_name=node_name)
    clashes = sorted(set(struct.fieldNames()) & set(METADATA_COLUMNS)) if include_metadata else []
    if clashes:
        raise StreamingValidationError(
            f"node '{node}': json_schema fields {clashes} clash with the Kafka metadata columns "
            "kept by include_metadata",
            context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                         field="input.json_schema",
                                         expected=f"no field named {', '.join(METADATA_COLUMNS)}",
                                         actual=", ".join(clashes)),
            hint="rename the JSON fields, or set include_metadata: false",
        )
    if on_parse_error == "dead_letter":
        raise StreamingValidationError(
            f"node '{node}': on_parse_error: dead_letter is not yet supported",
            context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                         field="input.on_parse_error", expected="fail or drop",
                                         actual="dead_letter"),
            hint="use on_parse_error: fail or drop for now",
        )
    if on_parse_error not in ("fail", "drop"):
        raise StreamingValidationError(
            f"node '{node}': unknown on_parse_error '{on_parse_error}'",
            context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                         field="input.on_parse_error",
                                         expected="fail, drop or dead_letter",
                                         actual=on_parse_error),
        )

    from pyspark.sql.types import StringType, StructField, StructType

    # A new StructType: `add` would change the caller's schema in place.
    with_corrupt = StructType([*struct.fields, StructField(CORRUPT_COLUMN, StringType())])
    value = F.col("value").cast("string")
    parsed = df.withColumn(
        _PARSED, F.from_json(value, with_corrupt, {"columnNameOfCorruptRecord": CORRUPT_COLUMN}))
    bad = F.col(f"{_PARSED}.{CORRUPT_COLUMN}").isNotNull()
    if on_parse_error == "fail":
        parsed = parsed.filter(F.when(bad, F.raise_error(_parse_failure(node, df.columns)))
                               .otherwise(F.lit(True)))
    else:
        parsed = parsed.filter(~bad & F.col("value").isNotNull())
    keep = [F.col(f"{_PARSED}.{name}").alias(name) for name in struct.fieldNames()]
    if include_metadata:
        meta = [F.col("key").cast("string").alias("key")] + [
            F.col(c) for c in METADATA_COLUMNS[1:] if c in df.columns]
        keep = meta + keep
    return parsed.select(*keep)


def _parse_failure(node: str, columns: list[str]) -> Column:
    """The error text of a record that does not parse: where it is and how it starts."""
    from pyspark.sql import functions as F

    where = [F.lit(f"node '{node}': a Kafka record is not valid JSON for the declared json_schema")]
    if {"topic", "partition", "offset"} <= set(columns):
        where += [F.lit(" (topic "), F.col("topic"), F.lit(", partition "),
                  F.col("partition").cast("string"), F.lit(", offset "),
                  F.col("offset").cast("string"), F.lit(")")]
    where += [F.lit("; value starts with: "),
              F.substring(F.col("value").cast("string"), 1, _SAMPLE_CHARS),
              F.lit(". Fix the producer or the schema, or set on_parse_error: drop")]
    return F.concat(*where)


def _schema_error(schema: Any, node_name: str | None, reason: str) -> StreamingValidationError:
    shown = schema if isinstance(schema, str) else type(schema).__name__
    return StreamingValidationError(
        f"node '{node_name or '?'}': json_schema cannot be used as a Spark schema ({reason})",
        context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                     field="input.json_schema",
                                     expected="a DDL string ('id BIGINT, name STRING') or a "
                                              "StructType",
                                     actual=str(shown)[:120]),
    )
