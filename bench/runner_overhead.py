"""Runner overhead: `tauro run` against a hand-written PySpark script doing the same work.

The pipeline: JSON-lines files (2 million rows) -> parse/cast transform -> Delta, with an
available_now trigger. Each variant runs as a fresh process with the same Spark settings
(local[2], the pinned jars, shuffle partitions 2, no UI), alternating, `--repeat` times,
each on a fresh output table and checkpoint. Reported per variant: wall time of the process;
Spark's own duration of the micro-batch (the query's work); and the time from process start
to the moment the query gets defined (Tauro: the node's `started_at` in run_results.json,
i.e. after imports, compile and Spark start; the script: a timestamp it prints once its
SparkSession is up), so Tauro's own start-up overhead is the difference. Then a 10-node project (1 ingest, 3 silver, 6 gold;
100k rows) is timed from `tauro run` to its end.

    .venv/bin/python bench/runner_overhead.py [--rows 2000000] [--repeat 2] [--keep DIR]
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
from datetime import datetime
from pathlib import Path

from bench_projects import write_file_stream_project

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "id BIGINT, user STRING, amount STRING, ts STRING, kind STRING"
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"}
MASTER = "local[2]"

HAND_WRITTEN = '''
import json, sys, time
from pyspark.sql import SparkSession, functions as F

conf, source, output, checkpoint = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
builder = SparkSession.builder.master("{master}").appName("hand-written")
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
spark.sparkContext.setLogLevel("WARN")
print("QUERY_START", time.time(), flush=True)
df = spark.readStream.schema("{schema}").json(source)
df = (df.withColumn("amount", F.col("amount").cast("double"))
        .withColumn("ts", F.to_timestamp("ts"))
        .withColumn("kind", F.lower(F.trim("kind"))))
writer = (df.writeStream.format("delta").outputMode("append").queryName("events")
          .option("checkpointLocation", checkpoint).trigger(availableNow=True))
query = writer.start(output)
query.awaitTermination()
print("PROGRESS", query._jsq.lastProgress().json(), flush=True)
'''

TRANSFORM = '''
from pyspark.sql import DataFrame, functions as F


def parse(df: DataFrame) -> DataFrame:
    return (df.withColumn("amount", F.col("amount").cast("double"))
              .withColumn("ts", F.to_timestamp("ts"))
              .withColumn("kind", F.lower(F.trim("kind"))))
'''


def write_input(directory: Path, rows: int, files: int = 8) -> None:
    """`rows` JSON lines spread over `files` files."""
    directory.mkdir(parents=True, exist_ok=True)
    per_file = rows // files
    kinds = [" View", "click ", "PURCHASE", "view"]
    for f in range(files):
        lines = []
        start = f * per_file
        for i in range(start, start + per_file):
            lines.append(f'{{"id":{i},"user":"u{i % 5000}","amount":"{i % 977}.5",'
                         f'"ts":"2024-05-01 {i % 24:02d}:{i % 60:02d}:00","kind":"{kinds[i % 4]}"}}\n')
        (directory / f"part-{f:02d}.json").write_text("".join(lines))


def project(directory: Path, landing: Path, nodes: dict[str, str]) -> Path:
    """A Tauro project with the benchmark's profile, a parse transform and `nodes`."""
    return write_file_stream_project(
        directory, name="bench", source="landing", landing=landing, schema=SCHEMA,
        master=MASTER, conf=SPARK_CONF,
        files={"transforms/__init__.py": "", "transforms/parse.py": TRANSFORM,
               **{f"nodes/{name}.yml": text for name, text in nodes.items()}})


def run_tauro(project_dir: Path) -> dict[str, float]:
    """Wall time process start to the first node starting, and the batch time of one `tauro run`."""
    env = {**os.environ}
    env.pop("TAURO_PROFILE", None)
    begin = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                             str(project_dir), "--plain"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    summary_at, lines = None, []
    for line in proc.stdout:  # the summary table is printed before outputs are read back
        lines.append(line)
        if summary_at is None and line.startswith("Run succeeded"):
            summary_at = time.time()
    err = proc.stderr.read()
    proc.wait()
    wall = time.time() - begin
    if proc.returncode != 0 or summary_at is None:
        raise SystemExit(f"tauro run failed ({proc.returncode}):\n{''.join(lines)}\n{err}")
    results = json.loads((project_dir / "target" / "run_results.json").read_text())
    starts = [datetime.fromisoformat(n["started_at"]).timestamp()
              for n in results["nodes"].values() if n["started_at"]]
    rows = sum(n["rows_in"] for n in results["nodes"].values())
    batch = sum((n["last_progress"] or {}).get("duration_ms") or 0
                for n in results["nodes"].values()) / 1000
    return {"wall_s": wall, "to_query_start_s": min(starts) - begin, "rows_in": rows,
            "batch_s": batch, "to_summary_s": summary_at - begin}


def run_hand_written(script: Path, conf: dict[str, str], source: Path, out: Path) -> dict[str, float]:
    """Wall time and process-start-to-query-start of the hand-written script."""
    for d in (out / "table", out / "chk"):
        shutil.rmtree(d, ignore_errors=True)
    begin = time.time()
    proc = subprocess.run([sys.executable, str(script), json.dumps(conf), str(source),
                           str(out / "table"), str(out / "chk")], capture_output=True, text=True)
    wall = time.time() - begin
    if proc.returncode != 0:
        raise SystemExit(f"hand-written script failed:\n{proc.stderr[-3000:]}")
    lines = proc.stdout.splitlines()
    started = next(float(line.split()[1]) for line in lines if line.startswith("QUERY_START"))
    progress = json.loads(next(line.split(" ", 1)[1] for line in lines
                               if line.startswith("PROGRESS")))
    return {"wall_s": wall, "to_query_start_s": started - begin,
            "batch_s": progress["batchDuration"] / 1000}


