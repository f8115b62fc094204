"""Twenty continuous nodes in one application, each query in its own FAIR scheduler pool."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.spark_engine import SparkQueryEngine

pytestmark = pytest.mark.spark

NODES = 20


def _node(name: str, tmp: Path, pool: str | None = None) -> PlannedNode:
    config = NodeConfig.model_validate({
        "name": name, "input": {"format": "rate", "options": {"rowsPerSecond": 5}},
        "output": {"format": "memory"},
        # A 10 s trigger: each query's first batch comes at its start, and twenty queries
        # firing every second would keep both cores busy with empty batches while the later
        # ones start (the test took 40-110 s with "1 second", 15 s with this).
        "streaming": {"trigger": {"type": "processing_time", "interval": "10 seconds"},
                      "checkpoint_location": str(tmp / "chk" / name),
                      **({"pool": pool} if pool else {})},
    })
    return PlannedNode(name=name, unique_id=f"many.{name}", config=config)


def test_twenty_continuous_nodes_run_in_one_application_each_in_its_pool(spark, tmp_path):
    nodes = [_node(f"node_{i:02d}", tmp_path, pool="shared" if i >= 18 else None)
             for i in range(NODES)]
    plan = RunPlan(project_name="many", project_dir=tmp_path, target_dir=tmp_path / "target",
                   profile="dev", nodes=tuple(nodes))
    engine = SparkQueryEngine(spark, plan, execution_id="many")
    handles = {}
    try:
        for node in nodes:
            handles[node.name] = engine.start(node)
        batches = dict.fromkeys(handles, 0)
        deadline = time.monotonic() + 400
        # One batch each shows every query ran; that all 20 are still active below shows they
        # run side by side (a second batch each would only double the test's time).
        while time.monotonic() < deadline and min(batches.values()) < 1:
            for name, handle in handles.items():
                assert handle.exception() is None, (name, handle.exception())
                batches[name] += len(handle.new_progress())
            time.sleep(0.5)
        assert min(batches.values()) >= 1, batches
        # One application: every query is a query of this session's SparkContext.
        assert {q.name for q in spark.streams.active} >= set(handles)
        scheduler = spark.sparkContext._jsc.sc()
        assert scheduler.getSchedulingMode().toString() == "FAIR"
        for name in [n.name for n in nodes[:18]] + ["shared"]:
            assert scheduler.getPoolForName(name).isDefined(), name
        for name in ("node_18", "node_19"):  # they named a pool: none of their own
            assert not scheduler.getPoolForName(name).isDefined(), name
        # The starting thread's pool is restored: later jobs of this thread are not in a pool.
        assert spark.sparkContext.getLocalProperty("spark.scheduler.pool") is None
    finally:
        for handle in handles.values():
            handle.stop()
