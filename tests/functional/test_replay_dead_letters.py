"""`tauro replay-dead-letters` on real Spark and Delta (and the real test broker), in-process.

A node dead-letters records its schema cannot hold; the user widens the schema (and casts in
a transform), then replays: the records that parse now reach the output once, the others
stay with their error; a second replay writes nothing more (key multisets), and a replay
interrupted after its write is finished by the next one without writing twice.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest

from tauro_compile.runner.lock import RunLock
from tauro_compile.streaming import replay

pytestmark = pytest.mark.spark

PROFILES = """
    profiles:
      dev:
        paths: {landing: data/landing, warehouse: data/wh, checkpoints: data/chk}
        nodes:
          "*": {streaming: {trigger: {type: available_now}}}
"""
FILE_NODE = """
    input:
      format: file_stream
      path: "{{ target.paths.landing }}"
      file_format: json
      schema: "id BIGINT, amount %s"
      on_parse_error: dead_letter
      dead_letter: {format: delta, path: data/dl}
    %s
    output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
"""
FIXED_CAST = ("transforms:\n      - sql: \"SELECT id, CAST(amount AS DOUBLE) AS amount, "
              "__tauro_dead_letter FROM {{ input }}\"")
LINES = ('{"id": 1, "amount": 1.5}\n{"id": 2, "amount": "7.5"}\n{"id": 3, "amount": "8.5"}\n'
         '{"id": 4, "amo\n')


def keys(spark, path: Path) -> Counter:
    return Counter(r.id for r in spark.read.format("delta").load(str(path)).collect())


def letters(spark, path: Path) -> list[tuple]:
    df = spark.read.format("delta").load(str(path))
    ident = "value" if "value" in df.columns else "record"
    return sorted((r[ident], r.asDict().get("replayed_at") is not None) for r in df.collect())


def fix_node(project: Path, node: str, text: str) -> None:
    import textwrap

    (project / "nodes" / f"{node}.yml").write_text(textwrap.dedent(text).lstrip("\n"))


def test_file_stream_dead_letters_replay_once_and_resume_after_a_crash(
        spark, make_project, tauro, monkeypatch) -> None:
    project = make_project({"tauro_project.yml": "name: rp\nprofile: dev\n",
                            "profiles.yml": PROFILES,
                            "nodes/orders.yml": FILE_NODE % ("DOUBLE", "")})
    (project / "data/landing").mkdir(parents=True)
    (project / "data/landing/1.json").write_text(LINES)
    ran = tauro("run", "--project-dir", project)
    assert ran.exit_code == 0, ran.output + ran.stderr
    out, dl = project / "data/wh/orders", project / "data/dl"
    assert keys(spark, out) == Counter([1])
    assert len(letters(spark, dl)) == 3
    fix_node(project, "orders", FILE_NODE % ("STRING", FIXED_CAST))

    dry = tauro("replay-dead-letters", "orders", "--project-dir", project, "--dry-run")
    assert dry.exit_code == 0, dry.output + dry.stderr
    assert (f"Dry run: 3 dead letters of 'orders' in {dl}: 2 parse now, 1 still fail. "
            "Nothing was written.") in dry.output
    assert keys(spark, out) == Counter([1])

    bad_where = tauro("replay-dead-letters", "orders", "--project-dir", project,
                      "--where", "nope = 1")
    assert bad_where.exit_code == 2
    assert "is not a condition on the dead-letter table" in bad_where.stderr
    assert "hint: its columns: node, batch_id, file, record, error" in bad_where.stderr

    # A crash after the output was written, before the dead letters were marked ...
    def crash(*args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(replay, "_finish", crash)
    crashed = tauro("replay-dead-letters", "orders", "--project-dir", project,
                    "--where", "record LIKE '%7.5%'")
    assert crashed.exit_code == 1
    assert keys(spark, out) == Counter([1, 2])
    monkeypatch.undo()
    # ... is finished by the next replay (Delta skips the write it already has), which then
    # replays the rest: 3 parses now, 4 still fails and stays.
    resumed = tauro("replay-dead-letters", "orders", "--project-dir", project)
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    assert ("Finished an interrupted replay of 'orders': 1 parsed (written: 0 rows), "
            "0 still fail.") in resumed.output
    assert (f"Replayed 2 dead letters of 'orders' from {dl}: 1 parse now and are marked "
            f"replayed (1 rows written to {out}); 1 still fail and stay, with their new "
            "error.") in resumed.output
    assert keys(spark, out) == Counter([1, 2, 3])
    assert letters(spark, dl) == [('{"id": 2, "amount": "7.5"}', True),
                                  ('{"id": 3, "amount": "8.5"}', True),
                                  ('{"id": 4, "amo', False)]

    lock = RunLock(project / "data/chk/.tauro", shared=True, project="rp", profile="dev",
                   project_dir=str(project))
    lock.acquire()
    try:
        locked = tauro("replay-dead-letters", "orders", "--project-dir", project)
    finally:
        lock.release()
    assert locked.exit_code == 2 and "another run of these checkpoints" in locked.stderr


def test_kafka_dead_letters_replay_once(spark, kafka_broker, make_project, tauro) -> None:
    topic = f"replay-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(topic, partitions=1)
    kafka_broker.produce(topic, [json.dumps({"id": 1}), json.dumps({"id": "7"}),
                                 json.dumps({"id": "8"}), "not json"])
    node = """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}"
            subscribe: "{{ env_var('REPLAY_TOPIC') }}"
            startingOffsets: earliest
          parse_json: true
          json_schema: "id %s"
          on_parse_error: dead_letter
          dead_letter: {format: delta, path: data/dl}
        %s
        output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
    """
    project = make_project({"tauro_project.yml": "name: rk\nprofile: dev\n",
                            "profiles.yml": PROFILES, "nodes/events.yml": node % ("BIGINT", "")})
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers, "REPLAY_TOPIC": topic}
    ran = tauro("run", "--project-dir", project, env=env)
    assert ran.exit_code == 0, ran.output + ran.stderr
    out, dl = project / "data/wh/events", project / "data/dl"
    assert keys(spark, out) == Counter([1])
    fix_node(project, "events", node % ("STRING", (
        "transforms:\n          - sql: \"SELECT CAST(id AS BIGINT) AS id, __tauro_dead_letter "
        "FROM {{ input }}\"")))

    first = tauro("replay-dead-letters", "events", "--project-dir", project, env=env)
    assert first.exit_code == 0, first.output + first.stderr
    assert "Replayed 3 dead letters of 'events'" in first.output
    assert "2 parse now and are marked replayed (2 rows written" in first.output
    assert "1 still fail" in first.output
    assert keys(spark, out) == Counter([1, 7, 8])
    rows = spark.read.format("delta").load(str(dl)).collect()
    failing = [r for r in rows if r.replayed_at is None]
    assert [(r.value, r.error) for r in failing] == [("not json", "value is not valid JSON")]
    assert all(r.topic == topic and r.offset is not None for r in rows)

    second = tauro("replay-dead-letters", "events", "--project-dir", project, env=env)
    assert second.exit_code == 0, second.output + second.stderr
    assert "Replayed 1 dead letters" in second.output and "0 parse now" in second.output
    assert keys(spark, out) == Counter([1, 7, 8])
