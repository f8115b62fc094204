"""Where `tauro run`'s extra JVM CPU goes on Kafka -> parse JSON -> Delta, one piece at a time.

Not a test. `bench/kafka_throughput.py` compares the hand-written job with `tauro run` of the
same node; this bench adds Tauro's pieces to the hand-written job one at a time, on the same
clean topic (the broker of tests/support/kafka_broker.py), all in one Spark process
(`build_spark_session`, local[2], 2 shuffle partitions, no UI), each job an available_now
query of its own. Each job runs once to warm the JVM up, then `--rounds` interleaved rounds
are measured: fresh processes (as `bench/kafka_throughput.py` runs them) were too noisy on a
2-CPU VM to see a step of 1-3 CPU-s (the hand-written job alone took 21.4-28.3 CPU-s in
three rounds). Jobs:

- `hand`: readStream kafka -> from_json(value, schema) -> select the fields -> Delta;
- `+corrupt`: the schema with Spark's corrupt-record column (how Tauro finds values that do
  not parse), the column dropped before the write;
- `+observe`: and the four parse counts Tauro observes (`tauro_kafka_parse`);
- `parse`: Tauro's own `parse_kafka_json(on_parse_error="fail")` (the above plus the filter
  that fails the batch on a bad record) written by hand;
- `parse+rows`: and Tauro's rows-out observation (`tauro_rows_out`), so the whole stream
  Tauro builds, without `tauro run` around it;
- `tauro`: `tauro run --preview 0` of the one-node project (`bench/kafka_throughput.py`'s):
  adds what the run itself does (validation, the Kafka pre-flight, table checks, progress).

Per job: the JVM's CPU seconds during the job (from /proc: Linux only) and its wall seconds;
the median of the rounds. Writes `bench/results/kafka_cpu.md`.

    .venv/bin/python bench/kafka_cpu_breakdown.py [--records 500000] [--rounds 3]
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

from bench_projects import publish
from kafka_throughput import (
    NODE,
    PARTITIONS,
    ROOT,
    SCHEMA,
    SPARK_CONF,
    jvm_cpu_seconds,
    produce,
    record,
    run_node,
)

RESULTS = ROOT / "bench" / "results" / "kafka_cpu.md"
JOBS = ("hand", "+corrupt", "+observe", "parse", "parse+rows", "tauro")


def stream(spark: Any, job: str, servers: str, topic: str) -> Any:
    """The job's streaming DataFrame, from the Kafka source to what the sink gets."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    from tauro_compile.streaming.kafka import (
        CORRUPT_COLUMN,
        PARSE_METRIC,
        parse_kafka_json,
        to_struct_type,
    )
    from tauro_compile.streaming.writers import observe_rows_out

    df = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", servers)
          .option("subscribe", topic).option("startingOffsets", "earliest").load())
    if job == "hand":
        return df.select(F.from_json(F.col("value").cast("string"), SCHEMA).alias("d")) \
                 .select("d.*")
    if job in ("parse", "parse+rows"):
        parsed = parse_kafka_json(df, SCHEMA, "fail", node_name="events")
        return observe_rows_out(parsed) if job == "parse+rows" else parsed
    struct = to_struct_type(SCHEMA)
    fields = struct.fieldNames()
    with_corrupt = StructType([*struct.fields, StructField(CORRUPT_COLUMN, StringType())])
    df = df.withColumn("d", F.from_json(F.col("value").cast("string"), with_corrupt,
                                        {"columnNameOfCorruptRecord": CORRUPT_COLUMN}))
    if job == "+observe":
        tombstone = F.col("value").isNull()
        bad = ~tombstone & (F.col("d").isNull() | F.col(f"d.{CORRUPT_COLUMN}").isNotNull())
        df = df.observe(PARSE_METRIC, F.count(F.lit(1)).alias("records"),
                        F.count_if(~tombstone & ~bad).alias("good"),
                        F.count_if(bad).alias("bad"), F.count_if(tombstone).alias("tombstones"))
    return df.select(*[F.col(f"d.{name}").alias(name) for name in fields])


