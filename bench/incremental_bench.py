"""Incremental bounded runs: cold, no new data, +2 files, each a whole `tauro run` process.

The pipeline (issue 14): ~200k JSON events in 20 files -> bronze (declared schema) ->
silver (purchases with price > 0, one derived column) -> gold (count and sum per user,
complete mode), every node `available_now` into local Delta tables, `local[2]`, shuffle
partitions 2, no UI. A round is: clean state (no tables, checkpoints or target/), a cold
run, a re-run with no new data, then a run after 2 new files (20k rows). Rounds are
repeated (`--rounds`, default 3).

Figures per run come from the run itself: the JSON console (`--log-format json`: when Spark
was ready and how long it took), `target/events.jsonl` (each node's starting and succeeded
times) and `run_results.json` (rows per node); the bench only adds the process start, the
moment the summary line arrived and the process exit. After each round the Delta logs are
read (plain JSON, no JVM) and the live row counts checked against the generated data:
bronze holds every event exactly once, silver every valid purchase once, gold one row per
buying user. Each figure is printed with the load average at that moment.

    .venv/bin/python bench/incremental_bench.py [--rounds 3] [--work DIR] [--preview N]
        [--baseline DIR] [--java-options OPTS ...] [--out bench/results/incremental.md]

`--baseline DIR` runs another tauro_compile (e.g. a copy of main's) interleaved with this
checkout, each on its own copy of the project over the same landing files; `--java-options`
adds this checkout with other driver JVM options. CPU seconds are less sensitive than wall
time to the other work of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench_projects import write_file_stream_project

ROOT = Path(__file__).resolve().parent.parent
FILES, ROWS_PER_FILE, NEW_FILES = 20, 10_000, 2
USERS = 2_000
SCHEMA = ("event_id BIGINT, user_id STRING, event_type STRING, price DOUBLE, "
          "quantity INT, ts TIMESTAMP")
NODES = {
    "bronze": """
        input: {source: events}
        output: {format: delta, path: "{{ target.paths.warehouse }}/bronze"}
    """,
    "silver": """
        input: {ref: bronze}
        transforms:
          - sql: >-
              SELECT event_id, user_id, price, quantity, ts, price * quantity AS revenue
              FROM {{ input }} WHERE event_type = 'purchase' AND price > 0
        output: {format: delta, path: "{{ target.paths.warehouse }}/silver"}
    """,
    "gold": """
        input: {ref: silver}
        transforms:
          - sql: >-
              SELECT user_id, count(*) AS purchases, sum(revenue) AS revenue
              FROM {{ input }} GROUP BY user_id
        output: {format: delta, path: "{{ target.paths.warehouse }}/gold"}
        streaming: {output_mode: complete}
    """,
}
PHASES = ("jvm", "first_node", "bronze", "silver", "gold", "summary", "exit")


def event_lines(file_no: int) -> tuple[str, set[int], set[str]]:
    """One landing file's JSON lines (seeded by its number), its valid purchases' ids and
    their users."""
    rng = random.Random(file_no)
    lines, valid, users = [], set(), set()
    for i in range(ROWS_PER_FILE):
        event_id = file_no * ROWS_PER_FILE + i
        kind = rng.choice(("view", "view", "click", "purchase"))
        price = round(rng.uniform(-5, 100), 2) if kind == "purchase" else 0.0
        user = f"u{rng.randrange(USERS):05d}"
        ts = f"2026-11-{1 + file_no % 28:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00"
        lines.append(json.dumps({"event_id": event_id, "user_id": user, "event_type": kind,
                                 "price": price, "quantity": rng.randrange(1, 4), "ts": ts}))
        if kind == "purchase" and price > 0:
            valid.add(event_id)
            users.add(user)
    return "\n".join(lines) + "\n", valid, users


def write_landing(landing: Path, file_nos: range) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for f in file_nos:
        text, _, _ = event_lines(f)
        tmp = landing.parent / f".part-{f:03d}.json"
        tmp.write_text(text)
        tmp.rename(landing / f"part-{f:03d}.json")  # appear whole, as a real landing would


def expected(files: int) -> dict[str, int]:
    valid: set[int] = set()
    users: set[str] = set()
    for f in range(files):
        _, v, u = event_lines(f)
        valid |= v
        users |= u
    return {"bronze": files * ROWS_PER_FILE, "silver": len(valid), "gold": len(users)}


def write_project(directory: Path, landing: Path, java_options: str | None = None) -> None:
    conf = {"spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false"}
    if java_options:
        conf["spark.driver.extraJavaOptions"] = java_options
    write_file_stream_project(
        directory, name="incremental", source="events", landing=landing, schema=SCHEMA,
        master="local[2]", conf=conf,
        files={f"nodes/{name}.yml": text for name, text in NODES.items()})


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def jvm_cpu(project: Path) -> float | None:
    """CPU seconds (user + system) the run's driver JVM has used so far (Linux /proc)."""
    try:
        doc = json.loads((project / "target" / "run_results.json").read_text())
        pid = doc["metadata"]["driver"]["pid"]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(project: Path, preview: int | None, variant: Variant | None = None) -> dict[str, Any]:
    """One `tauro run` process: its phases (seconds from process start), rows per node and
    CPU seconds (the driver JVM's when the summary is printed, and the Python process's)."""
    events_path = project / "target" / "events.jsonl"
    events_path.unlink(missing_ok=True)
    args = [sys.executable, "-m", "tauro_compile", "run", "--project-dir", str(project),
            "--log-format", "json"]
    if preview is not None:
        args += ["--preview", str(preview)]
    env = {k: v for k, v in os.environ.items() if k != "TAURO_PROFILE"}
    if variant is not None and variant.pythonpath:
        env["PYTHONPATH"] = variant.pythonpath
    load = os.getloadavg()[0]
    begin = time.time()
    # cwd: the project, never a checkout (`python -m` puts the cwd first on sys.path, which
    # would shadow a variant's PYTHONPATH)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=project)
    out: dict[str, Any] = {"load": load}
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if doc.get("event") == "nothing_new":  # no JVM at all: nothing new to read
            out["no_jvm"] = True
        if doc.get("event") == "spark_ready":
            out["jvm"] = time.time() - begin
            out["jvm_reported"] = doc.get("seconds")
        if str(doc.get("msg", "")).startswith("Run succeeded") and "summary" not in out:
            out["summary"] = time.time() - begin
            out["jvm_cpu"] = 0.0 if out.get("no_jvm") else jvm_cpu(project)
    err = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out["exit"] = time.time() - begin
    out["py_cpu"] = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0 or "summary" not in out:
        raise SystemExit(f"tauro run failed ({proc.returncode}):\n{''.join(lines)}\n{err}")
    started: dict[str, float] = {}
    previous: float | None = None
    out["up_to_date"] = []
    for line in events_path.read_text().splitlines():
        doc = json.loads(line)
        if doc.get("event") != "node_state":
            continue
        at = _ts(doc["ts"])
        if doc["to"] == "starting":
            started[doc["node"]] = at
        elif doc["to"] == "succeeded":
            if doc["node"] in started:
                out[doc["node"]] = at - started[doc["node"]]
            else:  # not started (up to date): the cost of finding that out
                out[doc["node"]] = at - (previous or at)
                out["up_to_date"].append(doc["node"])
        previous = at
    if started:  # a run where every node was up to date starts none
        out["first_node"] = min(started.values()) - begin
    results = json.loads((project / "target" / "run_results.json").read_text())
    out["rows_in"] = {n: r["rows_in"] for n, r in results["nodes"].items()}
    out["batches"] = {n: r["batches"] for n, r in results["nodes"].items()}
    out["load_end"] = os.getloadavg()[0]
    return out


