"""Benchmark: Kafka -> parse JSON -> Delta through `tauro run` versus the same job hand-written.

Not a test. Starts the local Kafka broker (tests/support/kafka_broker.py), produces N
(default 1,000,000) JSON records of ~200 bytes to a clean topic and N to a topic where 1 in
100 do not parse, then runs each job in a fresh process, with the same Spark session
(`build_spark_session`, local[2], 2 shuffle partitions, no UI) and an available_now trigger:

- `handwritten`: readStream kafka -> from_json -> writeStream delta, plain PySpark;
- `tauro`: `tauro run` of a one-node project doing the same (on_parse_error: fail), invoked
  in the child through the CLI's own entry point after the session is built (so both jobs
  start from the same warm-up point and the child can read its JVM's CPU time);
- `tauro+dlq`: `tauro run` on the 1%-bad topic with on_parse_error: dead_letter (Delta).

Measures per job: the query's wall time (handwritten: start to end; tauro: the node's
`duration_s` in run_results.json, pre-flight and query start included) and the CPU time the
JVM spent during the job (from /proc: Linux only) (less sensitive than wall time to other work on a shared machine).
Rounds are interleaved `--repeat` times; the best wall time and the median CPU time of each
job are kept. Writes `bench/results/kafka.md`.

    .venv/bin/python bench/kafka_throughput.py                  # 1,000,000 records, 3 rounds
    .venv/bin/python bench/kafka_throughput.py --records 200000 --repeat 1
    .venv/bin/python bench/kafka_throughput.py --java-options "-XX:StartFlightRecording=..."
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "kafka.md"
SCHEMA = ("id BIGINT, user STRING, event STRING, amount DOUBLE, ts STRING, page STRING, "
          "agent STRING, ref STRING")
TARGET_RATIO = 0.95
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"}
PARTITIONS = 2
CHUNK = 100_000
JOBS = ("handwritten", "tauro", "tauro+dlq")
JAVA_OPTIONS_ENV = "TAURO_BENCH_JAVA_OPTIONS"  # --java-options, handed to each child

PROFILES = """\
profiles:
  bench:
    spark: {master: "local[2]"}
    paths: {warehouse: data/warehouse, checkpoints: data/checkpoints}
    nodes:
      "*": {streaming: {trigger: {type: available_now}}}
"""
NODE = """\
input:
  format: kafka
  options:
    kafka.bootstrap.servers: "{{{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}}}"
    subscribe: "{{{{ env_var('TOPIC') }}}}"
    startingOffsets: earliest
{options}  parse_json: true
  json_schema: "{schema}"
{extra}output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/events"}}
"""
DLQ = """\
  on_parse_error: dead_letter
  dead_letter: {format: delta, path: "{{ target.paths.warehouse }}/dead_letters"}
