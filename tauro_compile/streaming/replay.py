"""Replaying a node's dead letters: its parse and transforms again, into its output, once.

A node with `on_parse_error: dead_letter` and a Delta dead-letter table keeps there the raw
records that did not parse (see `dead_letter`). After the schema or the parser is fixed,
`replay_dead_letters` re-feeds them:

1. **claim**: the pending rows of the node (`replayed_at` null, matching `where`) get a fresh
   `replay_id` in one Delta UPDATE (commit `userMetadata` names it); the claim's table
   version is this replay's number;
2. **parse and transform**: Kafka records are rebuilt (key, value, topic, partition, offset,
   timestamp, headers) and go through `parse_kafka_json`; file records are written as lines
   to a scratch directory beside the node's checkpoint and read back with
   `file_parse.load_parsed_files`: the very code the stream uses, with the node's current
   schema. Then the node's transforms; the records that parse now go to the node's output
   through `MicroBatchWriter` (its data contract applies) with `txnAppId = <node id>:replay`
   and `txnVersion = <claim version>`;
3. **finish**: one MERGE marks the claimed rows: `replayed_at` set for those that parse, the
   new `error` (and `replay_id` cleared, so they are pending again) for those that still
   fail.

Exactly once: a replay interrupted after its claim is resumed by the next one (same rows,
same claim version), and Delta skips a write it already committed under that app id and
version; a finished replay leaves no pending row that parses. The two columns `replay_id`
and `replayed_at` are added to the dead-letter table on the first replay (the dead-letter
stage's appends leave them null). A record's identity is its raw text (`value` for Kafka,
`record` for files): two rows with the same text parse the same way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming import storage
from tauro_compile.streaming.kafka import DEAD_LETTER_COLUMN, parse_kafka_json

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tauro_compile.streaming.config import NodeConfig, OutputConfig

CLAIM_MARK = "tauro replay claim "
USER_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"
REPLAY_COLUMNS = (("replay_id", "STRING"), ("replayed_at", "TIMESTAMP"))


@dataclass(frozen=True)
class ReplayCounts:
    """What one replay did (or, with dry_run, would do)."""

    candidates: int        # dead letters replayed (claimed)
    parsed: int            # of them, parsed now (written and marked replayed)
    still_failing: int     # of them, still not parsing (kept, with the new error)
    rows_written: int      # rows the output got (after the transforms; 0 when dry_run)
    resumed: bool = False  # an interrupted replay was finished instead of a new one


def identity_column(node: NodeConfig) -> str:
    """The dead-letter column holding the record's raw text."""
    return "value" if node.input.format == "kafka" else "record"


def replay_dead_letters(spark: SparkSession, node: NodeConfig, unique_id: str,
                        dead_letters: OutputConfig, *, context: Any, scratch: str,
                        where: str | None = None, dry_run: bool = False) -> ReplayCounts:
    """Replay the node's pending dead letters (see the module doc); the counts."""
    from pyspark.sql import functions as F

    where_dl = {"path": dead_letters.path, "table_name": dead_letters.table_name}
    if not storage.is_delta_table(spark, **where_dl):
        return ReplayCounts(0, 0, 0, 0)
    table_sql = storage.delta_identifier(dead_letters.path, dead_letters.table_name)
    if not dry_run:
        _add_replay_columns(spark, table_sql, dead_letters)
    letters = _read(spark, dead_letters).filter(F.col("node") == node.name)
    columns = set(letters.columns)
    pending = letters.filter(F.col("replayed_at").isNull()) if "replayed_at" in columns \
        else letters
    if dry_run:
        rows = pending.filter(F.col("replay_id").isNull()) if "replay_id" in columns else pending
        rows = rows.filter(where) if where else rows
        return _dry_run(spark, node, rows, context, scratch)
    claimed = pending.filter(F.col("replay_id").isNotNull()).select("replay_id").first()
    resumed = claimed is not None
    replay_id = claimed["replay_id"] if resumed else uuid.uuid4().hex
    if not resumed:
        condition = (f"node = '{node.name}' AND replayed_at IS NULL AND replay_id IS NULL"
                     + (f" AND ({where})" if where else ""))
        _with_user_metadata(spark, CLAIM_MARK + replay_id, lambda: spark.sql(
            f"UPDATE {table_sql} SET replay_id = '{replay_id}' WHERE {condition}"))
    version = _claim_version(spark, dead_letters, replay_id)
    rows = (_read(spark, dead_letters)
            .filter((F.col("replay_id") == replay_id) & F.col("replayed_at").isNull())
            .persist())
    try:
        candidates = rows.count()
        if candidates == 0:
            return ReplayCounts(0, 0, 0, 0, resumed)
        parsed = _parse(spark, node, rows, scratch).persist()
        try:
            written = _write(spark, node, unique_id, parsed, version, context)
            outcome = _outcome(node, rows, parsed).persist()
            failing = outcome.filter(F.col("new_error").isNotNull()).join(
                rows.select(identity_column(node)), identity_column(node)).count()
            _finish(spark, dead_letters, node, replay_id, outcome)
            outcome.unpersist()
        finally:
            parsed.unpersist()
            _delete(spark, scratch)
    finally:
        rows.unpersist()
    return ReplayCounts(candidates, candidates - failing, failing, written, resumed)