def delta_rows(table: Path) -> int:
    """Live rows of a Delta table from its JSON log (adds minus removes; no checkpoint
    parquet is written below 10 commits, which a round never reaches)."""
    live: dict[str, int] = {}
    for commit in sorted((table / "_delta_log").glob("*.json")):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                live[action["add"]["path"]] = json.loads(action["add"]["stats"])["numRecords"]
            elif "remove" in action:
                live.pop(action["remove"]["path"], None)
    return sum(live.values())


def check_tables(project: Path, files: int) -> dict[str, int]:
    want = expected(files)
    found = {name: delta_rows(project / "data" / "warehouse" / name) for name in want}
    if found != want:
        raise SystemExit(f"row counts differ after {files} files: found {found}, expected {want}")
    return found


@dataclass(frozen=True)
class Variant:
    """One way of running `tauro run`: this checkout, another one, other JVM options."""

    name: str
    pythonpath: str | None = None      # a directory holding another tauro_compile
    java_options: str | None = None    # spark.driver.extraJavaOptions in the profile


def fmt(run: dict[str, Any]) -> str:
    cells = [f"{run.get(p, float('nan')):5.1f}" for p in PHASES]
    cpu = run.get("jvm_cpu")
    return (" | ".join(cells) + f" | {cpu if cpu is not None else float('nan'):7.1f}"
            + f" | {run['load']:.1f}-{run['load_end']:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/tauro-incremental-bench"))
    parser.add_argument("--preview", type=int, default=None,
                        help="pass --preview N to tauro run (default: its own default)")
    parser.add_argument("--baseline", default=None, metavar="DIR",
                        help="also run, interleaved, the tauro_compile found in DIR "
                             "(PYTHONPATH), e.g. a copy of main before a change")
    parser.add_argument("--java-options", action="append", default=[],
                        help="also run this checkout with these driver JVM options "
                             "(repeatable: one more variant each)")
    parser.add_argument("--out", type=Path, default=None, help="append a markdown report")
    args = parser.parse_args()

    variants = [Variant("tauro")]
    if args.baseline:
        variants.append(Variant("baseline", pythonpath=args.baseline))
    for i, options in enumerate(args.java_options, start=1):
        name = "tauro+jvm" if len(args.java_options) == 1 else f"tauro+jvm{i}"
        variants.append(Variant(name, java_options=options))
    kinds = ("cold", "no new data", "+2 files")
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {
        (v.name, k): [] for v in variants for k in kinds}
    landing = args.work / "landing"
    load_start = os.getloadavg()
    print("variant    kind        | " + " | ".join(f"{p:>5}" for p in PHASES)
          + " | jvm cpu | load", flush=True)
    for round_no in range(args.rounds):
        shutil.rmtree(args.work, ignore_errors=True)
        write_landing(landing, range(FILES))
        for v in variants:
            write_project(args.work / v.name, landing, v.java_options)
        for kind in kinds:  # interleaved: each variant runs each kind back to back
            if kind == "+2 files":
                write_landing(landing, range(FILES, FILES + NEW_FILES))
            for v in variants:
                run = run_once(args.work / v.name, args.preview, v)
                runs[(v.name, kind)].append(run)
                skipped = f", not started: {run['up_to_date']}" if run["up_to_date"] else ""
                print(f"{v.name:<10} {kind:<11} | {fmt(run)}   rows_in {run['rows_in']}"
                      f"{skipped}", flush=True)
        for v in variants:
            counts = check_tables(args.work / v.name, FILES + NEW_FILES)
            print(f"round {round_no + 1} {v.name}: tables hold {counts} (exactly once)",
                  flush=True)
    load_end = os.getloadavg()

    lines = ["", f"Command: `{' '.join(['.venv/bin/python', *sys.argv])}`", "",
             f"Date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
             f"load average at start {load_start[0]:.1f}/{load_start[1]:.1f}/"
             f"{load_start[2]:.1f}, at end {load_end[0]:.1f}/{load_end[1]:.1f}/"
             f"{load_end[2]:.1f} (1/5/15 min) on {os.cpu_count()} CPUs.", "",
             *[f"- `{v.name}`: driver JVM options `{v.java_options}`" for v in variants
               if v.java_options], "",
             "Seconds from process start (jvm: Spark ready; first_node: first node starting; "
             "`-` when the run found nothing new before starting Spark, so no JVM and no node "
             "started, jvm cpu 0); "
             "bronze/silver/gold: each node from starting to succeeded (a node not started "
             "because its input had nothing new: from the previous node's end to its own, "
             "marked *); summary: the summary line printed; exit: process ended; jvm cpu: "
             "CPU seconds of the driver JVM at the summary; py cpu: of the tauro process. "
             "Median of the rounds, then every run.", "",
             "| variant | run | " + " | ".join(PHASES) + " | jvm cpu | py cpu | load (1 min) |",
             "|---|---|" + "---:|" * (len(PHASES) + 2) + "---|"]

    def cell(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return f"{statistics.median(known):.1f}" if known else "-"

    for (name, kind), kind_runs in runs.items():
        med = [cell([r.get(p) for r in kind_runs]) for p in (*PHASES, "jvm_cpu", "py_cpu")]
        loads = ", ".join(f"{r['load']:.1f}" for r in kind_runs)
        lines.append(f"| {name} | **{kind}** (median) | " + " | ".join(med) + f" | {loads} |")
    for (name, kind), kind_runs in runs.items():
        for i, r in enumerate(kind_runs):
            cells = [(f"{r[p]:.1f}" if p in r else "-") + ("*" if p in r["up_to_date"] else "")
                     for p in PHASES]
            cells += [cell([r.get("jvm_cpu")]), cell([r.get("py_cpu")])]
            lines.append(f"| {name} | {kind} #{i + 1} | " + " | ".join(cells)
                         + f" | {r['load']:.1f}-{r['load_end']:.1f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(report)


if __name__ == "__main__":
    main()
