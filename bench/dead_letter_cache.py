"""Benchmark: a Kafka stream through a node with dead letters, in one or several batches.

Not a test. What `on_parse_error: dead_letter` costs: a topic with no bad record (or, with
`--bad-every N`, 1 in N records malformed), read in `--batches` micro-batches
(`maxOffsetsPerTrigger`), by `tauro run` in a fresh process per job, in interleaved rounds:

- `none`: the node without dead letters (Delta's own streaming sink), on a clean topic of
  the same size;
- `dlq`: the same node with dead letters into a Delta table (foreachBatch: every batch
  cached, counted by an observation on the main write, written with txnAppId/txnVersion);
- `dlq-baseline` (with `--baseline DIR`): the same, with the tauro_compile found in DIR
  (e.g. a worktree of another commit).

Query: the node's duration from `run_results.json` (all batches; no JVM start-up). CPU: the
driver JVM's CPU time during the run. Writes `bench/results/dead_letter_cache.md` (newest
first).

    .venv/bin/python bench/dead_letter_cache.py --records 400000 --batches 4 --rounds 3 \\
        --baseline /tmp/dlq-base
    .venv/bin/python bench/dead_letter_cache.py --records 500000 --batches 1 --bad-every 100 \\
        --baseline /tmp/dlq-base      # the dead-letter case of bench/kafka_throughput.py
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kafka_throughput import (
    DLQ,
    NODE,
    PARTITIONS,
    SCHEMA,
    SPARK_CONF,
    jvm_cpu_seconds,
    produce,
    run_node,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "dead_letter_cache.md"


def child(job: str, servers: str, topic: str, work: Path, per_batch: int) -> dict[str, Any]:
    """`tauro run` of the one-node project in this (fresh) process."""
    from tauro_compile.streaming.session import build_spark_session

    spark = build_spark_session("local[2]", f"bench-{job}", dict(SPARK_CONF))
    text = NODE.format(schema=SCHEMA, options=f'    maxOffsetsPerTrigger: "{per_batch}"\n',
                       extra=DLQ if job != "none" else "")
    cpu = jvm_cpu_seconds(spark)
    node = run_node(servers, topic, work, text)
    used = jvm_cpu_seconds(spark) - cpu
    return {"seconds": float(node["duration_s"]), "cpu": used, "rows": int(node["rows_in"] or 0),
            "batches": int(node["batches"])}


def run_child(job: str, servers: str, topic: str, work: Path, per_batch: int,
              pythonpath: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, __file__, "--child", job, servers, topic, str(work),
                          str(per_batch)], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{job} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=400_000)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bad-every", type=int, default=0,
                        help="1 in N records of the dead-letter jobs' topic is malformed")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="also run the tauro_compile found in DIR (PYTHONPATH)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job, servers, topic, work, per_batch = args.child
        result = child(job, servers, topic, Path(work), int(per_batch))
        sys.stdout.flush()
        print(json.dumps(result), flush=True)
        return 0

    sys.path.insert(0, str(ROOT / "tests"))
    from support.kafka_broker import KafkaBroker

    jobs = ["none", "dlq"] + (["dlq-baseline"] if args.baseline else [])
    per_batch = -(-args.records // args.batches)
    load_before = os.getloadavg()
    results: dict[str, list[dict[str, Any]]] = {job: [] for job in jobs}
    work_root = Path(tempfile.mkdtemp(prefix="tauro-dlqbench-"))
    try:
        with KafkaBroker() as broker:
            broker.create_topic("clean", PARTITIONS)
            produce(broker, "clean", args.records)
            letters_topic = "clean"
            if args.bad_every:
                letters_topic = "dirty"
                broker.create_topic(letters_topic, PARTITIONS)
                produce(broker, letters_topic, args.records, bad_every=args.bad_every)
            for round_ in range(args.rounds):
                for job in jobs:
                    work = work_root / f"{job}-{round_}"
                    work.mkdir()
                    topic = "clean" if job == "none" else letters_topic
                    result = run_child(job, broker.bootstrap_servers, topic, work, per_batch,
                                       args.baseline if job == "dlq-baseline" else None)
                    assert result["rows"] == args.records, result
                    results[job].append(result)
                    print(f"round {round_ + 1} {job:13s} query {result['seconds']:6.1f} s  "
                          f"JVM CPU {result['cpu']:6.1f} s  batches {result['batches']}  "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)
                    shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(work_root, ignore_errors=True)
    load_after = os.getloadavg()

    median = {job: statistics.median(r["seconds"] for r in results[job]) for job in jobs}
    cpu = {job: statistics.median(r["cpu"] for r in results[job]) for job in jobs}
    command = " ".join(["python bench/dead_letter_cache.py", *sys.argv[1:]])
    lines = [
        "# Dead letters on a Kafka stream" + (
            f", 1 in {args.bad_every} records malformed" if args.bad_every else
            ", no record malformed") + f", {args.batches} batch(es)",
        "",
        f"Command: `{command}` (from the repository root, with `.venv/bin/python`).",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; load "
        f"average {load_before[0]:.1f} before, {load_after[0]:.1f} after. {args.records:,} "
        f"records ({f'1 in {args.bad_every} malformed for the dead-letter jobs, none for `none`' if args.bad_every else 'no malformed one'}) "
        f"on a {PARTITIONS}-partition topic, read in "
        f"{args.batches} micro-batches of {per_batch:,} (`maxOffsetsPerTrigger`, available_now) "
        "by `tauro run` in a fresh process per job. "
        f"Median of {args.rounds} interleaved rounds.",
        "",
        "| job | query s (median) | vs none | JVM CPU s (median) | rounds (s) |",
        "|---|---:|---:|---:|---|",
        *[f"| {job} | {median[job]:.1f} | {median['none'] / median[job]:.2f} | {cpu[job]:.1f} | "
          + ", ".join(f"{r['seconds']:.1f}" for r in results[job]) + " |" for job in jobs],
        "",
    ]
    report = "\n".join(lines)
    print(report)
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text(report + ("\n---\n" + previous if previous else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
