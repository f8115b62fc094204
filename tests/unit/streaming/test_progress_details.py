"""Operating figures read from Spark's progress documents (the shape Spark 4 writes)."""

from __future__ import annotations

from tauro_compile.streaming.spark_engine import _backlog_total, parse_progress, source_backlog

KAFKA = {
    "id": "q", "runId": "r", "name": "orders", "timestamp": "2026-01-01T10:00:00.000Z",
    "batchId": 4, "batchDuration": 1234, "numInputRows": 20,
    "inputRowsPerSecond": 10.0, "processedRowsPerSecond": 16.2,
    "durationMs": {"addBatch": 900, "triggerExecution": 1234},
    "eventTime": {"watermark": "2026-01-01T09:50:00.000Z"},
    "stateOperators": [{"operatorName": "stateStoreSave", "numRowsTotal": 7},
                       {"operatorName": "dedupe", "numRowsTotal": 5}],
    "sources": [{
        "description": "KafkaV2[Subscribe[t1]]",
        "startOffset": {"t1": {"0": 10, "1": 10}},
        "endOffset": {"t1": {"0": 20, "1": 20}},
        "latestOffset": {"t1": {"0": 50, "1": 25}},
        "numInputRows": 20,
        "metrics": {"avgOffsetsBehindLatest": "17.5", "maxOffsetsBehindLatest": "30"},
    }],
    "sink": {"description": "DeltaSink"},
    "observedMetrics": {"tauro_kafka_parse": {"records": 20, "good": 18, "bad": 2,
                                              "tombstones": 0}},
}
DELTA = {
    "batchId": 0, "timestamp": "t", "numInputRows": 3, "durationMs": {"addBatch": 5},
    "sources": [{"description": "DeltaSource[file:/w/events]", "startOffset": None,
                 "endOffset": {"reservoirVersion": 2}, "latestOffset": None,
                 "metrics": {"numBytesOutstanding": "2048", "numFilesOutstanding": "3"}}],
}


def test_kafka_lag_per_topic_watermark_state_rows_and_parse_drops() -> None:
    p = parse_progress(KAFKA)
    assert p.kafka_lag == {"t1": (50 - 20) + (25 - 20)}
    assert p.watermark == "2026-01-01T09:50:00.000Z"
    assert p.state_rows == 12 and p.parse_dropped == 2 and p.backlog_files is None
    assert p.to_dict()["kafka_lag"] == {"t1": 35}
    assert _backlog_total(KAFKA) == 35


def test_delta_outstanding_files_and_an_idle_event() -> None:
    assert source_backlog(DELTA) == (None, 3)
    assert parse_progress(DELTA).backlog_files == 3
    idle = {**KAFKA, "durationMs": {"triggerExecution": 3}, "numInputRows": 0}
    assert parse_progress(idle) is None          # not a batch ...
    assert _backlog_total(idle) == 35            # ... but its backlog counts for stalls
