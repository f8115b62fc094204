"""A run with nothing new is told from the checkpoint files alone, before Spark starts.

The checkpoints here are written by hand in the shapes Spark and Delta write them (the
integration tests in tests/integration/streaming/test_spark_engine.py check, on real runs,
that this JVM-less reading always agrees with the one through Hadoop's FileSystem).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tauro_compile.runner.nothing_new import NothingNewEngine, nothing_new
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.plan import PlannedNode, RunPlan, SparkSettings
from tauro_compile.streaming.query_shape import node_fingerprint, record_path
from tauro_compile.streaming.state import NodeState
from tauro_compile.streaming.supervisor import RunSupervisor

OFFSET_META = '{"batchWatermarkMs":0,"batchTimestampMs":1,"conf":{}}'


def _settled(checkpoint: Path, batch: int, offset: dict) -> None:
    """`offsets/N` and `commits/N` of a finished batch N with one source."""
    (checkpoint / "offsets").mkdir(parents=True, exist_ok=True)
    (checkpoint / "commits").mkdir(exist_ok=True)
    (checkpoint / "offsets" / str(batch)).write_text(
        f"v1\n{OFFSET_META}\n{json.dumps(offset)}")
    (checkpoint / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')


def _file_log(checkpoint: Path, files: list[Path]) -> None:
    """A file source that read `files` in batch 0 (its `sources/0/0` log file)."""
    log = checkpoint / "sources" / "0"
    log.mkdir(parents=True, exist_ok=True)
    entries = [json.dumps({"path": f.as_uri(), "timestamp": f.stat().st_mtime_ns // 10**6,
                           "batchId": 0}) for f in files]
    (log / "0").write_text("\n".join(["v1", *entries]))
    _settled(checkpoint, 0, {"logOffset": 0})


def _delta_table(path: Path, versions: int) -> None:
    (path / "_delta_log").mkdir(parents=True, exist_ok=True)
    for version in range(versions):
        (path / "_delta_log" / f"{version:020d}.json").write_text('{"commitInfo":{}}\n')


def _delta_read(checkpoint: Path, version: int) -> None:
    """A Delta source that read every commit up to `version`."""
    _settled(checkpoint, 0, {"sourceVersion": 1, "reservoirId": "t", "reservoirVersion":
                             version + 1, "index": -1, "isStartingVersion": False})


def _node(name: str, tmp: Path, input_: dict, *, depends_on: tuple[str, ...] = (),
          trigger: str = "available_now") -> PlannedNode:
    trig = {"type": trigger} if trigger == "available_now" else {"type": trigger,
                                                                 "interval": "1 second"}
    config = NodeConfig.model_validate({
        "name": name, "input": input_,
        "output": {"format": "delta", "path": str(tmp / "out" / name)},
        "streaming": {"trigger": trig, "checkpoint_location": str(tmp / "chk" / name)},
    })
    return PlannedNode(name=name, unique_id=f"t.{name}", config=config, depends_on=depends_on)


def _started(node: PlannedNode) -> PlannedNode:
    """What Tauro records beside the checkpoint when it starts the node's query."""
    path = Path(record_path(str(node.config.streaming.checkpoint_location)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"node": node.name,
                                "fingerprint": node_fingerprint(node.config)}))
    return node


def _plan(tmp: Path, *nodes: PlannedNode, **spark: object) -> RunPlan:
    return RunPlan(project_name="t", project_dir=tmp, target_dir=tmp / "target",
                   profile="dev", nodes=nodes, spark=SparkSettings(**spark))


@pytest.fixture
def chain(tmp_path: Path) -> tuple[Path, PlannedNode, PlannedNode]:
    """files -> bronze -> silver, both caught up: bronze logged both files, silver read
    bronze's table to its latest version 1."""
    landing = tmp_path / "landing"
    landing.mkdir()
    files = [landing / "a.json", landing / "b c.json"]
    for f in files:
        f.write_text('{"id": 1}\n')
    (landing / "_SUCCESS").write_text("")          # skipped by Spark's listing, and here
    _file_log(tmp_path / "chk" / "bronze", files)
    _delta_table(tmp_path / "out" / "bronze", 2)
    _delta_read(tmp_path / "chk" / "silver", 1)
    bronze = _started(_node("bronze", tmp_path, {"format": "file_stream", "path": str(landing),
                                                 "file_format": "json", "schema": "id INT"}))
    silver = _started(_node("silver", tmp_path, {"format": "delta", "path": str(tmp_path /
                                                                               "out" / "bronze")},
                            depends_on=("bronze",)))
    return tmp_path, bronze, silver


