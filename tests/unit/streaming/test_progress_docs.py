"""Progress documents as the runner reads them, from a classic session and over Spark Connect."""

from __future__ import annotations

import json

from tauro_compile.streaming.spark_engine import SparkQueryHandle, parse_progress

CONNECT_DOC = {  # as a Spark Connect server sends it: input figures per source only
    "batchId": 0, "timestamp": "2026-11-29T20:15:41.733Z", "batchDuration": 2033,
    "durationMs": {"triggerExecution": 2033, "addBatch": 1183},
    "sources": [{"description": "FileStreamSource[a]", "numInputRows": 300,
                 "inputRowsPerSecond": 0.0, "processedRowsPerSecond": 150.0},
                {"description": "FileStreamSource[b]", "numInputRows": 19,
                 "processedRowsPerSecond": 6.9}],
    "sink": {"description": "MemorySink", "numOutputRows": 319}, "observedMetrics": {},
}


def test_connect_progress_sums_its_sources():
    progress = parse_progress(CONNECT_DOC)
    assert progress is not None
    assert (progress.batch_id, progress.input_rows, progress.duration_ms) == (0, 319, 2033)
    assert progress.input_rows_per_second == 0.0
    assert progress.processed_rows_per_second == 156.9


def test_query_level_figures_win_when_present():
    doc = {**CONNECT_DOC, "numInputRows": 7, "processedRowsPerSecond": 3.5}
    progress = parse_progress(doc)
    assert progress is not None and (progress.input_rows, progress.processed_rows_per_second) == (
        7, 3.5)


def _row(**values: int) -> dict:
    """An observed metric as Spark Connect's progress JSON carries it (a serialized row)."""
    return {"values": list(values.values()), "schema": {"type": "struct", "fields": [
        {"name": k, "type": "long", "nullable": False, "metadata": {}} for k in values]}}


class _Progress:
    def __init__(self, doc: dict) -> None:
        self.json = json.dumps(doc)


class _ConnectQuery:
    """A finished Connect query: lastProgress and recentProgress give the same batch."""

    def __init__(self, *docs: dict) -> None:
        self.isActive = True
        self.recentProgress = [_Progress(d) for d in docs]
        self.lastProgress = self.recentProgress[-1]


def _doc(batch_id: int, **metrics: dict) -> dict:
    return {**CONNECT_DOC, "batchId": batch_id, "timestamp": f"t{batch_id}",
            "observedMetrics": metrics}


def test_connect_observed_metrics_in_row_form_give_rows_out():
    query = _ConnectQuery(_doc(0, tauro_rows_out=_row(rows=42)))
    [progress] = SparkQueryHandle(query, connect=True).new_progress()  # type: ignore[arg-type]
    assert progress.rows_out == 42


def test_connect_dead_letter_counts_come_from_the_parse_metric_once_per_batch():
    reported: list[tuple[int, dict]] = []
    query = _ConnectQuery(_doc(0, tauro_rows_out=_row(rows=200),
                               tauro_kafka_parse=_row(records=200, good=192, bad=8, tombstones=0)))
    handle = SparkQueryHandle(query, connect=True,  # type: ignore[arg-type]
                              dead_letters=lambda b, c: reported.append((b, c)),
                              observed_rows_out=False)
    [progress] = handle.new_progress()
    query.isActive = False  # the final drain reads the same batch again
    assert [p.batch_id for p in handle.new_progress()] == [0]
    assert reported == [(0, {"records": 200, "good": 192, "bad": 8})]
    # A foreachBatch node's rows-out metric counts rows before the dead letters: unknown.
    assert progress.rows_out is None and progress.parse_dropped is None
