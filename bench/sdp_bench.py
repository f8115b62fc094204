"""Tauro against Spark Declarative Pipelines (`spark-pipelines run`) on the incremental bench's
pipeline, side by side on this machine.

The data and the Tauro project are `bench/incremental_bench.py`'s (200k JSON events in 20
files -> bronze -> silver (purchases with price > 0, revenue) -> gold (count and sum per
user); then 2 new files of 20k rows). The SDP project is the same pipeline in SDP's terms:
`bronze` and `silver` streaming tables, `gold` a materialized view, SDP's default tables
(Parquet, in a Hive catalog: Derby in the project directory, since SDP's default in-memory
catalog forgets the tables and a second run fails) and its own local Spark Connect session
(all cores: 2 here) with 2 shuffle partitions and no UI.
A round: clean state, a cold run, a re-run with no new data, a run after 2 new files; Tauro
and SDP interleaved, each a whole process timed from start to exit. SDP needs pyspark >= 4.1
(Tauro pins 4.0.1), so it runs from a venv of its own:

    python3.11 -m venv /tmp/sdp-venv && /tmp/sdp-venv/bin/pip install "pyspark[pipelines]==4.2.1"
    .venv/bin/python bench/sdp_bench.py --sdp-venv /tmp/sdp-venv [--rounds 3]

After each round the SDP tables are counted with a Spark session of that venv and compared
with what Tauro's tables hold (the same counts, from the generated data).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_projects import publish
from incremental_bench import (
    FILES,
    NEW_FILES,
    SCHEMA,
    check_tables,
    expected,
    run_once,
    write_landing,
    write_project,
)

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("cold", "no new data", "+2 files")

PIPELINE = '''
from pyspark import pipelines as dp
from pyspark.sql import functions as F

LANDING = {landing!r}
SCHEMA = {schema!r}


@dp.table
def bronze():
    return spark.readStream.schema(SCHEMA).json(LANDING)


@dp.table
def silver():
    return (spark.readStream.table("bronze")
            .where("event_type = 'purchase' AND price > 0")
            .select("event_id", "user_id", "price", "quantity", "ts",
                    (F.col("price") * F.col("quantity")).alias("revenue")))


@dp.materialized_view
def gold():
    return (spark.read.table("silver").groupBy("user_id")
            .agg(F.count("*").alias("purchases"), F.sum("revenue").alias("revenue")))
'''

COUNT = '''
import json, sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
         .config("spark.sql.warehouse.dir", sys.argv[1]).getOrCreate())
out = {}
for name in ("bronze", "silver", "gold"):
    out[name] = spark.read.parquet(f"{sys.argv[1]}/{name}").count()
print("COUNTS " + json.dumps(out))
'''


def write_sdp_project(directory: Path, landing: Path) -> Path:
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "transformations").mkdir(parents=True)
    (directory / "spark-pipeline.yml").write_text(textwrap.dedent(f"""\
        name: incremental
        storage: file://{directory}/pipeline-storage
        configuration:
          spark.sql.shuffle.partitions: "2"
        libraries:
          - glob:
              include: transformations/**
        """))
    (directory / "transformations" / "pipeline.py").write_text(
        PIPELINE.format(landing=str(landing), schema=SCHEMA))
    return directory


def run_sdp(project: Path, venv: Path) -> dict[str, float]:
    load = os.getloadavg()[0]
    begin = time.time()
    # A Hive catalog (Derby, in the project directory): with the default in-memory catalog
    # the tables are forgotten at exit and a second run fails with LOCATION_ALREADY_EXISTS.
    proc = subprocess.Popen([str(venv / "bin" / "spark-pipelines"),
                             "--conf", "spark.sql.catalogImplementation=hive",
                             "--conf", "spark.ui.enabled=false", "run"], cwd=project,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"})
    output = proc.communicate()[0]
    wall = time.time() - begin
    if proc.returncode != 0:
        raise SystemExit(f"spark-pipelines run failed ({proc.returncode}):\n{output[-4000:]}")
    return {"exit": wall, "load": load}


def sdp_counts(project: Path, venv: Path) -> dict[str, int]:
    done = subprocess.run([str(venv / "bin" / "python"), "-c", COUNT,
                           str(project / "spark-warehouse")], capture_output=True, text=True,
                          check=False)
    for line in done.stdout.splitlines():
        if line.startswith("COUNTS "):
            return json.loads(line[len("COUNTS "):])
    raise SystemExit(f"counting SDP's tables failed:\n{done.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdp-venv", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tauro-sdp-bench"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sdp.md")
    args = parser.parse_args()
    version = subprocess.run([str(args.sdp_venv / "bin" / "python"), "-c",
                              "import pyspark; print(pyspark.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    landing = args.work / "landing"
    runs: dict[tuple[str, str], list[float]] = {(v, k): [] for v in ("tauro", "sdp")
                                                for k in KINDS}
    load_start = os.getloadavg()
    want = expected(FILES + NEW_FILES)
    for round_no in range(args.rounds):
        shutil.rmtree(args.work, ignore_errors=True)
        write_landing(landing, range(FILES))
        write_project(args.work / "tauro", landing)
        write_sdp_project(args.work / "sdp", landing)
        for kind in KINDS:
            if kind == "+2 files":
                write_landing(landing, range(FILES, FILES + NEW_FILES))
            tauro = run_once(args.work / "tauro", None)
            sdp = run_sdp(args.work / "sdp", args.sdp_venv)
            runs[("tauro", kind)].append(tauro["exit"])
            runs[("sdp", kind)].append(sdp["exit"])
            print(f"round {round_no + 1} {kind:<11}: tauro {tauro['exit']:6.1f} s   "
                  f"sdp {sdp['exit']:6.1f} s   (load {os.getloadavg()[0]:.1f})", flush=True)
        tauro_counts = check_tables(args.work / "tauro", FILES + NEW_FILES)
        counts = sdp_counts(args.work / "sdp", args.sdp_venv)
        if counts != want or tauro_counts != want:
            raise SystemExit(f"row counts differ: expected {want}, tauro {tauro_counts}, "
                             f"sdp {counts}")
        print(f"round {round_no + 1}: both hold {counts}", flush=True)
    load_end = os.getloadavg()
    lines = [
        "# Tauro vs Spark Declarative Pipelines: the incremental bench's pipeline",
        "",
        "The 3-node pipeline of bench/incremental_bench.py (200k events in 20 files -> bronze "
        "-> silver -> gold; then 2 new files, 20k rows), as a Tauro project (Delta tables) and "
        f"as an SDP project (pyspark {version}, `spark-pipelines run`, its default Parquet "
        "tables; bronze and silver streaming tables, gold a materialized view). Whole "
        "processes, start to exit, interleaved; both end with the same row counts "
        f"({want}), checked every round.",
        "",
        f"Command: `.venv/bin/python bench/sdp_bench.py --sdp-venv {args.sdp_venv} "
        f"--rounds {args.rounds}`",
        "",
        f"Date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at start "
        f"{'/'.join(f'{x:.1f}' for x in load_start)}, at end "
        f"{'/'.join(f'{x:.1f}' for x in load_end)} on {os.cpu_count()} CPUs.",
        "",
        "| run | Tauro (median, s) | SDP (median, s) | Tauro / SDP | every Tauro run | every SDP run |",
        "|---|---:|---:|---:|---|---|",
    ]
    for kind in KINDS:
        t, s = runs[("tauro", kind)], runs[("sdp", kind)]
        lines.append(f"| {kind} | {statistics.median(t):.1f} | {statistics.median(s):.1f} | "
                     f"{statistics.median(t) / statistics.median(s):.2f}x | "
                     f"{', '.join(f'{x:.1f}' for x in t)} | {', '.join(f'{x:.1f}' for x in s)} |")
    publish("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
