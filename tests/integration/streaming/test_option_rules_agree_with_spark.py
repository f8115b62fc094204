"""Every option value `streaming.option_rules` refuses, Spark refuses too (Spark decides).

Plain pyspark, no Tauro in between: a stream with the option is started (available-now, to
the noop sink) and must fail; the compiler's rule must call the same value invalid. Values
the rules accept must run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tauro_compile.streaming.option_rules import value_issues


def _runs(spark, reader, tmp_path: Path, name: str) -> bool:
    query = None
    try:
        query = (reader.load().writeStream.format("noop").trigger(availableNow=True)
                 .option("checkpointLocation", str(tmp_path / f"chk-{name}")).start())
        query.awaitTermination(120)
        return query.exception() is None
    except Exception:  # noqa: BLE001 - any refusal by Spark
        return False
    finally:
        if query is not None and query.isActive:
            query.stop()


FILE_CASES = [
    ({"maxFilesPerTrigger": "0"}, False), ({"maxFilesPerTrigger": "x"}, False),
    ({"maxFilesPerTrigger": "2"}, True), ({"latestFirst": "yes"}, False),
    ({"latestFirst": "TRUE"}, True), ({"cleanSource": "move"}, False),
    ({"cleanSource": "OFF"}, True), ({"cleanSource": "archive"}, False),
    ({"fileNameOnly": "1"}, False),
]


@pytest.mark.parametrize(("options", "valid"), FILE_CASES)
def test_file_source_options(spark, tmp_path, options, valid):
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.json").write_text('{"id": 1}\n')
    reader = spark.readStream.format("json").schema("id BIGINT").options(**options) \
        .option("path", str(data))
    assert (value_issues("file_stream", options) == []) == valid
    assert _runs(spark, reader, tmp_path, "f") == valid


KAFKA_CASES = [
    ({"startingOffsets": "earlest"}, False), ({"startingOffsets": "earliest"}, True),
    ({"endingOffsets": "latest"}, False), ({"kafka.auto.offset.reset": "earliest"}, False),
    ({"failOnDataLoss": "nope"}, False), ({"failOnDataLoss": "False"}, True),
    ({"maxOffsetsPerTrigger": "x"}, False), ({"maxOffsetsPerTrigger": "10"}, True),
    ({"maxOffsetsPerTrigger": "-5"}, False),
    ({"minPartitions": "0"}, False), ({"kafka.security.protocol": "SASL"}, False),
    ({"kafka.security.protocol": "plaintext"}, True),
]


@pytest.mark.kafka
@pytest.mark.parametrize(("options", "valid"), KAFKA_CASES)
def test_kafka_source_options(spark, kafka_broker, tmp_path, options, valid):
    topic = f"tauro-option-rules-{KAFKA_CASES.index((options, valid))}"
    kafka_broker.create_topic(topic, partitions=1)
    kafka_broker.produce(topic, ["a", "b", "c"])  # with data, -5 fails ("data may be lost")
    if "startingOffsets" not in options:
        options = {**options, "startingOffsets": json.dumps({topic: {"0": -2}})}
    reader = spark.readStream.format("kafka").options(**options) \
        .option("kafka.bootstrap.servers", kafka_broker.bootstrap_servers) \
        .option("subscribe", topic)
    assert (value_issues("kafka", options) == []) == valid
    assert _runs(spark, reader, tmp_path, "k") == valid