def one_job(spark: Any, job: str, servers: str, topic: str, work: Path) -> dict[str, Any]:
    """Run one job on the warm session: its query seconds, JVM CPU seconds and rows."""
    cpu = jvm_cpu_seconds(spark)
    started = time.perf_counter()
    if job == "tauro":
        node = run_node(servers, topic, work, NODE.format(schema=SCHEMA, options="", extra=""))
        rows = int(node["rows_in"] or 0)
    else:
        query = (stream(spark, job, servers, topic).writeStream.format("delta")
                 .option("checkpointLocation", str(work / "chk"))
                 .trigger(availableNow=True).start(str(work / "events")))
        query.awaitTermination()
        rows = sum(int(p["numInputRows"]) for p in query.recentProgress)
    return {"seconds": time.perf_counter() - started, "cpu": jvm_cpu_seconds(spark) - cpu,
            "rows": rows}


def child(servers: str, topic: str, work_root: Path, rounds: int) -> dict[str, list[dict]]:
    """Every job once to warm the JVM up, then `rounds` interleaved rounds, in this process."""
    import logging

    from tauro_compile.streaming.session import build_spark_session

    # `tauro run` on this active session says its profile's settings are not applied: known.
    logging.getLogger("tauro_compile").setLevel(logging.ERROR)
    spark = build_spark_session("local[2]", "bench-kafka-cpu", dict(SPARK_CONF))
    results: dict[str, list[dict[str, Any]]] = {job: [] for job in JOBS}
    for round_ in range(rounds + 1):
        for job in JOBS:
            work = work_root / f"{job.replace('+', 'plus-')}-{round_}"
            work.mkdir()
            result = one_job(spark, job, servers, topic, work)
            shutil.rmtree(work, ignore_errors=True)
            print(f"{'warm-up' if round_ == 0 else f'round {round_}'} {job:11s} "
                  f"query {result['seconds']:6.1f} s  JVM CPU {result['cpu']:6.1f} s  "
                  f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
            if round_:
                results[job].append(result)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        servers, topic, work = args.child
        result = child(servers, topic, Path(work), args.rounds)
        sys.stdout.flush()
        print(json.dumps(result), flush=True)
        return 0

    sys.path.insert(0, str(ROOT / "tests"))
    from support.kafka_broker import KafkaBroker

    command = " ".join(["python bench/kafka_cpu_breakdown.py", *map(shlex.quote, sys.argv[1:])])
    load_before = os.getloadavg()
    work_root = Path(tempfile.mkdtemp(prefix="tauro-kcpu-"))
    try:
        with KafkaBroker() as broker:
            broker.create_topic("clean", PARTITIONS)
            produce(broker, "clean", args.records)
            out = subprocess.run([sys.executable, __file__, "--rounds", str(args.rounds),
                                  "--child", broker.bootstrap_servers, "clean", str(work_root)],
                                 stdout=subprocess.PIPE, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"the bench's Spark process failed:\n{out.stdout[-2000:]}")
            results = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    for job in JOBS:
        short = [r["rows"] for r in results[job] if r["rows"] != args.records]
        if short:
            raise RuntimeError(f"{job} read {short} rows, not {args.records}")
    load_after = os.getloadavg()

    cpu = {job: statistics.median(r["cpu"] for r in results[job]) for job in JOBS}
    wall = {job: statistics.median(r["seconds"] for r in results[job]) for job in JOBS}
    rows = []
    previous = None
    for job in JOBS:
        step = "" if previous is None else f"{cpu[job] - cpu[previous]:+.1f}"
        rows.append(f"| {job} | {wall[job]:.1f} | {cpu[job]:.1f} | {step} | "
                    f"{cpu['hand'] / cpu[job]:.2f} | "
                    + ", ".join(f"{r['cpu']:.1f}" for r in results[job]) + " |")
        previous = job
    text = "\n".join([
        "# Kafka -> parse JSON -> Delta: where tauro's extra JVM CPU goes",
        "",
        f"Command: `{command}` (from the repository root, with `.venv/bin/python`).",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, "
        f"{os.cpu_count()} CPUs; load average {load_before[0]:.1f} before, "
        f"{load_after[0]:.1f} after. {args.records:,} records of ~{len(record(123456))} bytes "
        f"on a {PARTITIONS}-partition topic, one micro-batch (available_now), every job in "
        f"one warm Spark process (a warm-up round, then {args.rounds} interleaved rounds), "
        "medians. Jobs: see the bench's docstring; each adds one piece to the one above it.",
        "",
        "| job | query s | JVM CPU s | step (CPU s) | hand / job (by CPU) | CPU per round (s) |",
        "|---|---:|---:|---:|---:|---|",
        *rows,
        "",
    ])
    publish(text, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
