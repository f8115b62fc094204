"""The driver's class archive (tauro_compile/streaming/jvm_archive.py): a fresh driver JVM with
and without it.

Each sample is a fresh Python process that builds a Tauro session (`build_spark_session`,
local[2], the C1 JIT and code cache of a bounded run), appends 4,000 rows to a Delta table
three times and reads it back once: the fixed costs every `tauro run` pays before its first
batch is done. Reported per variant (medians of the rounds, variants interleaved): session
start, the first and the later Delta writes, the first read, and the driver JVM's CPU
seconds. `off` runs with TAURO_JVM_ARCHIVE=off. The archive must exist (`make setup`).

    .venv/bin/python bench/jvm_archive_bench.py [--rounds 5] [--out bench/results/jvm_archive.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench_projects import publish

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, os, shutil, sys, time
t0 = time.time()
from tauro_compile.streaming.session import build_spark_session
spark = build_spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "2",
                                              "spark.ui.enabled": "false"}, short_run=True)
out = {"session": time.time() - t0}
jvm = spark.sparkContext._jvm
args = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
out["archive"] = any(a.startswith("-XX:SharedArchiveFile=") for a in args)
df = spark.range(4000).selectExpr("id", "cast(id AS string) AS s", "id * 1.5 AS d")
for i in range(3):
    a = time.time()
    df.write.format("delta").mode("append").save(sys.argv[1])
    out[f"write{i}"] = time.time() - a
a = time.time()
out["rows"] = spark.read.format("delta").load(sys.argv[1]).count()
out["read"] = time.time() - a
stat = open(f"/proc/{jvm.ProcessHandle.current().pid()}/stat").read().split()
out["jvm_cpu"] = (int(stat[13]) + int(stat[14])) / os.sysconf("SC_CLK_TCK")
out["total"] = time.time() - t0
print("RESULT " + json.dumps(out), flush=True)
"""

COLUMNS = ("session", "write0", "write1", "read", "total", "jvm_cpu")


def sample(archive: bool) -> dict[str, float]:
    env = {**os.environ}
    if archive:
        env.pop("TAURO_JVM_ARCHIVE", None)
    else:
        env["TAURO_JVM_ARCHIVE"] = "off"
    with tempfile.TemporaryDirectory(prefix="tauro-cds-bench-") as work:
        done = subprocess.run([sys.executable, "-c", PROBE, str(Path(work) / "t")], env=env,
                              capture_output=True, text=True, check=False, cwd=work)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            if result["archive"] != archive or result["rows"] != 12000:
                raise SystemExit(f"unexpected probe result: {result}")
            return result
    raise SystemExit(f"probe failed (exit {done.returncode}):\n{done.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "jvm_archive.md")
    args = parser.parse_args()
    from tauro_compile.streaming.jvm_archive import archive_path, is_complete

    path = archive_path()
    if path is None or not is_complete(path):
        raise SystemExit(f"no class archive at {path}: run `make setup` first")
    load_start = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"archive": [], "off": []}
    header = "variant  | " + " | ".join(f"{c:>8}" for c in COLUMNS)
    print(header, flush=True)
    for _ in range(args.rounds):
        for name in ("archive", "off"):
            r = sample(name == "archive")
            runs[name].append(r)
            print(f"{name:<8} | " + " | ".join(f"{r[c]:8.2f}" for c in COLUMNS), flush=True)
    load_end = os.getloadavg()
    med = {name: {c: statistics.median(r[c] for r in rs) for c in COLUMNS}
           for name, rs in runs.items()}
    lines = [
        "# The driver's class archive: a fresh driver JVM with and without it",
        "",
        "Each sample: a fresh process builds a Tauro session (local[2], the C1 JIT of a bounded "
        "run), appends 4,000 rows to a Delta table three times, reads it once. Seconds; "
        "`jvm_cpu` is the driver JVM's CPU seconds at the end. Medians of "
        f"{args.rounds} interleaved rounds.",
        "",
        f"Command: `.venv/bin/python bench/jvm_archive_bench.py --rounds {args.rounds}`",
        "",
        f"Date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average at start "
        f"{'/'.join(f'{x:.1f}' for x in load_start)}, at end "
        f"{'/'.join(f'{x:.1f}' for x in load_end)} (1/5/15 min) on {os.cpu_count()} CPUs; "
        f"archive {path.stat().st_size // 2**20} MB.",
        "",
        "| variant | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name in ("archive", "off"):
        lines.append(f"| {name} (median) | " + " | ".join(f"{med[name][c]:.2f}" for c in COLUMNS)
                     + " |")
    lines.append("| archive / off | " + " | ".join(
        f"{med['archive'][c] / med['off'][c]:.2f}x" for c in COLUMNS) + " |")
    lines += ["", "Every sample:", "", "| variant | " + " | ".join(COLUMNS) + " |",
              "|---|" + "---:|" * len(COLUMNS)]
    for i in range(args.rounds):
        for name in ("archive", "off"):
            r = runs[name][i]
            lines.append(f"| {name} | " + " | ".join(f"{r[c]:.2f}" for c in COLUMNS) + " |")
    publish("\n".join(lines) + "\n", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