def process_seconds(args: list[str], repeat: int = 5) -> float:
    """Median wall time of a short command run as a fresh process."""
    times = []
    for _ in range(repeat):
        begin = time.time()
        subprocess.run(args, capture_output=True, check=True)
        times.append(time.time() - begin)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tauro_compile.streaming.session import session_conf

    work = args.keep or Path(tempfile.mkdtemp(prefix="tauro-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    landing = work / "landing"
    if not landing.exists():
        print(f"writing {args.rows:,} rows of JSON to {landing} ...", flush=True)
        write_input(landing, args.rows)
    conf = session_conf(MASTER, SPARK_CONF)
    script = work / "hand_written.py"
    script.write_text(HAND_WRITTEN.format(master=MASTER, schema=SCHEMA))
    one_node = {"events": """
        input: {source: landing}
        transforms:
          - python: transforms.parse:parse
        output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
    """}

    tauro_runs, hand_runs = [], []
    for i in range(args.repeat):
        hand_runs.append(run_hand_written(script, conf, landing, work / "hand"))
        print(f"hand-written #{i + 1}: {hand_runs[-1]['wall_s']:.1f}s "
              f"(session ready at {hand_runs[-1]['to_query_start_s']:.2f}s, "
              f"batch {hand_runs[-1]['batch_s']:.1f}s)", flush=True)
        tauro_runs.append(run_tauro(project(work / "tauro", landing, one_node)))
        print(f"tauro run    #{i + 1}: {tauro_runs[-1]['wall_s']:.1f}s "
              f"(node starting at {tauro_runs[-1]['to_query_start_s']:.2f}s, "
              f"batch {tauro_runs[-1]['batch_s']:.1f}s, summary at "
              f"{tauro_runs[-1]['to_summary_s']:.1f}s, {tauro_runs[-1]['rows_in']:,} rows)",
              flush=True)
        if tauro_runs[-1]["rows_in"] != args.rows:
            raise SystemExit(f"tauro processed {tauro_runs[-1]['rows_in']} rows, not {args.rows}")

    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    t_wall, h_wall = med(tauro_runs, "wall_s"), med(hand_runs, "wall_s")
    t_start, h_start = med(tauro_runs, "to_query_start_s"), med(hand_runs, "to_query_start_s")
    print()
    print(f"{args.rows:,} rows, files -> parse -> Delta, available_now, {MASTER}, "
          f"median of {args.repeat}")
    t_batch, h_batch = med(tauro_runs, "batch_s"), med(hand_runs, "batch_s")
    t_summary = med(tauro_runs, "to_summary_s")
    print(f"  hand-written PySpark: {h_wall:6.1f} s wall, session ready after {h_start:5.2f} s, "
          f"batch {h_batch:6.1f} s")
    print(f"  tauro run:            {t_wall:6.1f} s wall, first node starting after "
          f"{t_start:5.2f} s, batch {t_batch:6.1f} s, summary table after {t_summary:6.1f} s "
          f"(then {t_wall - t_summary:.1f} s reading 5 rows back and exiting)")
    print(f"  ratio tauro / hand-written: wall {t_wall / h_wall:.3f}, to summary "
          f"{t_summary / h_wall:.3f}, batch "
          f"{t_batch / h_batch:.3f} (target <= 1.05); first node starting minus session "
          f"ready: {t_start - h_start:+.2f} s")
    print(f"  load average during the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    # Tauro's own start-up work, without the JVM's noise: a fresh `tauro compile` (imports,
    # compile, manifest) against a fresh process importing what the script imports.
    compile_s = process_seconds([sys.executable, "-m", "tauro_compile", "compile",
                                 "--project-dir", str(work / "tauro")])
    pyspark_s = process_seconds([sys.executable, "-c", "from pyspark.sql import SparkSession, "
                                 "functions"])
    print(f"  fresh process `tauro compile`: {compile_s:.2f} s; fresh process importing "
          f"pyspark.sql: {pyspark_s:.2f} s; Tauro's own start-up work: "
          f"{compile_s - pyspark_s:+.2f} s (target < 1 s)")

    landing_small = work / "landing_small"
    if not landing_small.exists():
        write_input(landing_small, 100_000, files=2)
    ten = {"raw": """
        input: {source: landing}
        transforms:
          - python: transforms.parse:parse
        output: {format: delta, path: "{{ target.paths.warehouse }}/raw"}
    """}
    for kind in ("view", "click", "purchase"):
        ten[f"silver_{kind}"] = f"""
            input: {{ref: raw}}
            transforms:
              - sql: "SELECT * FROM {{{{ input }}}} WHERE kind = '{kind}'"
            output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/silver_{kind}"}}
        """
        for agg, expr in (("count", "count(*)"), ("amount", "sum(amount)")):
            ten[f"gold_{kind}_{agg}"] = f"""
                input: {{ref: silver_{kind}}}
                transforms:
                  - sql: "SELECT user, {expr} AS value FROM {{{{ input }}}} GROUP BY user"
                output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/gold_{kind}_{agg}"}}
                streaming: {{output_mode: complete}}
            """
    result = run_tauro(project(work / "ten", landing_small, ten))
    print(f"  10-node project (1 ingest, 3 silver, 6 gold; 100,000 rows): "
          f"{result['wall_s']:.1f} s from `tauro run` to its end "
          f"(first query started after {result['to_query_start_s']:.2f} s)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