"""


def record(i: int) -> str:
    """One ~200-byte JSON event."""
    return json.dumps({"id": i, "user": f"user-{i % 9973:05d}", "event": "page_view",
                       "amount": round((i % 1000) * 0.37, 2), "ts": "2024-05-01T10:00:00.123Z",
                       "page": f"/catalog/item/{i % 50_000:06d}", "agent": "Mozilla/5.0 (X11)",
                       "ref": f"campaign-{i % 313:04d}-newsletter"})


def produce(broker: Any, topic: str, count: int, bad_every: int = 0) -> None:
    for start in range(0, count, CHUNK):
        ids = range(start, min(start + CHUNK, count))
        values = ["{broken json" if bad_every and i % bad_every == 0 else record(i) for i in ids]
        broker.produce(topic, values, keys=[str(i) for i in ids])


# ------------------------------------------------------------------------ child processes

def jvm_cpu_seconds(spark: Any) -> float:
    """CPU time (user + system) the driver JVM, local executors included, has used so far."""
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(job: str, servers: str, topic: str, work: Path) -> dict[str, Any]:
    """Run one job in this (fresh) process; its wall seconds, JVM CPU seconds and rows."""
    from tauro_compile.streaming.session import build_spark_session

    conf = dict(SPARK_CONF)
    if os.environ.get(JAVA_OPTIONS_ENV):
        conf["spark.driver.extraJavaOptions"] = os.environ[JAVA_OPTIONS_ENV]
    spark = build_spark_session("local[2]", f"bench-{job}", conf)
    cpu = jvm_cpu_seconds(spark)
    if job == "handwritten":
        seconds, batch, rows = handwritten(spark, servers, topic, work)
    else:
        seconds, batch, rows = tauro(servers, topic, work, dead_letters=job == "tauro+dlq")
    done = jvm_cpu_seconds(spark)
    # The 5-row read-back `tauro run --preview 5` (or a terminal) adds, measured on its own so
    # it never hides in the job's CPU figure (the jobs above run with --preview 0).
    began = time.perf_counter()
    table = work / ("project/data/warehouse/events" if job != "handwritten" else "events")
    spark.read.format("delta").load(str(table)).limit(5).collect()
    return {"seconds": seconds, "batch": batch, "cpu": done - cpu, "rows": rows,
            "preview_s": time.perf_counter() - began,
            "preview_cpu": jvm_cpu_seconds(spark) - done}


def handwritten(spark: Any, servers: str, topic: str, work: Path) -> tuple[float, float, int]:
    """The job written by hand in PySpark."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    query = (spark.readStream.format("kafka")
             .option("kafka.bootstrap.servers", servers).option("subscribe", topic)
             .option("startingOffsets", "earliest").load()
             .select(F.from_json(F.col("value").cast("string"), SCHEMA).alias("d"))
             .select("d.*")
             .writeStream.format("delta").option("checkpointLocation", str(work / "chk"))
             .trigger(availableNow=True).start(str(work / "events")))
    query.awaitTermination()
    seconds = time.perf_counter() - started
    batches = [p for p in query.recentProgress if "addBatch" in (p["durationMs"] or {})]
    return (seconds, sum(p["batchDuration"] for p in batches) / 1000,
            sum(int(p["numInputRows"]) for p in batches))


def tauro(servers: str, topic: str, work: Path, dead_letters: bool) -> tuple[float, float, int]:
    """`tauro run` of a one-node project, through the CLI entry point, on the active session."""
    node = run_node(servers, topic, work, NODE.format(schema=SCHEMA, options="",
                                                      extra=DLQ if dead_letters else ""))
    # One batch (available_now, no maxOffsetsPerTrigger): the last progress is all of them.
    batch = node["last_progress"]["duration_ms"] / 1000 if node["batches"] == 1 else float("nan")
    return float(node["duration_s"]), batch, int(node["rows_in"] or 0)


def run_node(servers: str, topic: str, work: Path, node_text: str) -> dict[str, Any]:
    """`tauro run --preview 0` of a project whose one node `events` is `node_text`, on the
    active session; the node's entry of `run_results.json`."""
    from tauro_compile.cli import main

    project = work / "project"
    (project / "nodes").mkdir(parents=True)
    (project / "tauro_project.yml").write_text('name: kbench\nversion: "1.0"\nprofile: bench\n')
    (project / "profiles.yml").write_text(PROFILES)
    (project / "nodes" / "events.yml").write_text(node_text)
    os.environ.update({"KAFKA_BOOTSTRAP_SERVERS": servers, "TOPIC": topic})
    os.environ.pop("TAURO_PROFILE", None)
    try:
        main(["run", "--project-dir", str(project), "--plain", "--preview", "0"],
             standalone_mode=False)
    except SystemExit as exc:
        if exc.code:
            raise
    return json.loads((project / "target" / "run_results.json").read_text())["nodes"]["events"]


def run_child(job: str, servers: str, topic: str, work: Path) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", job, servers, topic, str(work)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "process": time.perf_counter() - started}


