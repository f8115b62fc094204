"""The pipeline manager is a front end over the core supervisor: its plan, and its rules on fakes.

No Spark here: `engine_factory` puts the runner's fake engine under the manager, so what is
checked is that the library gets the core's states, start order, restarts and stops. The
same on real Spark: tests/integration/streaming/test_library_usage.py.
"""

from __future__ import annotations

from typing import Any

from support.engine_fakes import FakeClock, FakeEngine, Script

from tauro_compile.streaming import StreamingPipelineManager
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.pipeline_manager import pipeline_plan, upstreams


def node(name: str, inp: dict[str, Any], out: dict[str, Any], trigger: str = "available_now",
         **extra: Any) -> dict[str, Any]:
    return {"name": name, "input": inp, "output": out,
            "streaming": {"trigger": {"type": trigger}}, **extra}


BRONZE = node("bronze", {"format": "rate"}, {"format": "delta", "path": "/lake/bronze/"})
SILVER = node("silver", {"format": "delta", "path": "/lake/x/../bronze"},
              {"format": "delta", "table_name": "Silver"})
GOLD = node("gold", {"format": "delta_stream", "table_name": "silver"}, {"format": "memory"})


def configs(*nodes: dict[str, Any]) -> list[NodeConfig]:
    return [NodeConfig.model_validate(n) for n in nodes]


def test_upstreams_follow_output_paths_and_tables_in_any_spelling() -> None:
    nodes = configs(GOLD, SILVER, BRONZE)
    gold, silver, bronze = nodes
    assert upstreams(bronze, nodes) == []
    assert upstreams(silver, nodes) == ["bronze"]   # /lake/x/../bronze is /lake/bronze/
    assert upstreams(gold, nodes) == ["silver"]     # table names case-insensitive


def test_the_plan_has_stable_ids_and_the_edges() -> None:
    plan = pipeline_plan("medallion", configs(SILVER, BRONZE), {"project_dir": "/proj"})
    assert [(n.name, n.unique_id, n.depends_on) for n in plan.nodes] == [
        ("silver", "medallion.silver", ("bronze",)), ("bronze", "medallion.bronze", ())]
    assert str(plan.project_dir) == "/proj"


def manager_with(engine: FakeEngine) -> StreamingPipelineManager:
    return StreamingPipelineManager({"spark": None}, poll_interval=0.01,
                                    engine_factory=lambda plan, execution_id: engine)


def test_bounded_chain_runs_in_order_with_the_cores_states() -> None:
    engine = FakeEngine(FakeClock(), {"bronze": Script(ends_after=0), "silver": Script(ends_after=0)})
    spm = manager_with(engine)
    run_id = spm.start_pipeline("p", {"nodes": [SILVER, BRONZE]})
    assert spm.wait_for_pipeline(run_id, timeout=30)
    results = spm.get_results(run_id)
    assert engine.started() == ["bronze", "silver"]
    assert results["state"] == "succeeded" and results["completed"] is True
    assert {n: v["state"] for n, v in results["nodes"].items()} == {
        "silver": "succeeded", "bronze": "succeeded"}
    assert results["nodes"]["silver"]["upstreams"] == ["bronze"]


def test_on_failure_restarts_then_succeeds_and_failures_skip_downstream() -> None:
    """The library applies the restart policy it validates (it used to ignore it)."""
    flaky = node("bronze", {"format": "rate"}, {"format": "delta", "path": "/lake/bronze"},
                 on_failure={"action": "restart", "max_restarts": 2, "backoff": "10 ms"})
    engine = FakeEngine(FakeClock(), {"bronze": Script(ends_after=0, errors=["boom", "boom"]),
                                      "silver": Script(ends_after=0)})
    spm = manager_with(engine)
    run_id = spm.start_pipeline("p", {"nodes": [flaky, SILVER]})
    assert spm.wait_for_pipeline(run_id, timeout=30)
    results = spm.get_results(run_id)
    assert results["nodes"]["bronze"]["restarts"] == 2
    assert results["state"] == "succeeded"

    engine = FakeEngine(FakeClock(), {"bronze": Script(ends_after=0, errors=["boom"])})
    spm = manager_with(engine)
    run_id = spm.start_pipeline("p", {"nodes": [BRONZE, SILVER]})  # on_failure: fail
    assert spm.wait_for_pipeline(run_id, timeout=30)
    results = spm.get_results(run_id)
    assert results["state"] == "failed"
    assert results["nodes"]["bronze"]["state"] == "failed"
    assert "boom" in results["nodes"]["bronze"]["error"]
    assert results["nodes"]["silver"]["state"] == "skipped"
    assert results["nodes"]["silver"]["reason"] == "upstream 'bronze' failed"


def test_stop_pipeline_stops_downstream_first() -> None:
    live = {"trigger": {"type": "processing_time", "interval": "1 second"}}
    nodes = [node("bronze", {"format": "rate"}, {"format": "delta", "path": "/lake/bronze"},
                  streaming=live),
             node("silver", {"format": "delta", "path": "/lake/bronze"},
                  {"format": "delta", "path": "/lake/silver"}, streaming=live)]
    engine = FakeEngine(FakeClock(), outputs={"bronze"})
    spm = manager_with(engine)
    run_id = spm.start_pipeline("p", {"nodes": nodes})
    assert not spm.wait_for_pipeline(run_id, timeout=0.3)  # continuous: runs until stopped
    assert spm.status(run_id)["state"] == "running"
    assert spm.stop_pipeline(run_id, timeout=30)
    assert engine.stop_order == ["silver", "bronze"]
    assert spm.get_results(run_id)["state"] == "stopped"


def test_a_pipeline_whose_nodes_read_each_other_is_refused_naming_the_cycle() -> None:
    import pytest

    from tauro_compile.streaming import StreamingValidationError

    a = node("a", {"format": "delta", "path": "/lake/b"}, {"format": "delta", "path": "/lake/a"})
    b = node("b", {"format": "delta", "path": "/lake/a"}, {"format": "delta", "path": "/lake/b"})
    spm = manager_with(FakeEngine(FakeClock()))
    with pytest.raises(StreamingValidationError) as info:
        spm.start_pipeline("loop", {"nodes": [a, b]})
    assert "a --> b --> a" in str(info.value)
