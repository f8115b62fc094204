"""`tauro plan` on the example project: wall time, and how much of it is Spark's start-up.

Each measurement is a fresh `tauro plan --output json` process on a fresh copy of
example_project (dev profile: local[2]); `plan` reports its own Spark start-up time (JVM
launch and SparkSession build) and its total, the process's wall time is measured here.
Two states: a fresh project (every node `new`, downstream nodes analysed against empty
stand-ins) and after one `tauro run` (every node `unchanged`, checkpoints read).

    .venv/bin/python bench/plan_bench.py [--repeat 2]
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

ROOT = Path(__file__).resolve().parent.parent
TAURO = [str(Path(sys.executable).parent / "tauro")]


def plan_once(project: Path) -> dict[str, float]:
    began = time.time()
    done = subprocess.run([*TAURO, "plan", "--project-dir", str(project), "-o", "json"],
                          capture_output=True, text=True, check=False)
    wall = time.time() - began
    if done.returncode not in (0, 1) or not done.stdout.startswith("{"):
        raise SystemExit(f"tauro plan failed ({done.returncode}):\n{done.stderr[-2000:]}")
    doc = json.loads(done.stdout)
    return {"wall": wall, "spark": doc["seconds"]["spark_start"],
            "total": doc["seconds"]["total"],
            "verdicts": ",".join(sorted({n["verdict"] for n in doc["nodes"]}))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    load_start = os.getloadavg()
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="tauro-plan-bench-") as tmp:
        for i in range(args.repeat):
            project = Path(tmp) / f"p{i}"
            shutil.copytree(ROOT / "example_project", project,
                            ignore=shutil.ignore_patterns("target", "warehouse", "checkpoints"))
            rows.append(("fresh", plan_once(project)))
            subprocess.run([*TAURO, "run", "--project-dir", str(project)], check=True,
                           capture_output=True)
            rows.append(("after a run", plan_once(project)))
    load_end = os.getloadavg()
    lines = [
        "# `tauro plan` on the example project",
        "",
        f"Measured {datetime.now().isoformat(timespec='minutes')} on this 2-core machine, "
        "shared with other work (figures vary with the load).",
        "",
        f"Command: `.venv/bin/python bench/plan_bench.py --repeat {args.repeat}`",
        "",
        f"Load average at start: {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}; "
        f"at end: {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}",
        "",
        "| state | process wall time (s) | Spark start-up (s) | rest: compile, analysis, "
        "checkpoints (s) | verdicts |",
        "| --- | --- | --- | --- | --- |",
    ]
    for state, row in rows:
        lines.append(f"| {state} | {row['wall']:.1f} | {row['spark']:.1f} | "
                     f"{row['wall'] - row['spark']:.1f} | {row['verdicts']} |")
    for state in ("fresh", "after a run"):
        walls = [r["wall"] for s, r in rows if s == state]
        sparks = [r["spark"] for s, r in rows if s == state]
        lines.append("")
        lines.append(f"{state}: median wall {statistics.median(walls):.1f} s, of which Spark "
                     f"start-up {statistics.median(sparks):.1f} s "
                     f"({100 * statistics.median(sparks) / statistics.median(walls):.0f}%).")
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / "plan.md"
    out.write_text(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
