"""The checkpoint-compatibility rule against real Spark: for each kind of change it calls
incompatible, the verdict is right AND Spark itself refuses or misbehaves on that change
(so the rule is not invented); a change it calls compatible runs and stays correct.

Each case runs two tiny `availableNow` queries (a Delta source, a foreachBatch sink that
keeps the rows) on the shared session: the first on a fresh
checkpoint (its shape recorded as `tauro run` records it), the second, changed, on the same
checkpoint after new input rows arrived (Spark only checks state when a batch runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tauro_compile.streaming.checkpoint_compat import (
    COMPATIBLE,
    INCOMPATIBLE,
    NEW,
    UNCHANGED,
    Verdict,
)
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.query_shape import record_shape, verdict_for

pytestmark = pytest.mark.spark

Query = Callable[[Any], Any]


@dataclass
class Case:
    """A source table, one checkpoint and one output, shared by a case's two queries."""

    spark: Any
    root: Path
    rows: int = 0
    written: list[tuple[Any, ...]] = field(default_factory=list)   # append: every batch
    last_batch: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def source(self) -> str:
        return str(self.root / "src")

    def add_rows(self, count: int = 6, source: str | None = None) -> None:
        """`count` rows: id, k = id % 2, j = id % 3, ts in 2030, ts_old in 2000."""
        start = self.rows
        self.spark.range(start, start + count).selectExpr(
            "id", "id % 2 AS k", "id % 3 AS j",
            "timestamp_seconds(1900000000 + id) AS ts",
            "timestamp_seconds(946684800 + id) AS ts_old",
        ).write.format("delta").mode("append").save(source or self.source)
        self.rows += count

    def verdict(self, query: Query, mode: str = "append") -> Verdict:
        """The verdict for `query` on the checkpoint, nothing run."""
        df = query(self.spark.readStream.format("delta").load(self.source))
        return verdict_for(df, self.node(self.source, mode), self.spark,
                           str(self.root / "checkpoint"))[0]

    def node(self, source: str, mode: str) -> NodeConfig:
        return NodeConfig.model_validate({
            "name": "gold", "input": {"format": "delta", "path": source},
            "output": {"format": "delta", "path": str(self.root / "out")},
            "streaming": {"output_mode": mode, "trigger": {"type": "available_now"}}})

    def run(self, query: Query, mode: str = "append", source: str | None = None,
            ) -> tuple[Verdict, Exception | None]:
        """New rows, then the verdict for `query` on the checkpoint, then Spark runs it."""
        src = source or self.source
        self.add_rows(source=src)
        df = query(self.spark.readStream.format("delta").load(src))
        node = self.node(src, mode)
        checkpoint = str(self.root / "checkpoint")
        verdict, shape = verdict_for(df, node, self.spark, checkpoint)
        def write(batch: Any, batch_id: int) -> None:
            rows = [tuple(r) for r in batch.collect()]
            self.last_batch = rows
            self.written.extend(rows)

        try:
            started = (df.writeStream.foreachBatch(write).outputMode(mode)
                       .option("checkpointLocation", checkpoint)
                       .trigger(availableNow=True).start())
            started.awaitTermination()
        except Exception as exc:  # noqa: BLE001 - Spark's refusal is the point
            return verdict, exc
        record_shape(self.spark, checkpoint, shape)
        return verdict, None

    def output(self, mode: str = "append") -> list[tuple[Any, ...]]:
        """What the sink holds: every row written (append), or the last batch (complete)."""
        return sorted(self.last_batch if mode == "complete" else self.written)


def first_run(case: Case, query: Query, mode: str = "append") -> None:
    verdict, error = case.run(query, mode)
    assert error is None, error
    assert verdict.status == NEW


def incompatible(verdict: Verdict, words: str) -> None:
    assert verdict.status == INCOMPATIBLE, verdict
    assert any(words in c.what and not c.compatible for c in verdict.changes), verdict.changes
    assert verdict.remedy == "tauro run --full-refresh -s gold+"


def count_by(column: str, cast: str | None = None) -> Query:
    def query(df: Any) -> Any:
        key = df[column].cast(cast) if cast else df[column]
        return df.groupBy(key.alias("k")).count()
    return query


@pytest.fixture
def case(spark, tmp_path: Path) -> Case:
    return Case(spark, tmp_path)


def test_grouping_key_of_another_type_spark_refuses(case: Case) -> None:
    first_run(case, count_by("k"), "complete")
    assert case.verdict(count_by("k"), "complete").status == UNCHANGED
    verdict, error = case.run(count_by("k", "string"), "complete")
    incompatible(verdict, "grouping keys")
    assert "STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE" in str(error)


