"""The dead-letter stage: records that do not parse go to their own sink, in the same batch.

A node with `on_parse_error: dead_letter` runs through `MicroBatchWriter` (foreachBatch). Its
Kafka reader keeps bad records in the stream, marked by the internal column
`__tauro_dead_letter` (see `streaming.kafka`). Per batch, this stage, on the batch the writer
has cached (Kafka is read once):

1. hands the writer the good rows without the internal column, with an observation that
   counts good and bad records as the main write reads the batch (no job of its own);
2. adds the bad ones as the side output `dead_letter`, written after the good rows. Nothing
   is written when a batch has no bad record, except once, to create the Delta table;
3. reports the counts (`batch.metrics["dead_letter"] = {"records", "good", "bad",
   "target"}`, which the batch listener receives, so they reach the run's results; `good`
   is the rows handed to the output, tombstones included). When no job ran the observation
   (Delta skipped a replayed batch, a `foreach_batch` function did not read it, a later
   stage blocked the batch), one aggregation over the cached batch counts them instead.

Dead-letter rows: `node, batch_id, topic, partition, offset, kafka_timestamp, key, value,
[headers,] error, dead_lettered_at` (key and value as UTF-8 text; `headers` only when the
input reads them).

Replays: a Delta dead-letter table is written with `txnAppId = <node unique id>:dead_letter`
and `txnVersion = <batch id>`, like the node's own Delta output, so a batch replayed after a
crash is written exactly once to both. A Kafka dead-letter topic is at-least-once: Kafka has
no idempotent batch write, so a batch replayed after a crash between its writes sends its
dead letters again (consumers deduplicate on `topic, partition, offset`). The Kafka topic
gets the original key, the original headers, and a JSON value of the other fields; the
connection options are the input's `kafka.*` options, overridden by `dead_letter.options`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tauro_compile.contracts.enforcer import observed_metrics
from tauro_compile.streaming import storage
from tauro_compile.streaming.batch_writer import BatchContext, BatchStage
from tauro_compile.streaming.config import DeadLetterConfig, NodeConfig, OutputConfig
from tauro_compile.streaming.context import spark_from_context
from tauro_compile.streaming.exceptions import StreamingValidationError, create_error_context
from tauro_compile.streaming.kafka import DEAD_LETTER_COLUMN, HEADERS_COLUMN, check_kafka
from tauro_compile.streaming.spark_options import spark_options

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation

METRICS_KEY = "dead_letter"
SIDE_OUTPUT = "dead_letter"


class DeadLetterStage:
    """Splits each batch of a node into good rows and dead letters (see the module doc)."""

    def __init__(self, node: NodeConfig, output: OutputConfig) -> None:
        self.node = node
        self.output = output
        self.target = dead_letter_target(output)
        self._target_exists = output.format != "delta"
        # (batch id, the batch as it reached this stage, the observation of its counts) until
        # the counts are read
        self._pending: tuple[int, DataFrame, Observation] | None = None

    def process(self, batch: BatchContext) -> None:
        """Keep the good rows (counted as they are written), add the bad ones as a side output."""
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        df = batch.df
        if DEAD_LETTER_COLUMN not in df.columns:
            batch.abort(
                f"on_parse_error: dead_letter needs the column {DEAD_LETTER_COLUMN} in the stream "
                "that reaches the output, and a transform removed it: keep it (SELECT *, ... or "
                "withColumn), or move projections and aggregations to a downstream node")
            return
        marker = F.col(DEAD_LETTER_COLUMN)
        observation = Observation(f"tauro_dead_letter_{batch.batch_id}")
        self._pending = (batch.batch_id, df, observation)
        batch.df = (df.observe(observation, *_count_columns(marker))
                    .filter(marker.isNull()).drop(DEAD_LETTER_COLUMN))
        letters = dead_letter_rows(df, self.node.name, batch.batch_id)
        if self.output.format == "kafka":
            letters = as_kafka_records(letters)
        batch.add_side_output(self.output, letters, SIDE_OUTPUT,
                              when=lambda: self._write_letters(batch))

    def _write_letters(self, batch: BatchContext) -> bool:
        """After the main write: write the dead letters if there are some (or no table yet)."""
        if self._counts(batch)["bad"] == 0 and self._exists(batch):
            return False
        self._target_exists = True
        return True

    def settle_metrics(self, batch: BatchContext) -> None:
        # Nothing to count when this stage refused the batch before observing it.
        if self._pending is not None and self._pending[0] == batch.batch_id:
            self._counts(batch)

    def _counts(self, batch: BatchContext) -> dict[str, Any]:
        """The batch's good and bad records (also in `batch.metrics`)."""
        from pyspark.sql import functions as F

        if METRICS_KEY in batch.metrics:
            return batch.metrics[METRICS_KEY]
        assert self._pending is not None and self._pending[0] == batch.batch_id
        _, df, observation = self._pending
        self._pending = None
        counts = observed_metrics(observation)
        if counts is None:  # no job read the observed batch: count the cached one
            counts = df.agg(*_count_columns(F.col(DEAD_LETTER_COLUMN))).first().asDict()
        good, bad = int(counts["good"]), int(counts["bad"])
        batch.metrics[METRICS_KEY] = {"records": good + bad, "good": good, "bad": bad,
                                      "target": self.target}
        return batch.metrics[METRICS_KEY]

    def _exists(self, batch: BatchContext) -> bool:
        if not self._target_exists:
            self._target_exists = storage.is_delta_table(
                batch.spark, path=self.output.path, table_name=self.output.table_name)
        return self._target_exists