def test_every_node_caught_up_gives_every_reason_and_a_run_that_starts_nothing(chain) -> None:
    tmp, bronze, silver = chain
    plan = _plan(tmp, bronze, silver)
    reasons = nothing_new(plan)
    assert reasons == {
        "bronze": f"up to date: its checkpoint has read every file in {tmp / 'landing'} "
                  "(2 files)",
        "silver": f"up to date: its checkpoint has read {tmp / 'out' / 'bronze'} to its "
                  "latest version 1",
    }
    outcome = RunSupervisor(plan, NothingNewEngine(reasons), poll_interval=0).run()
    assert outcome.status == "succeeded" and outcome.exit_code == 0
    assert [(r.name, r.state, r.reason, r.started_at) for r in outcome.records] == [
        ("bronze", NodeState.SUCCEEDED, reasons["bronze"], None),
        ("silver", NodeState.SUCCEEDED, reasons["silver"], None)]


def test_a_new_file_a_rewritten_file_or_a_new_commit_needs_spark(chain) -> None:
    tmp, bronze, silver = chain
    plan = _plan(tmp, bronze, silver)
    (tmp / "landing" / "new.json").write_text('{"id": 2}\n')
    assert nothing_new(plan) is None
    (tmp / "landing" / "new.json").unlink()
    assert nothing_new(plan) is not None
    old = (tmp / "landing" / "a.json").stat()
    os.utime(tmp / "landing" / "a.json", ns=(old.st_atime_ns, old.st_mtime_ns + 10**9))
    assert nothing_new(plan) is None
    os.utime(tmp / "landing" / "a.json", ns=(old.st_atime_ns, old.st_mtime_ns))
    assert nothing_new(plan) is not None
    _delta_table(tmp / "out" / "bronze", 3)                # bronze's table got version 2
    assert nothing_new(plan) is None


def test_only_bounded_runs_on_a_local_master_with_local_paths_are_told_without_spark(
        chain) -> None:
    tmp, bronze, silver = chain
    assert nothing_new(_plan(tmp, bronze, silver)) is not None
    assert nothing_new(_plan(tmp, bronze, silver, remote="sc://localhost:15002")) is None
    assert nothing_new(_plan(tmp, bronze, silver, master="spark://host:7077")) is None
    # a default file system elsewhere would send the plain paths there
    assert nothing_new(_plan(tmp, bronze, silver,
                             conf={"spark.hadoop.fs.defaultFS": "hdfs://nn:8020"})) is None
    continuous = _node("silver", tmp, silver.config.input.model_dump(by_alias=True),
                       depends_on=("bronze",), trigger="processing_time")
    assert nothing_new(_plan(tmp, bronze, continuous)) is None
    remote = _node("silver", tmp, {"format": "delta", "path": "s3a://bucket/bronze"},
                   depends_on=("bronze",))
    assert nothing_new(_plan(tmp, bronze, remote)) is None
    kafka = _node("k", tmp, {"format": "kafka", "options": {
        "kafka.bootstrap.servers": "localhost:9092", "subscribe": "t"}})
    assert nothing_new(_plan(tmp, bronze, silver, kafka)) is None


def test_a_node_changed_since_its_query_last_started_needs_spark(chain) -> None:
    """Even a change its checkpoint can take: the run-time guard judges it, and records it."""
    tmp, bronze, silver = chain
    changed = _node("silver", tmp, {"format": "delta", "path": str(tmp / "out" / "bronze"),
                                    "options": {"maxFilesPerTrigger": 5}},
                    depends_on=("bronze",))
    assert nothing_new(_plan(tmp, bronze, changed)) is None
    record = Path(record_path(str(silver.config.streaming.checkpoint_location)))
    record.unlink()                                          # never recorded: cannot tell
    assert nothing_new(_plan(tmp, bronze, silver)) is None
    _started(silver)
    assert nothing_new(_plan(tmp, bronze, silver)) is not None


def test_a_staged_delta_commit_is_never_taken_as_read(chain) -> None:
    tmp, bronze, silver = chain
    staged = tmp / "out" / "bronze" / "_delta_log" / "_staged_commits"
    staged.mkdir()
    assert nothing_new(_plan(tmp, bronze, silver)) is not None   # Delta 4 makes it empty
    (staged / f"{2:020d}.uuid.json").write_text("{}\n")
    assert nothing_new(_plan(tmp, bronze, silver)) is None


def test_a_downstream_reader_needs_its_upstream_table_to_exist(chain) -> None:
    tmp, bronze, silver = chain
    for commit in (tmp / "out" / "bronze" / "_delta_log").iterdir():
        commit.unlink()
    assert nothing_new(_plan(tmp, bronze, silver)) is None


def test_the_engine_of_such_a_run_refuses_to_start_a_query(chain) -> None:
    from tauro_compile.streaming.engine import NodeStartError

    _, bronze, _ = chain
    engine = NothingNewEngine({})
    with pytest.raises(NodeStartError, match="no Spark session") as raised:
        engine.start(bronze)
    assert raised.value.retryable is False