def test_grouping_key_of_the_same_type_spark_silently_mixes_state(case: Case) -> None:
    first_run(case, count_by("k"), "complete")
    verdict, error = case.run(count_by("j"), "complete")
    incompatible(verdict, "grouping keys")
    assert error is None
    # Grouped by j from the start, 12 rows give 4 per value; Spark kept k's counts instead.
    assert dict(case.output("complete")) == {0: 3 + 2, 1: 3 + 2, 2: 2}


def test_aggregate_changed_spark_refuses_the_value_schema(case: Case) -> None:
    from pyspark.sql import functions as F

    first_run(case, count_by("k"), "complete")
    verdict, error = case.run(lambda df: df.groupBy("k").agg(F.sum("id")), "complete")
    incompatible(verdict, "state of aggregate")
    assert "STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE" in str(error)


def test_stateful_operator_removed_spark_refuses(case: Case) -> None:
    first_run(case, count_by("k"), "complete")
    verdict, error = case.run(lambda df: df.select("k", "id"), "append")
    incompatible(verdict, "stateful operator removed")
    assert "STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA" in str(error)


def test_stateful_operator_added_spark_refuses(case: Case) -> None:
    first_run(case, lambda df: df.select("k", "id"))
    verdict, error = case.run(lambda df: df.select("k", "id").dropDuplicates(["k"]))
    incompatible(verdict, "stateful operator added")
    assert error is not None
    assert "STATE" in str(error).upper()


def test_dedup_keys_changed_spark_refuses(case: Case) -> None:
    first_run(case, lambda df: df.dropDuplicates(["k"]).select("k", "id"))
    verdict, error = case.run(lambda df: df.dropDuplicates(["k", "j"]).select("k", "id"))
    incompatible(verdict, "dedup keys")
    assert "STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE" in str(error)


def test_source_changed_delta_refuses_another_table(case: Case) -> None:
    first_run(case, lambda df: df.select("k", "id"))
    other = str(case.root / "other_src")
    verdict, error = case.run(lambda df: df.select("k", "id"), source=other)
    incompatible(verdict, "source changed")
    assert "DIFFERENT_DELTA_TABLE_READ_BY_STREAMING_SOURCE" in str(error)


def test_shuffle_partitions_of_a_stateful_query_spark_ignores_the_new_value(
        case: Case) -> None:
    first_run(case, count_by("k"), "complete")
    case.spark.conf.set("spark.sql.shuffle.partitions", "3")
    try:
        verdict, error = case.run(count_by("k"), "complete")
    finally:
        case.spark.conf.set("spark.sql.shuffle.partitions", "2")
    incompatible(verdict, "shuffle partitions")
    assert error is None
    # The state is still split in the checkpoint's 2 partitions: the new 3 never applied.
    assert sorted(os.listdir(case.root / "checkpoint" / "state" / "0")) == ["0", "1",
                                                                           "_metadata"]


def test_watermark_column_changed_spark_silently_drops_rows(case: Case) -> None:
    def dedup_on(column: str) -> Query:
        return lambda df: (df.withWatermark(column, "0 seconds")
                           .dropDuplicatesWithinWatermark(["id"]).select("id"))

    first_run(case, dedup_on("ts"))
    assert case.verdict(dedup_on("ts")).status == UNCHANGED   # built again: the same shape
    before = len(case.output())
    verdict, error = case.run(dedup_on("ts_old"))
    incompatible(verdict, "watermark column")
    assert error is None
    # Six new, distinct rows; the checkpoint's watermark (2030) dropped every one of them.
    assert len(case.output()) == before == 6


def test_stateless_filter_added_is_compatible_and_spark_runs_it(case: Case) -> None:
    first_run(case, lambda df: df.select("k", "id"))
    verdict, error = case.run(lambda df: df.where("k = 1").select("k", "id"))
    assert verdict.status == COMPATIBLE, verdict
    assert error is None
    assert [row for row in case.output() if row[1] >= 6] == [(1, 7), (1, 9), (1, 11)]


def test_output_mode_of_a_stateful_query_changed_spark_loses_and_repeats_windows(
        case: Case) -> None:
    from pyspark.sql import functions as F

    def per_window(df: Any) -> Any:   # 2-second windows: ids 0-1, 2-3, ... (1 s apart)
        return (df.withWatermark("ts", "0 seconds")
                .groupBy(F.window("ts", "2 seconds")).count())

    first_run(case, per_window, "append")                    # ids 0-5
    verdict, error = case.run(per_window, "update")          # ids 6-11
    incompatible(verdict, "output mode changed")
    assert error is None                                     # Spark accepts the change...
    verdict, error = case.run(per_window, "append")          # ids 12-17
    incompatible(verdict, "output mode changed")
    assert error is None
    first_ids = sorted(int(row[0].start.timestamp()) - 1900000000 for row in case.written)
    # ...and an append sink, where every window comes once, got window 4-5 never (update
    # mode evicted it without emitting it) and window 10-11 twice (emitted as an update,
    # then again as final).
    assert first_ids == [0, 2, 6, 8, 10, 10, 12, 14]
