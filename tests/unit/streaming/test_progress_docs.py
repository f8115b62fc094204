"""Progress documents as the runner reads them, from a classic session and over Spark Connect."""

from __future__ import annotations

from tauro_compile.streaming.spark_engine import parse_progress

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
