"""Pipeline manager rules that need no Spark: dependencies between nodes and when one may start."""

from __future__ import annotations

import time
from typing import Any

from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.pipeline_manager import NodeRun, _failed, _upstreams, _upstreams_ready


def node(name: str, inp: dict[str, Any], out: dict[str, Any], trigger: str = "available_now") -> NodeConfig:
    return NodeConfig.model_validate({"name": name, "input": inp, "output": out,
                                      "streaming": {"trigger": {"type": trigger}}})


BRONZE = node("bronze", {"format": "rate"}, {"format": "delta", "path": "/lake/bronze/"})
SILVER = node("silver", {"format": "delta", "path": "/lake/bronze"},
              {"format": "delta", "table_name": "Silver"})
GOLD = node("gold", {"format": "delta_stream", "table_name": "silver"}, {"format": "memory"})


def test_upstreams_follow_output_paths_and_tables() -> None:
    nodes = [GOLD, SILVER, BRONZE]
    assert _upstreams(BRONZE, nodes) == []
    assert _upstreams(SILVER, nodes) == ["bronze"]   # trailing slash ignored
    assert _upstreams(GOLD, nodes) == ["silver"]     # table names case-insensitive


def test_bounded_upstream_must_complete_and_failures_skip() -> None:
    runs = {n.name: NodeRun(n, upstreams=_upstreams(n, [BRONZE, SILVER])) for n in (BRONZE, SILVER)}
    runs["bronze"].state = "running"
    assert _upstreams_ready(runs["silver"], runs) == (False, None)
    runs["bronze"].state = "completed"
    assert _upstreams_ready(runs["silver"], runs) == (True, None)
    runs["bronze"].state = "failed"
    assert _upstreams_ready(runs["silver"], runs) == (False, "upstream node 'bronze' failed")


def test_unbounded_upstream_must_be_running_with_a_batch() -> None:
    live = node("bronze", {"format": "rate"}, {"format": "delta", "path": "/lake/bronze"},
                trigger="processing_time")
    runs = {"bronze": NodeRun(live), "silver": NodeRun(SILVER, upstreams=["bronze"])}
    runs["bronze"].state = "running"
    runs["bronze"].started_at = time.time()
    assert _upstreams_ready(runs["silver"], runs) == (False, None)
    runs["bronze"].batches[0] = {"numInputRows": 1}
    assert _upstreams_ready(runs["silver"], runs) == (True, None)


def test_edges_compare_paths_in_any_spelling() -> None:
    reader = node("reader", {"format": "delta", "path": "/lake/x/../bronze/./"}, {"format": "memory"})
    assert _upstreams(reader, [BRONZE, reader]) == ["bronze"]


def test_a_failed_node_follows_its_on_failure_policy() -> None:
    """The library applies the restart policy it validates (it used to ignore it)."""
    config = NodeConfig.model_validate({
        "name": "n", "input": {"format": "rate"}, "output": {"format": "memory"},
        "on_failure": {"action": "restart", "max_restarts": 2, "backoff": "4 seconds"}})
    run = NodeRun(config)
    before = time.time()
    _failed(run, "ValueError: boom\ntrace", None, retry=True)
    assert (run.state, run.restarts) == ("pending", 1)
    assert run.not_before is not None and run.not_before >= before + 4
    assert run.reason == "restart 1/2 in 4s after: ValueError: boom"
    _failed(run, "ValueError: boom", None, retry=True)
    assert (run.state, run.restarts) == ("pending", 2)
    assert run.not_before >= before + 8  # doubling backoff
    _failed(run, "ValueError: boom", None, retry=True)
    assert (run.state, run.error) == ("failed", "ValueError: boom")

    fresh = NodeRun(config)
    _failed(fresh, "bad config", "fix it", retry=False)  # a validation error: no restart
    assert (fresh.state, fresh.restarts, fresh.error_hint) == ("failed", 0, "fix it")
    default = NodeRun(node("d", {"format": "rate"}, {"format": "memory"}))
    _failed(default, "boom", None, retry=True)  # on_failure defaults to fail
    assert default.state == "failed"