# ------------------------------------------------------------------------------- the bench

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bad-every", type=int, default=100, help="1 in N records is malformed")
    parser.add_argument("--java-options", default=None,
                        help="driver JVM options of every job (e.g. a flight recording)")
    parser.add_argument("--child", nargs=4, metavar=("JOB", "SERVERS", "TOPIC", "WORK"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job, servers, topic, work = args.child
        result = child(job, servers, topic, Path(work))
        sys.stdout.flush()
        print(json.dumps(result), flush=True)
        return 0

    if args.java_options:
        os.environ[JAVA_OPTIONS_ENV] = args.java_options
    sys.path.insert(0, str(ROOT / "tests"))
    from support.kafka_broker import KafkaBroker

    command = " ".join(["python bench/kafka_throughput.py", *map(shlex.quote, sys.argv[1:])])
    load_before = os.getloadavg()
    work_root = Path(tempfile.mkdtemp(prefix="tauro-kbench-"))
    results: dict[str, list[dict[str, Any]]] = {job: [] for job in JOBS}
    try:
        with KafkaBroker() as broker:
            servers = broker.bootstrap_servers
            broker.create_topic("clean", PARTITIONS)
            broker.create_topic("dirty", PARTITIONS)
            started = time.perf_counter()
            produce(broker, "clean", args.records)
            produce(broker, "dirty", args.records, args.bad_every)
            print(f"produced 2 x {args.records:,} records in {time.perf_counter() - started:.1f} s",
                  flush=True)
            for round_ in range(args.repeat):
                for job in JOBS:
                    work = work_root / f"{job.replace('+', '-')}-{round_}"
                    work.mkdir()
                    result = run_child(job, servers, "dirty" if job == "tauro+dlq" else "clean",
                                       work)
                    results[job].append(result)
                    print(f"round {round_ + 1} {job:12s} query {result['seconds']:6.1f} s  "
                          f"batch {result['batch']:6.1f} s  "
                          f"JVM CPU {result['cpu']:6.1f} s  process {result['process']:6.1f} s  "
                          f"rows {result['rows']:,}  (preview {result['preview_s']:.1f} s, "
                          f"{result['preview_cpu']:.1f} CPU-s)  load {os.getloadavg()[0]:.1f}",
                          flush=True)
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    load_after = os.getloadavg()

    best = {job: min(r["seconds"] for r in results[job]) for job in JOBS}
    best_batch = {job: min(r["batch"] for r in results[job]) for job in JOBS}
    cpu = {job: statistics.median(r["cpu"] for r in results[job]) for job in JOBS}
    rate = {job: args.records / best[job] for job in JOBS}
    cpu_rate = {job: args.records / cpu[job] for job in JOBS}
    ratio = rate["tauro"] / rate["handwritten"]
    batch_ratio = best_batch["handwritten"] / best_batch["tauro"]
    cpu_ratio = cpu_rate["tauro"] / cpu_rate["handwritten"]
    rounds = "; ".join(f"{job}: " + ", ".join(f"{r['seconds']:.1f} ({r['batch']:.1f})"
                                             for r in results[job]) for job in JOBS)
    lines = [
        "# Kafka -> parse JSON -> Delta throughput",
        "",
        f"Command: `{command}` (from the repository root, with `.venv/bin/python`).",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after.",
        f"{args.records:,} records of ~{len(record(123456))} bytes on a {PARTITIONS}-partition "
        f"topic; Spark local[2], available_now, one micro-batch; {args.repeat} interleaved "
        "rounds, each job in a fresh process. Query: the query's wall time from building the "
        "stream to its end (no JVM start-up; for tauro: validation, Kafka pre-flight and "
        "query start included), best round. Batch: Spark's own duration of the "
        "micro-batch (read, parse, write, commit), best round. CPU: the JVM's CPU time during "
        "the job, median round (`tauro run --preview 0`: the 5-row read-back a terminal "
        "would show is measured after the job, on its own, in the last columns).",
        "",
        "| job | query s | records/s (query) | batch s | records/s (batch) | JVM CPU s | "
        "records/CPU-s | 5-row read-back s | its CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {job} | {best[job]:.1f} | {rate[job]:,.0f} | {best_batch[job]:.1f} | "
          f"{args.records / best_batch[job]:,.0f} | {cpu[job]:.1f} | {cpu_rate[job]:,.0f} | "
          f"{statistics.median(r['preview_s'] for r in results[job]):.1f} | "
          f"{statistics.median(r['preview_cpu'] for r in results[job]):.1f} |"
          for job in JOBS],
        "",
        f"Tauro / hand-written records/s: **{ratio:.2f}** by query time, **{batch_ratio:.2f}** "
        f"by batch time, **{cpu_ratio:.2f}** by CPU time (target >= {TARGET_RATIO}).",
        f"`tauro+dlq`: the same job on a topic where 1 in {args.bad_every} records is malformed, "
        "with `on_parse_error: dead_letter` into a Delta table: "
        f"**{rate['tauro+dlq'] / rate['tauro']:.2f}** of `tauro` by query time, "
        f"**{cpu_rate['tauro+dlq'] / cpu_rate['tauro']:.2f}** by CPU time (target >= 0.80).",
        f"Query (batch) seconds per round: {rounds}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
