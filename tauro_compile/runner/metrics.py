"""Prometheus metrics of a run (`tauro run --metrics-port`), served by `prometheus_client`.

Names are an API (DESIGN.md §8): every metric starts with `tauro_`, carries base units
(`_seconds`, `_rows_total`), and only the labels `project`, `profile`, `node`, plus
`rule` (contract rules, fixed by the contract file) and `state` (the eight node states)
where named below; never a run id or a batch id. Values are read from the run's state at
scrape time, so a run without scrapes pays nothing but the batch-duration histogram.

Per node (labels project, profile, node):
  tauro_node_input_rows_total              counter  rows read (numInputRows, each batch once)
  tauro_node_output_rows_total             counter  rows written to the node's output
  tauro_node_batches_total                 counter  executed micro-batches
  tauro_node_batch_duration_seconds        histogram  micro-batch durations
  tauro_node_state{state}                  gauge    1 for the node's current state, else 0
  tauro_node_restarts_total                counter  query restarts (failures and stalls)
  tauro_node_stalls_total                  counter  times the node became stalled
  tauro_node_seconds_since_last_batch      gauge    since its last new batch (or its start)
  tauro_node_kafka_lag_records             gauge    records behind the latest offsets (all
                                                    topics), at the last batch
  tauro_node_backlog_files                 gauge    files not yet processed (Delta sources)
  tauro_node_watermark_delay_seconds       gauge    now minus the event-time watermark
  tauro_node_state_rows                    gauge    rows held in the state stores
  tauro_node_contract_violations_total{rule} counter violating rows per contract rule
  tauro_node_quarantined_rows_total        counter  rows sent to the contract's quarantine
  tauro_node_dead_letter_rows_total        counter  records sent to the dead-letter sink
  tauro_node_parse_dropped_rows_total      counter  records dropped by on_parse_error: drop
Per run (labels project, profile):
  tauro_run_start_time_seconds             gauge    when the run started (Unix time)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from tauro_compile.runner.lock import from_iso
from tauro_compile.runner.results import node_counts
from tauro_compile.streaming.state import BatchProgress, NodeState, RunState

BATCH_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
NODE_LABELS = ("project", "profile", "node")


class RunMetrics:
    """The metrics registry of one run: a collector over its RunState plus one histogram."""

    def __init__(self, state: RunState, project: str, profile: str,
                 clock: Callable[[], float] = time.time) -> None:
        from prometheus_client import CollectorRegistry, Histogram

        self.state = state
        self.project = project
        self.profile = profile
        self._clock = clock
        self.started_at = clock()
        self.registry = CollectorRegistry(auto_describe=True)
        self.batch_duration = Histogram(
            "tauro_node_batch_duration_seconds", "Duration of the node's micro-batches.",
            NODE_LABELS, buckets=BATCH_DURATION_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(self))
        self._server: Any = None
        self.url: str | None = None

    def batch(self, name: str, progress: BatchProgress) -> None:
        """A supervisor `on_batch` callback: one observation per executed batch."""
        if progress.duration_ms is not None:
            self.batch_duration.labels(self.project, self.profile, name).observe(
                progress.duration_ms / 1000.0)

    def serve(self, port: int, host: str = "0.0.0.0") -> str:
        """Serve /metrics on `host:port` (0: any free port) in a daemon thread; its URL."""
        import socket

        from prometheus_client import start_http_server

        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        bound = self._server.server_address[1]
        shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
        self.url = f"http://{shown}:{bound}/metrics"
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def exposition(self) -> str:
        """The metrics as Prometheus text (what a scrape returns)."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")


class _StateCollector:
    """Builds the metric families from a RunState snapshot at each scrape."""

    def __init__(self, metrics: RunMetrics) -> None:
        self.m = metrics

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        m = self.m
        now = m._clock()
        run = GaugeMetricFamily("tauro_run_start_time_seconds",
                                "When the run started (Unix time).",
                                labels=("project", "profile"))
        run.add_metric((m.project, m.profile), m.started_at)
        yield run

        def counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> Any:
            return CounterMetricFamily(name, doc, labels=(*NODE_LABELS, *extra))

        def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> Any:
            return GaugeMetricFamily(name, doc, labels=(*NODE_LABELS, *extra))

        f = {
            "in": counter("tauro_node_input_rows", "Rows read by the node's query."),
            "out": counter("tauro_node_output_rows", "Rows written to the node's output."),
            "batches": counter("tauro_node_batches", "Executed micro-batches."),
            "state": gauge("tauro_node_state", "1 for the node's current state.", ("state",)),
            "restarts": counter("tauro_node_restarts", "Query restarts (failures, stalls)."),
            "stalls": counter("tauro_node_stalls", "Times the node became stalled."),
            "since": gauge("tauro_node_seconds_since_last_batch",
                           "Seconds since the node's last new batch (or its start)."),
            "lag": gauge("tauro_node_kafka_lag_records",
                         "Records behind the latest Kafka offsets at the last batch."),
            "files": gauge("tauro_node_backlog_files", "Input files not yet processed."),
            "wm": gauge("tauro_node_watermark_delay_seconds",
                        "Now minus the node's event-time watermark."),
            "state_rows": gauge("tauro_node_state_rows", "Rows in the node's state stores."),
            "violations": counter("tauro_node_contract_violations",
                                  "Rows violating a contract rule.", ("rule",)),
            "quarantined": counter("tauro_node_quarantined_rows", "Rows sent to quarantine."),
            "dead": counter("tauro_node_dead_letter_rows", "Records sent to dead letters."),
            "dropped": counter("tauro_node_parse_dropped_rows",
                               "Kafka records dropped because they did not parse."),
        }
        for r in m.state.snapshot():
            labels = (m.project, m.profile, r.name)
            f["in"].add_metric(labels, r.rows_in)
            f["out"].add_metric(labels, r.written_rows() or 0)
            f["batches"].add_metric(labels, r.batches)
            for state in NodeState:
                f["state"].add_metric((*labels, state.value), 1.0 if r.state is state else 0.0)
            f["restarts"].add_metric(labels, r.restarts)
            f["stalls"].add_metric(labels, r.stalls)
            if r.state.active and r.last_batch_at is not None:
                f["since"].add_metric(labels, max(now - r.last_batch_at, 0.0))
            p = r.last_progress
            if p is not None:
                if p.kafka_lag is not None:
                    f["lag"].add_metric(labels, sum(p.kafka_lag.values()))
                if p.backlog_files is not None:
                    f["files"].add_metric(labels, p.backlog_files)
                watermark = from_iso(p.watermark.replace("Z", "+00:00")) if p.watermark else None
                if watermark is not None and watermark > 0:
                    f["wm"].add_metric(labels, max(now - watermark, 0.0))
                if p.state_rows is not None:
                    f["state_rows"].add_metric(labels, p.state_rows)
            counts = node_counts(r)
            for rule, n in counts["contract_violations"].items():
                f["violations"].add_metric((*labels, rule), n)
            f["quarantined"].add_metric(labels, counts["quarantined_rows"])
            f["dead"].add_metric(labels, counts["dead_letters"])
            f["dropped"].add_metric(labels, counts["parse_dropped"])
        yield from f.values()