def _read(spark: SparkSession, output: OutputConfig) -> DataFrame:
    reader = spark.read.format("delta")
    return reader.table(output.table_name) if output.table_name else reader.load(output.path)


def _add_replay_columns(spark: SparkSession, table_sql: str, output: OutputConfig) -> None:
    existing = set(_read(spark, output).columns)
    missing = [f"{name} {kind}" for name, kind in REPLAY_COLUMNS if name not in existing]
    if missing:
        spark.sql(f"ALTER TABLE {table_sql} ADD COLUMNS ({', '.join(missing)})")


def _with_user_metadata(spark: SparkSession, text: str, action: Any) -> None:
    spark.conf.set(USER_METADATA_CONF, text)
    try:
        action()
    finally:
        spark.conf.unset(USER_METADATA_CONF)


def _claim_version(spark: SparkSession, output: OutputConfig, replay_id: str) -> int:
    """The dead-letter table version whose commit claimed `replay_id`'s rows."""
    from pyspark.sql import functions as F

    history = storage.delta_table(spark, path=output.path, table_name=output.table_name).history()
    row = (history.filter(F.col("userMetadata") == CLAIM_MARK + replay_id)
           .select(F.max("version").alias("v")).first())
    if row is None or row["v"] is None:
        raise RuntimeError(f"the claim of replay {replay_id} is not in the dead-letter "
                           "table's history")
    return int(row["v"])


def _parse(spark: SparkSession, node: NodeConfig, rows: DataFrame, scratch: str) -> DataFrame:
    """The claimed records through the node's parse, bad ones marked as in the stream.

    Callers persist the result: Spark refuses a batch query of JSON/CSV files that reads only
    the corrupt-record column (UNSUPPORTED_FEATURE.QUERY_ONLY_CORRUPT_RECORD_COLUMN) unless
    the parsed rows are cached.
    """
    from pyspark.sql import functions as F

    inp = node.input
    if inp.format == "kafka":
        columns = [F.col("key").cast("binary").alias("key"),
                   F.col("value").cast("binary").alias("value"), "topic", "partition",
                   "offset", F.col("kafka_timestamp").alias("timestamp")]
        if "headers" in rows.columns:
            columns.append("headers")
        return parse_kafka_json(rows.select(*columns), inp.json_schema, "dead_letter",
                                inp.include_metadata, node_name=node.name)
    from tauro_compile.streaming.file_parse import load_parsed_files
    from tauro_compile.streaming.spark_options import spark_options

    rows.select("record").write.mode("overwrite").text(scratch)
    options = spark_options(inp.options, node_name=node.name, field="input.options")
    options["header"] = "false"  # the records are data lines, never a header
    reader = spark.read.format(inp.file_format or "json").options(**options)
    return load_parsed_files(reader, inp, node.name, scratch)


