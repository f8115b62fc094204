"""Scale-out: the same projects on local[2], a standalone cluster and Spark Connect; FAIR vs FIFO.

Part 1, one run per target of each workload, side by side: the example project (dev
profile, available_now) and the runner benchmark's workload (JSON-lines files -> cast
transform -> Delta, `--rows` rows, available_now). Per run: wall time of the `tauro run`
process and the query time (sum over nodes of started -> ended in run_results.json).
Targets: `local[2]` (the driver's own JVM), a standalone master + one 2-core worker
(client mode), and a Spark Connect server (local[2] inside), both started from the pinned
pyspark by tests/support/spark_cluster.py on 127.0.0.1.

Part 2, 20 continuous nodes in one application (local[2]): one heavy node (a wide
aggregation over a fast rate source), one light node (a few rows every second), and 18
moderate ones. Run for `--seconds` under `spark.scheduler.mode` FIFO, then FAIR (a pool per
node, Tauro's default); reported: the light node's p50/p95 batch duration (Spark's
`batchDuration`: trigger to commit, i.e. the latency its rows see), from its recentProgress.

    .venv/bin/python bench/scale_out.py [--rows 200000] [--seconds 90] [--skip-part1]

The machine is a shared 2-core box: the load average is printed and recorded with the figures.
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
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.spark_cluster import ConnectServer, StandaloneCluster  # noqa: E402

EXAMPLE = ROOT / "example_project"
RESULTS = ROOT / "bench" / "results" / "scale_out.md"
CONF = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"}
CLUSTER_CONF = {**CONF, "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                "spark.executor.memory": "768m", "spark.cores.max": "2",
                "spark.databricks.delta.snapshotPartitions": "2"}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def tauro(project: Path, *args: str, timeout: float = 1800) -> tuple[float, dict]:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                           str(project), "--plain", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"tauro run failed ({project}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, json.loads((project / "target" / "run_results.json").read_text())


def query_seconds(results: dict) -> float:
    return round(sum(n.get("duration_s") or 0 for n in results["nodes"].values()), 1)


def spark_section(target: str, where: str) -> dict:
    if target == "local":
        return {"master": "local[2]", "conf": dict(CONF)}
    if target == "standalone":
        return {"master": where, "conf": dict(CLUSTER_CONF)}
    return {"master": None, "remote": where, "conf": {"spark.sql.shuffle.partitions": "2"}}


def example_project(work: Path, target: str, where: str) -> tuple[Path, list[str]]:
    project = Path(shutil.copytree(EXAMPLE, work / f"example-{target}", ignore=shutil.ignore_patterns(
        "target", "warehouse", "checkpoints", "prod", "__pycache__")))
    doc = yaml.safe_load((EXAMPLE / "profiles.yml").read_text())
    doc["profiles"]["dev"]["paths"] = {k: str(project / v)
                                       for k, v in doc["profiles"]["dev"]["paths"].items()}
    doc["profiles"]["bench"] = {"extends": "dev", "spark": spark_section(target, where)}
    profiles = work / f"profiles-{target}"
    profiles.mkdir()
    (profiles / "profiles.yml").write_text(yaml.safe_dump(doc))
    return project, ["--profile", "bench", "--profiles-dir", str(profiles)]


def rows_project(work: Path, target: str, where: str, data: Path) -> tuple[Path, list[str]]:
    project = work / f"rows-{target}"
    (project / "transforms").mkdir(parents=True)
    (project / "transforms" / "__init__.py").write_text("")
    (project / "transforms" / "cast.py").write_text(textwrap.dedent('''
        from pyspark.sql import functions as F

        def cast(df):
            return (df.withColumn("amount", F.col("amount").cast("double"))
                      .withColumn("ts", F.to_timestamp("ts"))
                      .withColumn("kind", F.lower(F.trim("kind"))))
    '''))
    (project / "tauro_project.yml").write_text('name: rows\nversion: "1"\nprofile: bench\n')
    (project / "profiles.yml").write_text(yaml.safe_dump({"profiles": {"bench": {
        "spark": spark_section(target, where),
        "paths": {"warehouse": str(project / "wh"), "checkpoints": str(project / "chk")}}}}))
    (project / "nodes").mkdir()
    (project / "nodes" / "events.yml").write_text(textwrap.dedent(f'''
        input:
          format: file_stream
          path: "{data}"
          file_format: json
          schema: "id BIGINT, user STRING, amount STRING, ts STRING, kind STRING"
        transforms:
          - python: transforms.cast:cast
        output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/events"}}
        streaming: {{trigger: {{type: available_now}}}}
    '''))
    return project, []


def write_rows(data: Path, rows: int, files: int = 8) -> None:
    data.mkdir(parents=True)
    per = rows // files
    for f in range(files):
        with open(data / f"part-{f:02d}.json", "w") as out:
            for i in range(f * per, (f + 1) * per):
                out.write(json.dumps({"id": i, "user": f"u{i % 977}", "amount": str(i % 1000 / 7),
                                      "ts": "2024-05-01T10:00:00", "kind": " Click "}) + "\n")


def part1(work: Path, rows: int) -> list[str]:
    data = work / "rows-data"
    write_rows(data, rows)
    lines = ["| workload | target | wall s | query s | rows in | load before |",
             "| --- | --- | --- | --- | --- | --- |"]
    cluster = StandaloneCluster(work / "cluster").start()
    server = ConnectServer(work / "connect").start()
    try:
        targets = {"local": "local[2]", "standalone": cluster.master_url, "connect": server.url}
        for workload in ("example", "rows"):
            for target, where in targets.items():
                if workload == "example":
                    project, args = example_project(work, target, where)
                else:
                    project, args = rows_project(work, target, where, data)
                before = load()
                wall, results = tauro(project, *args)
                rows_in = sum(n.get("rows_in") or 0 for n in results["nodes"].values())
                line = (f"| {workload} | {target} | {wall:.1f} | {query_seconds(results)} "
                        f"| {rows_in} | {before} |")
                print(line, flush=True)
                lines.append(line)
    finally:
        server.stop()
        cluster.stop()
    return lines


COLLECTOR = r'''
import json, os, signal, sys, threading, time
from tauro_compile.cli import main

out, seconds = sys.argv[1], float(sys.argv[2])

def collect():
    from pyspark.sql import SparkSession
    while SparkSession.getActiveSession() is None and SparkSession._instantiatedSession is None:
        time.sleep(0.5)
    spark = SparkSession._instantiatedSession
    while len(spark.streams.active) < 20:
        time.sleep(0.5)
    time.sleep(seconds)
    found = {}
    for q in spark.streams.active:
        found[q.name] = [p["batchDuration"] for p in q.recentProgress
                         if "addBatch" in (p.get("durationMs") or {})]
    with open(out, "w") as f:
        json.dump(found, f)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=collect, daemon=True).start()
sys.argv = ["tauro", "run", "--project-dir", sys.argv[3], "--plain"]
main()
'''


def many_nodes_project(work: Path, mode: str) -> Path:
    project = work / f"many-{mode}"
    nodes = project / "nodes"
    nodes.mkdir(parents=True)
    (project / "tauro_project.yml").write_text('name: many\nversion: "1"\nprofile: bench\n')
    (project / "profiles.yml").write_text(yaml.safe_dump({"profiles": {"bench": {
        "spark": {"master": "local[2]", "conf": {**CONF, "spark.scheduler.mode": mode,
                                                 "spark.sql.shuffle.partitions": "8"}},
        "paths": {"warehouse": str(project / "wh"), "checkpoints": str(project / "chk")}}}}))
    heavy = ("SELECT value % 5000 AS k, count(*) AS n, max(sha2(cast(value AS STRING), 512)) AS h "
             "FROM {{ input }} GROUP BY value % 5000")
    (nodes / "heavy.yml").write_text(yaml.safe_dump({
        "input": {"format": "rate", "options": {"rowsPerSecond": 300000, "numPartitions": 8}},
        "transforms": [{"sql": heavy}],
        "output": {"format": "memory"},
        "streaming": {"trigger": {"type": "processing_time", "interval": "1 second"},
                      "output_mode": "complete"}}))
    (nodes / "light.yml").write_text(yaml.safe_dump({
        "input": {"format": "rate", "options": {"rowsPerSecond": 5, "numPartitions": 1}},
        "output": {"format": "memory"},
        "streaming": {"trigger": {"type": "processing_time", "interval": "1 second"}}}))
    for i in range(18):
        (nodes / f"moderate_{i:02d}.yml").write_text(yaml.safe_dump({
            "input": {"format": "rate", "options": {"rowsPerSecond": 20, "numPartitions": 1}},
            "output": {"format": "memory"},
            "streaming": {"trigger": {"type": "processing_time", "interval": "10 seconds"}}}))
    return project


def part2(work: Path, seconds: float) -> list[str]:
    lines = ["| scheduler | light node batches | p50 batch ms | p95 batch ms | heavy batches "
             "| load before |", "| --- | --- | --- | --- | --- | --- |"]
    for mode in ("FIFO", "FAIR"):
        project = many_nodes_project(work, mode)
        out = work / f"many-{mode}.json"
        before = load()
        proc = subprocess.run([sys.executable, "-c", COLLECTOR, str(out), str(seconds),
                               str(project)], capture_output=True, text=True, timeout=seconds + 900,
                              check=False)
        if not out.exists():
            raise SystemExit(f"{mode}: no figures\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        found = json.loads(out.read_text())
        light = sorted(found.get("light", []))
        p50 = statistics.median(light) if light else float("nan")
        p95 = light[min(len(light) - 1, int(0.95 * len(light)))] if light else float("nan")
        line = (f"| {mode} | {len(light)} | {p50:.0f} | {p95:.0f} | {len(found.get('heavy', []))}"
                f" | {before} |")
        print(line, flush=True)
        lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--skip-part1", action="store_true")
    parser.add_argument("--skip-part2", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tauro-scale-out-"))
    started = load()
    try:
        one = [] if args.skip_part1 else part1(work, args.rows)
        two = [] if args.skip_part2 else part2(work, args.seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = "python bench/scale_out.py " + " ".join(sys.argv[1:])
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [f"# Scale-out ({stamp})", "", f"Command: `{command}`", "",
            f"Load average (1/5/15 min) at start: {started}, at end: {load()} on "
            f"{os.cpu_count()} cores. The machine is shared with other work and was loaded "
            "while this ran: absolute figures are slow and noisy, compare within a table.", ""]
    if one:
        text += [f"## Same projects, three targets ({args.rows} rows for `rows`)", "", *one, ""]
    if two:
        text += [f"## 20 continuous nodes in one application, {args.seconds:.0f} s each", "",
                 *two, ""]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(text) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
