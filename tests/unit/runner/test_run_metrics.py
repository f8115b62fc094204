"""Prometheus metrics of a run: names, labels and values, parsed with prometheus_client's parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tauro_compile.runner.metrics import RunMetrics
from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState

ALLOWED_LABELS = {"project", "profile", "node", "rule", "state", "le"}


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _state() -> RunState:
    s = RunState([NodeRecord("orders", "p.orders", False), NodeRecord("late", "p.late", False)])
    s.transition("orders", NodeState.STARTING)
    s.transition("orders", NodeState.RUNNING)
    s.add_progress("orders", BatchProgress(batch_id=0, input_rows=10, duration_ms=1500,
                                           rows_out=9, kafka_lag={"t1": 5, "t2": 7},
                                           state_rows=3, parse_dropped=1))
    s.add_batch_result("orders", {"batch_id": 0, "metrics": {"contract": {
        "violations": {"amount_positive": 4}, "rows_quarantined": 4}}})
    return s


def test_metrics_names_labels_and_values() -> None:
    metrics = RunMetrics(_state(), "shop", "prod")
    metrics.batch("orders", BatchProgress(batch_id=0, input_rows=10, duration_ms=1500))
    text = metrics.exposition()
    samples = _samples(text)
    node = (("node", "orders"), ("profile", "prod"), ("project", "shop"))
    assert samples[("tauro_node_input_rows_total", node)] == 10
    assert samples[("tauro_node_output_rows_total", node)] == 9
    assert samples[("tauro_node_batches_total", node)] == 1
    assert samples[("tauro_node_kafka_lag_records", node)] == 12
    assert samples[("tauro_node_state_rows", node)] == 3
    assert samples[("tauro_node_parse_dropped_rows_total", node)] == 1
    assert samples[("tauro_node_quarantined_rows_total", node)] == 4
    rule = tuple(sorted((*node, ("rule", "amount_positive"))))
    assert samples[("tauro_node_contract_violations_total", rule)] == 4
    running = tuple(sorted((*node, ("state", "running"))))
    stalled = tuple(sorted((*node, ("state", "stalled"))))
    assert samples[("tauro_node_state", running)] == 1
    assert samples[("tauro_node_state", stalled)] == 0
    assert samples[("tauro_node_batch_duration_seconds_sum", node)] == 1.5
    assert samples[("tauro_node_batch_duration_seconds_count", node)] == 1
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("tauro_")
        for s in family.samples:
            assert set(s.labels) <= ALLOWED_LABELS, s


def test_the_endpoint_serves_the_text_format() -> None:
    metrics = RunMetrics(_state(), "shop", "prod")
    url = metrics.serve(0, "127.0.0.1")
    try:
        body = urllib.request.urlopen(url, timeout=10).read().decode()
    finally:
        metrics.close()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    assert 'tauro_node_input_rows_total{node="orders",profile="prod",project="shop"} 10.0' in body
