"""The checkpoint-compatibility rule on recorded shapes (no JVM): each kind of change gets
the verdict tests/integration/streaming/test_checkpoint_compat_spark.py shows Spark
justifying; records round-trip through their JSON."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from tauro_compile.streaming.checkpoint_compat import (
    COMPATIBLE,
    INCOMPATIBLE,
    NEW,
    UNCHANGED,
    CheckpointFacts,
    QueryShape,
    StatefulOp,
    compare,
)

TOTALS = QueryShape(
    node="totals", fingerprint="f1", sources=("delta:/p/warehouse/orders",),
    sink="delta:/p/warehouse/totals", output_mode="complete", trigger="available_now",
    sink_options="o1", columns=("customer_id string", "total double"),
    stateful=(StatefulOp("aggregate", ("customer_id string",), "sum(amount)"),),
    watermarks=(), shuffle_partitions="2", query="q1", project_dir="/p")
CLEAN = QueryShape(
    node="clean", fingerprint="f2", sources=("kafka:subscribe=orders",),
    sink="delta:/p/warehouse/clean", output_mode="append", trigger="processing_time 10 seconds",
    sink_options="o2", columns=("id bigint", "ts timestamp"), query="q2", project_dir="/p")


def facts(recorded: QueryShape | None, **kw: object) -> CheckpointFacts:
    return CheckpointFacts("/p/chk/x", exists=True, recorded=recorded, **kw)  # type: ignore[arg-type]


def verdict(old: QueryShape, **changed: object):
    return compare(facts(old), replace(old, **changed))  # type: ignore[arg-type]


def test_no_checkpoint_is_new_and_same_shape_is_unchanged() -> None:
    assert compare(CheckpointFacts("/p/chk/x", exists=False), TOTALS).status == NEW
    same = compare(facts(TOTALS), TOTALS)
    assert (same.status, same.changes, same.remedy) == (UNCHANGED, (), None)


@pytest.mark.parametrize(("changed", "words"), [
    ({"stateful": (StatefulOp("aggregate", ("region string",), "sum(amount)"),)},
     "grouping keys of aggregate #0 changed: (customer_id string) -> (region string)"),
    ({"stateful": (StatefulOp("aggregate", ("customer_id string",), "count(1)"),)},
     "state of aggregate #0 changed: [sum(amount)] -> [count(1)]"),
    ({"stateful": ()}, "stateful operator removed"),
    ({"stateful": (*TOTALS.stateful, StatefulOp("dedup", ("id bigint",)))},
     "stateful operator added"),
    ({"stateful": (StatefulOp("dedup", ("customer_id string",)),)},
     "stateful operator replaced"),
    ({"sources": ("delta:/p/warehouse/orders_v2",)}, "source changed"),
    ({"sources": (*TOTALS.sources, "stream 2: abc")}, "source changed"),
    ({"output_mode": "update"}, "output mode changed: complete -> update"),
    ({"shuffle_partitions": "8"}, "shuffle partitions of a stateful query changed: 2 -> 8"),
    ({"sink": "delta:/p/warehouse/totals_v2"}, "output changed"),
])
def test_incompatible_changes_name_the_change_and_the_remedy(changed, words) -> None:
    found = verdict(TOTALS, **changed)
    assert found.status == INCOMPATIBLE
    assert any(words in c.what and not c.compatible for c in found.changes), found.changes
    assert found.remedy == "tauro run --full-refresh -s totals+"
    assert all(c.why for c in found.changes if not c.compatible)


def test_dedup_keys_and_watermark_column_of_a_stateful_query() -> None:
    dedup = replace(CLEAN, stateful=(StatefulOp("dedup", ("id bigint",)),),
                    watermarks=("ts 10 minutes",))
    keys = verdict(dedup, stateful=(StatefulOp("dedup", ("id bigint", "ts timestamp")),))
    assert keys.status == INCOMPATIBLE and "dedup keys of dedup #0" in keys.changes[0].what
    column = verdict(dedup, watermarks=("ingested_at 10 minutes",))
    assert column.status == INCOMPATIBLE
    assert column.changes[0].what.startswith("watermark column changed")
    delay = verdict(dedup, watermarks=("ts 1 hour",))
    assert delay.status == COMPATIBLE and "watermark delay changed" in delay.changes[0].what


@pytest.mark.parametrize(("changed", "words"), [
    ({"trigger": "processing_time 1 minute"}, "trigger changed"),
    ({"sink_options": "o9"}, "output options changed"),
    ({"columns": ("id bigint", "ts timestamp", "day date"), "fingerprint": "f3"},
     "output columns changed: added day date"),
    ({"query": "q9", "fingerprint": "f3"}, "without touching its state"),
    ({"output_mode": "update"}, "the query keeps no state"),
    ({"shuffle_partitions": "8", "fingerprint": "f3"}, "without touching its state"),
    ({"watermarks": ("ts 1 minute",)}, "the query keeps no state"),
])
def test_compatible_changes_of_a_stateless_query(changed, words) -> None:
    found = verdict(CLEAN, **changed)
    assert found.status == COMPATIBLE, found
    assert any(words in c.what for c in found.changes), found.changes
    assert found.remedy is None


def test_a_kafka_output_topic_may_change_a_delta_path_may_not() -> None:
    topic = verdict(replace(CLEAN, sink="kafka:topic=a"), sink="kafka:topic=b")
    assert topic.status == COMPATIBLE
    assert topic.changes[0].what == "Kafka output topic changed: kafka:topic=a -> kafka:topic=b"
    assert verdict(CLEAN, sink="delta:/p/warehouse/clean_v2").status == INCOMPATIBLE


def test_a_moved_project_rebases_its_own_paths() -> None:
    moved = replace(TOTALS, project_dir="/q", sources=("delta:/q/warehouse/orders",),
                    sink="delta:/q/warehouse/totals", fingerprint="f9")
    found = compare(facts(TOTALS), moved)
    assert found.status == COMPATIBLE, found
    assert found.notes == ("the project moved from /p to /q",)
    elsewhere = replace(moved, sources=("delta:/elsewhere/orders",))
    assert compare(facts(TOTALS), elsewhere).status == INCOMPATIBLE


def test_a_checkpoint_holding_the_old_folders_file_paths_gives_the_choices() -> None:
    found = compare(facts(CLEAN, foreign_paths=(
        ("/q/chk/clean/sources/0/3", "/p/landing", "/q/landing", "Spark fails"),)),
        replace(CLEAN, project_dir="/q"))
    assert found.status == INCOMPATIBLE
    change = found.changes[-1]
    assert change.what == "/q/chk/clean/sources/0/3 holds the absolute path /p/landing, not /q/landing"
    assert "move the project back" in change.why and "set the profile's paths" in change.why
    assert "tauro run --full-refresh -s clean+" in change.why


def test_without_a_record_spark_own_files_are_compared() -> None:
    unrecorded = compare(facts(None, shuffle_partitions="4", state_operators=("stateStoreSave",)),
                         TOTALS)
    assert unrecorded.status == INCOMPATIBLE
    assert "shuffle partitions of a stateful query changed: 4 -> 2" in unrecorded.changes[0].what
    assert "before Tauro recorded" in unrecorded.notes[0]
    gone = compare(facts(None, state_operators=("stateStoreSave",)), CLEAN)
    assert gone.status == INCOMPATIBLE and "keeps state for 1" in gone.changes[0].what
    fine = compare(facts(None, state_operators=("stateStoreSave",), shuffle_partitions="2"),
                   TOTALS)
    assert fine.status == UNCHANGED


def test_a_record_round_trips_through_json_and_bad_records_are_refused() -> None:
    text = json.dumps(TOTALS.to_dict())
    assert QueryShape.from_dict(json.loads(text)) == TOTALS
    with pytest.raises(ValueError, match="not a recorded query shape"):
        QueryShape.from_dict({"node": "x"})


def test_over_spark_connect_the_comparison_is_refused_with_a_way_out() -> None:
    from tauro_compile.streaming.config import NodeConfig
    from tauro_compile.streaming.exceptions import StreamingValidationError
    from tauro_compile.streaming.query_shape import CheckpointGuard, verdict_for

    class ConnectSession:
        pass

    ConnectSession.__module__ = "pyspark.sql.connect.session"
    node = NodeConfig.model_validate({"name": "n", "input": {"format": "rate"},
                                      "output": {"format": "console"}})
    with pytest.raises(StreamingValidationError, match="Spark Connect") as caught:
        verdict_for(None, node, ConnectSession(), "/p/chk/n")  # type: ignore[arg-type]
    assert "local or cluster profile" in (caught.value.hint or "")
    guard = CheckpointGuard(ConnectSession(), node, "/p/chk/n", None)  # type: ignore[arg-type]
    guard.check()   # a run over Connect is left to Spark's own checks
    guard.record()
    assert guard.verdict is None


def test_a_record_that_cannot_be_written_is_logged_not_raised(caplog) -> None:
    from tauro_compile.streaming.config import NodeConfig
    from tauro_compile.streaming.query_shape import CheckpointGuard

    node = NodeConfig.model_validate({"name": "totals", "input": {"format": "rate"},
                                      "output": {"format": "console"}})
    guard = CheckpointGuard.__new__(CheckpointGuard)
    guard.spark, guard.node, guard.location = object(), node, "/p/chk/totals"
    guard.active, guard.shape, guard.verdict = True, TOTALS, None
    guard.record()   # the query already runs: failing here would leave it unwatched
    assert "could not record its query shape beside /p/chk/totals" in caplog.text
