"""Records of a JSON or CSV file stream that do not fit the declared schema: never silent nulls.

Spark's default (PERMISSIVE) turns a truncated or non-matching line into a row of nulls and
tells nobody. A `file_stream` with `file_format: json | csv` is therefore read with Spark's
corrupt-record column (`columnNameOfCorruptRecord`, mode PERMISSIVE): a line Spark could not
parse into the schema (not JSON, a field whose value does not fit its type, a CSV line with
a malformed value) has its raw text there. Then, as for Kafka (`on_parse_error`):

- `fail` (default): the micro-batch fails naming the node, the file and how the record
  starts; nothing of the batch is written;
- `drop`: the record is dropped (and counted);
- `dead_letter`: the record stays in the stream marked by `__tauro_dead_letter`
  (`file, record, error`), and the dead-letter stage writes it to the dead-letter sink in
  the same micro-batch as the good rows.

Every batch counts its records in the query progress: `observedMetrics` has
`{"tauro_file_parse": {"records": n, "good": g, "bad": b}}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.kafka import CORRUPT_COLUMN, DEAD_LETTER_COLUMN, to_struct_type

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.streaming import DataStreamReader

    from tauro_compile.streaming.config import InputConfig

FILE_PARSE_METRIC = "tauro_file_parse"
PARSED_FORMATS = ("json", "csv")
_SAMPLE_CHARS = 200


def handles(inp: InputConfig) -> bool:
    """True when the input's records are parsed (and so may not parse)."""
    return inp.format == "file_stream" and inp.file_format in PARSED_FORMATS and \
        isinstance(inp.schema_, str)


def load_parsed_files(reader: DataStreamReader, inp: InputConfig, node_name: str,
                      path: str) -> DataFrame:
    """The file stream with bad records failed, dropped or marked (see the module doc)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    struct = to_struct_type(inp.schema_, node_name=node_name)
    with_corrupt = StructType([*struct.fields, StructField(CORRUPT_COLUMN, StringType())])
    df = (reader.schema(with_corrupt).option("mode", "PERMISSIVE")
          .option("columnNameOfCorruptRecord", CORRUPT_COLUMN).load(path))
    corrupt = F.col(CORRUPT_COLUMN)
    bad = corrupt.isNotNull()
    df = df.observe(FILE_PARSE_METRIC, F.count(F.lit(1)).alias("records"),
                    F.count_if(~bad).alias("good"), F.count_if(bad).alias("bad"))
    columns = [F.col(f"`{name}`") for name in struct.fieldNames()]
    mode = inp.on_parse_error
    if mode == "fail":
        df = df.filter(F.when(bad, F.raise_error(_failure_text(node_name, inp)))
                       .otherwise(F.lit(True)))
    elif mode == "drop":
        df = df.filter(~bad)
    if mode == "dead_letter":
        columns.append(F.when(bad, F.struct(
            F.col("_metadata.file_path").alias("file"), corrupt.alias("record"),
            F.lit(f"the record does not fit the declared {inp.file_format} schema")
            .alias("error"))).alias(DEAD_LETTER_COLUMN))
    return df.select(*columns)


def _failure_text(node: str, inp: InputConfig) -> Column:
    from pyspark.sql import functions as F

    return F.concat(
        F.lit(f"node '{node}': a record of "), F.col("_metadata.file_path"),
        F.lit(f" does not parse with the declared {inp.file_format} schema; record starts "
              "with: "), F.substring(F.col(CORRUPT_COLUMN), 1, _SAMPLE_CHARS),
        F.lit(". Fix the file or input.schema, or set on_parse_error: drop or dead_letter"),
    )


def parse_counts(doc: dict[str, Any]) -> dict[str, int] | None:
    """The `tauro_file_parse` counts of one progress document, if any."""
    row = (doc.get("observedMetrics") or {}).get(FILE_PARSE_METRIC)
    if not isinstance(row, dict):
        return None
    return {k: int(row.get(k) or 0) for k in ("records", "good", "bad")}
