"""Exactly-once across crashes: `tauro run` (a subprocess) reading 60,000 JSON records from a
3-partition topic into Delta, with dead letters into a second Delta table, is killed with
SIGKILL (the Python driver and its JVM) at three random moments while it processes batches,
restarted each time, then run to the end. Every good record is in the table exactly once and
every bad one in the dead-letter table exactly once (multisets of keys compared)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from kafka_e2e import events_with_bad, unique_topic, write_project
from support.jvm_options import C1_ONLY

pytestmark = [pytest.mark.spark, pytest.mark.kafka, pytest.mark.slow]

# 15 batches of 4,000. The 1 s trigger starts at most one batch a second, so the three kills
# (each at most 3 s after a new batch started) leave batches for the catch-up run.
RECORDS = 60_000
BAD_EVERY = 97  # ~1% of the records do not parse
PROJECT = {
    "tauro_project.yml": """
        name: crashy
        version: "1.0"
        profile: live
    """,
    # Two profiles with the same paths and checkpoints; only the trigger and the batch size
    # differ.
    "profiles.yml": """
        profiles:
          live:
            spark: &spark
              master: "local[2]"
              conf:
                spark.sql.shuffle.partitions: "2"
                spark.ui.enabled: "false"
                spark.driver.extraJavaOptions: "@C1_ONLY@"
            paths: &paths {warehouse: data/warehouse, checkpoints: data/checkpoints}
            vars: {max_offsets: 4000}       # several batches
            nodes:
              "*": {streaming: {trigger: {type: processing_time, interval: "1 second"}}}
          catchup:
            spark: *spark
            paths: *paths
            vars: {max_offsets: 60000}      # the rest in one batch
            nodes:
              "*": {streaming: {trigger: {type: available_now}}}
    """,
    "nodes/ingest.yml": """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}"
            subscribe: "{{ env_var('TOPIC') }}"
            startingOffsets: earliest
            maxOffsetsPerTrigger: "{{ var('max_offsets') }}"
          parse_json: true
          json_schema: "id BIGINT, user STRING, amount DOUBLE"
          include_metadata: true
          on_parse_error: dead_letter
          dead_letter: {format: delta, path: "{{ target.paths.warehouse }}/dead_letters"}
        output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
    """,
}
# The JIT options of every test JVM (support/jvm_options.py).
PROJECT["profiles.yml"] = PROJECT["profiles.yml"].replace("@C1_ONLY@", C1_ONLY)


def start_run(project: Path, profile: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """`tauro run` in its own process group (so SIGKILL reaches the JVM too)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tauro_compile", "run", "--project-dir", str(project),
             "--profile", profile, "--plain"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def batches_started(checkpoint: Path) -> int:
    offsets = checkpoint / "offsets"
    return len([p for p in offsets.iterdir() if p.name.isdigit()]) if offsets.is_dir() else 0


def test_sigkill_three_times_then_catch_up_lands_every_record_exactly_once(
        spark, kafka_broker, tmp_path: Path) -> None:
    seed = int(os.environ.get("TAURO_CRASH_SEED", time.time()))
    rng = random.Random(seed)
    topic = unique_topic("crash")
    kafka_broker.create_topic(topic, partitions=3)
    keys, values, bad = events_with_bad(RECORDS, bad_every=BAD_EVERY)
    kafka_broker.produce(topic, values, keys=keys)
    project = write_project(tmp_path / "crashy", PROJECT)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
           "TOPIC": topic, "PYSPARK_PYTHON": sys.executable}
    env.pop("TAURO_PROFILE", None)
    checkpoint = project / "data" / "checkpoints" / "ingest"
    log = tmp_path / "runs.log"

    kills = []
    for _ in range(3):
        before = batches_started(checkpoint)
        proc = start_run(project, "live", env, log)
        deadline = time.monotonic() + 120
        while batches_started(checkpoint) <= before and time.monotonic() < deadline:
            assert proc.poll() is None, f"tauro run exited early (seed {seed}):\n" \
                + log.read_text()[-3000:]
            time.sleep(0.1)
        assert batches_started(checkpoint) > before, f"no batch started (seed {seed})"
        time.sleep(rng.uniform(0.0, 3.0))  # somewhere in a batch, or between two
        assert proc.poll() is None, log.read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        kills.append(batches_started(checkpoint))

    final = start_run(project, "catchup", env, log)
    assert final.wait(300) == 0, f"seed {seed}:\n" + log.read_text()[-3000:]
    assert batches_started(checkpoint) > kills[-1]

    warehouse = project / "data" / "warehouse"
    good_keys = [r.key for r in spark.read.format("delta").load(str(warehouse / "events"))
                 .select("key").collect()]
    letters = spark.read.format("delta").load(str(warehouse / "dead_letters")) \
        .select("key", "value").collect()
    expected_good = Counter(k for k in keys if k not in bad)
    assert len(good_keys) == sum(expected_good.values()), f"seed {seed}, kills at {kills}"
    assert Counter(good_keys) == expected_good, f"seed {seed}, kills at {kills}"
    assert set(good_keys) == set(expected_good)
    assert Counter(r.key for r in letters) == Counter(bad), f"seed {seed}, kills at {kills}"
    by_key = dict(zip(keys, values, strict=True))
    assert all(r.value == by_key[r.key] for r in letters)