def _write(spark: SparkSession, node: NodeConfig, unique_id: str, parsed: DataFrame,
           version: int, context: Any) -> int:
    """The records that parse, transformed, written once to the node's output."""
    from pyspark.sql import functions as F

    from tauro_compile.streaming.batch_writer import (
        DeltaBatchSink,
        MicroBatchWriter,
        stages_for,
    )
    from tauro_compile.streaming.dead_letter import DeadLetterStage
    from tauro_compile.streaming.transforms import apply_transforms

    good = apply_transforms(parsed, node, spark)
    good = good.filter(F.col(DEAD_LETTER_COLUMN).isNull()).drop(DEAD_LETTER_COLUMN)
    stages = [s for s in stages_for(node, context) if not isinstance(s, DeadLetterStage)]
    seen: dict[str, Any] = {}
    writer = MicroBatchWriter(node, DeltaBatchSink(node.output, node.streaming.output_mode.value,
                                                   node.name),
                              unique_id=f"{unique_id}:replay", stages=stages,
                              on_batch=lambda _n, _b, info: seen.update(info))
    writer(good, version)
    return int(seen.get("outputs", {}).get("main", {}).get("rows") or 0)


def _outcome(node: NodeConfig, rows: DataFrame, parsed: DataFrame) -> DataFrame:
    """Per distinct raw text of the claimed rows: its new error, or null when it parses."""
    from pyspark.sql import functions as F

    ident = identity_column(node)
    bad = (parsed.filter(F.col(DEAD_LETTER_COLUMN).isNotNull())
           .select(F.col(f"{DEAD_LETTER_COLUMN}.{ident}").alias(ident),
                   F.col(f"{DEAD_LETTER_COLUMN}.error").alias("new_error"))
           .groupBy(ident).agg(F.first("new_error").alias("new_error")))
    return rows.select(ident).distinct().join(bad, ident, "left")


def _finish(spark: SparkSession, output: OutputConfig, node: NodeConfig, replay_id: str,
            outcome: DataFrame) -> None:
    """One MERGE: parsed rows marked replayed, failing ones get their new error back."""
    ident = identity_column(node)
    table = storage.delta_table(spark, path=output.path, table_name=output.table_name)
    (table.alias("t").merge(outcome.alias("s"),
                            f"t.replay_id = '{replay_id}' AND t.replayed_at IS NULL "
                            f"AND t.`{ident}` <=> s.`{ident}`")
     .whenMatchedUpdate(condition="s.new_error IS NOT NULL",
                        set={"error": "s.new_error", "replay_id": "NULL"})
     .whenMatchedUpdate(set={"replayed_at": "current_timestamp()"})
     .execute())


def _dry_run(spark: SparkSession, node: NodeConfig, rows: DataFrame, context: Any,
             scratch: str) -> ReplayCounts:
    from pyspark.sql import functions as F

    rows = rows.persist()
    try:
        candidates = rows.count()
        if candidates == 0:
            return ReplayCounts(0, 0, 0, 0)
        parsed = _parse(spark, node, rows, scratch).persist()
        outcome = _outcome(node, rows, parsed).filter(F.col("new_error").isNotNull())
        failing = rows.join(outcome, identity_column(node)).count()
        parsed.unpersist()
    finally:
        rows.unpersist()
        _delete(spark, scratch)
    return ReplayCounts(candidates, candidates - failing, failing, 0)


def _delete(spark: SparkSession, path: str) -> None:
    fs, hadoop_path = storage._filesystem(spark, path)
    if fs.exists(hadoop_path):
        fs.delete(hadoop_path, True)


def where_problem(spark: SparkSession, output: OutputConfig, where: str) -> str | None:
    """Why `where` is not a condition Spark can apply to the dead-letter table, or None."""
    if not storage.is_delta_table(spark, path=output.path, table_name=output.table_name):
        return None
    try:
        _read(spark, output).filter(where).limit(0).collect()
    except Exception as exc:  # noqa: BLE001 - Spark's parse or analysis error, shown whole
        text = str(exc).strip().splitlines()
        return text[0][:300] if text else type(exc).__name__
    return None


def dead_letter_columns(spark: SparkSession, output: OutputConfig) -> list[str]:
    """The dead-letter table's columns (for hints)."""
    return _read(spark, output).columns