def _count_columns(marker: Column) -> list[Column]:
    from pyspark.sql import functions as F

    return [F.count_if(marker.isNull()).alias("good"), F.count_if(marker.isNotNull()).alias("bad")]


def dead_letter_rows(df: DataFrame, node_name: str, batch_id: int) -> DataFrame:
    """The batch's bad records as dead-letter rows."""
    from pyspark.sql import functions as F

    letter = F.col(DEAD_LETTER_COLUMN)
    return df.filter(letter.isNotNull()).select(
        F.lit(node_name).alias("node"), F.lit(batch_id).cast("bigint").alias("batch_id"),
        f"{DEAD_LETTER_COLUMN}.*", F.current_timestamp().alias("dead_lettered_at"))


def as_kafka_records(letters: DataFrame) -> DataFrame:
    """Dead-letter rows as Kafka records: original key and headers, the rest as a JSON value."""
    from pyspark.sql import functions as F

    fields = [c for c in letters.columns if c not in ("key", HEADERS_COLUMN)]
    key = F.col("key") if "key" in letters.columns else F.lit(None).cast("string").alias("key")
    columns = [key, F.to_json(F.struct(*fields)).alias("value")]
    if HEADERS_COLUMN in letters.columns:
        columns.append(F.col(HEADERS_COLUMN))
    return letters.select(*columns)


def dead_letter_output(node: NodeConfig) -> OutputConfig:
    """The node's `dead_letter` section as an output the batch writer can write."""
    config = node.input.dead_letter
    if config is None:
        raise StreamingValidationError(
            f"node '{node.name}': on_parse_error: dead_letter needs a `dead_letter` sink",
            context=create_error_context("dead_letter_output", "dead_letter", node_name=node.name,
                                         field="input.dead_letter",
                                         expected="format: delta with path or table_name, or "
                                                  "format: kafka with topic",
                                         actual="nothing"),
            hint="add input.dead_letter: {format: delta, path: ...}",
        )
    if config.format == "kafka":
        return OutputConfig(format="kafka", options=_kafka_options(node, config))
    return OutputConfig(format="delta", path=config.path, table_name=config.table_name,
                        options=dict(config.options))


def dead_letter_target(output: OutputConfig) -> str:
    """Where dead letters go, for messages and metrics (`kafka topic x`, a path, a table)."""
    if output.format == "kafka":
        return f"kafka topic {output.options.get('topic')}"
    return str(output.table_name or output.path)


def routes_dead_letters(node: NodeConfig) -> bool:
    """True when the node parses its input and sends what does not parse to dead letters."""
    parsed = node.input.parse_json or (node.input.format == "file_stream"
                                       and node.input.file_format in ("json", "csv"))
    return bool(parsed) and node.input.on_parse_error == "dead_letter"


def dead_letter_stages(node: NodeConfig, context: Any) -> list[BatchStage]:
    """The dead-letter stage of a node with `on_parse_error: dead_letter`, else nothing."""
    if not routes_dead_letters(node):
        return []
    output = dead_letter_output(node)
    if output.format == "kafka":
        resolved = spark_options(output.options, node_name=node.name,
                                 field="input.dead_letter.options")
        check_kafka(spark_from_context(context), resolved, node.name, role="output",
                    field="input.dead_letter.options")
    return [DeadLetterStage(node, output)]


def _kafka_options(node: NodeConfig, config: DeadLetterConfig) -> dict[str, Any]:
    inherited = {k: v for k, v in node.input.options.items() if k.startswith("kafka.")}
    return {**inherited, **config.options, "topic": config.topic}

