"""Operating cost: metrics on vs off, and how long `tauro stop` takes to end a run.

1. The runner benchmark's workload (`bench/runner_overhead.py`: JSON files -> parse -> Delta,
   available_now) run by `tauro run` with and without `--metrics-port 0`, alternating, each a
   fresh process on a fresh table; with metrics on, a scraper reads /metrics every second
   during the run (Prometheus scrapes every 15 s by default: this is pessimistic). Reported:
   the wall time to the summary table and Spark's batch duration, medians, and their ratio
   (target: within 2 %). In-process, the cost of one scrape and one histogram observation.
2. A 4-node continuous project (processing_time trigger, chain of 4): once every node has
   processed its first data, `tauro stop` is run from another process and the time from its
   start to the run's exit is measured (target: under trigger interval + 5 s).

The machine is shared: the load average is printed with the figures.

    .venv/bin/python bench/operate_overhead.py [--rows 1000000] [--repeat 3] [--stops 3]
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
import threading
import time
import timeit
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from runner_overhead import project, write_input  # noqa: E402

TRIGGER_SECONDS = 5


def _env() -> dict[str, str]:
    env = {**os.environ}
    env.pop("TAURO_PROFILE", None)
    return env


def timed_run(project_dir: Path, metrics: bool) -> dict[str, float]:
    """One `tauro run` to its summary table; with metrics, scraped every second meanwhile."""
    args = [sys.executable, "-m", "tauro_compile", "run", "--plain", "--project-dir",
            str(project_dir)]
    if metrics:
        args += ["--metrics-port", "0"]
    begin = time.time()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env())
    scrapes: list[float] = []
    stop = threading.Event()
    summary_at = None
    for line in proc.stdout:
        if metrics and line.startswith("Metrics: "):
            url = line.split(" ", 1)[1].strip().replace(os.uname().nodename, "127.0.0.1")
            threading.Thread(target=_scrape, args=(url, stop, scrapes), daemon=True).start()
        if summary_at is None and line.startswith("Run succeeded"):
            summary_at = time.time()
            stop.set()
    err = proc.stderr.read()
    proc.wait()
    if proc.returncode != 0 or summary_at is None:
        raise SystemExit(f"tauro run failed ({proc.returncode}): {err[-3000:]}")
    results = json.loads((project_dir / "target" / "run_results.json").read_text())
    batch = sum((n["last_progress"] or {}).get("duration_ms") or 0
                for n in results["nodes"].values()) / 1000
    return {"to_summary_s": summary_at - begin, "batch_s": batch, "scrapes": len(scrapes),
            "scrape_ms": statistics.median(scrapes) * 1000 if scrapes else 0.0}


def _scrape(url: str, stop: threading.Event, out: list[float]) -> None:
    while not stop.wait(1.0):
        begin = time.time()
        try:
            urllib.request.urlopen(url, timeout=5).read()
        except OSError:
            continue
        out.append(time.time() - begin)


def in_process_costs() -> tuple[float, float]:
    """(µs per scrape of a 10-node run, µs per histogram observation)."""
    from tauro_compile.runner.metrics import RunMetrics
    from tauro_compile.streaming.state import BatchProgress, NodeRecord, NodeState, RunState

    state = RunState([NodeRecord(f"n{i}", f"p.n{i}", False) for i in range(10)])
    for i in range(10):
        state.transition(f"n{i}", NodeState.STARTING)
        state.transition(f"n{i}", NodeState.RUNNING)
        state.add_progress(f"n{i}", BatchProgress(0, 100, duration_ms=900, kafka_lag={"t": 5}))
    metrics = RunMetrics(state, "bench", "bench")
    progress = BatchProgress(1, 100, duration_ms=900)
    scrape = min(timeit.repeat(metrics.exposition, number=50, repeat=5)) / 50
    observe = min(timeit.repeat(lambda: metrics.batch("n1", progress), number=5000,
                                repeat=5)) / 5000
    return scrape * 1e6, observe * 1e6


FOUR_NODES = {
    "tauro_project.yml": """
        name: stopbench
        version: "1.0"
        profile: bench
        sources:
          landing: {format: file_stream, path: "{{ target.paths.landing }}", file_format: json,
                    schema: "id BIGINT, kind STRING"}
    """,
    "profiles.yml": f"""
        profiles:
          bench:
            spark: {{master: "local[2]", conf: {{spark.ui.enabled: "false",
                                                spark.sql.shuffle.partitions: "2"}}}}
            paths: {{landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}}
            nodes:
              "*": {{streaming: {{trigger: {{type: processing_time,
                                           interval: "{TRIGGER_SECONDS} seconds"}}}}}}
    """,
    "nodes/n1.yml": 'input: {source: landing}\noutput: {format: delta, path: "{{ target.paths.warehouse }}/n1"}\n',
    "nodes/n2.yml": 'input: {ref: n1}\noutput: {format: delta, path: "{{ target.paths.warehouse }}/n2"}\n',
    "nodes/n3.yml": 'input: {ref: n2}\noutput: {format: delta, path: "{{ target.paths.warehouse }}/n3"}\n',
    "nodes/n4.yml": 'input: {ref: n3}\noutput: {format: delta, path: "{{ target.paths.warehouse }}/n4"}\n',
}


def stop_time(work: Path) -> float:
    """Seconds from `tauro stop` starting to the run's exit, 4-node continuous chain."""
    if work.exists():
        shutil.rmtree(work)
    for rel, text in FOUR_NODES.items():
        path = work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if rel.startswith("nodes/") else
                        __import__("textwrap").dedent(text).lstrip("\n"))
    landing = work / "data" / "landing"
    landing.mkdir(parents=True)
    (landing / "a.json").write_text("".join(f'{{"id": {i}, "kind": "k"}}\n' for i in range(100)))
    proc = subprocess.Popen([sys.executable, "-m", "tauro_compile", "run", "--plain",
                             "--project-dir", str(work)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=_env())
    results = work / "target" / "run_results.json"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            doc = json.loads(results.read_text())
            if (doc["nodes"]["n4"].get("rows_out") or 0) >= 100:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    else:
        proc.kill()
        raise SystemExit("the 4-node run never got its data to n4")
    begin = time.time()
    subprocess.run([sys.executable, "-m", "tauro_compile", "stop", "--project-dir", str(work),
                    "--timeout", "120s"], capture_output=True, env=_env(), check=True)
    proc.wait(timeout=120)
    took = time.time() - begin
    if proc.returncode != 0:
        raise SystemExit(f"the stopped run exited {proc.returncode}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="metrics off/on rounds (0: skip)")
    parser.add_argument("--stops", type=int, default=3, help="stop measurements (0: skip)")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "operate.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tauro-operate-bench-"))
    loads = [os.getloadavg()[0]]
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        if args.repeat:
            landing = work / "landing"
            write_input(landing, args.rows)
            node = {"events": """
                input: {source: landing}
                transforms:
                  - python: transforms.parse:parse
                output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
            """}
            runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
            for i in range(args.repeat):
                for metrics in (False, True) if i % 2 == 0 else (True, False):
                    r = timed_run(project(work / "p", landing, node), metrics)
                    runs[metrics].append(r)
                    loads.append(os.getloadavg()[0])
                    say(f"- metrics {'on ' if metrics else 'off'} #{i + 1}: to summary "
                        f"{r['to_summary_s']:.1f}s, batch {r['batch_s']:.1f}s"
                        + (f", {r['scrapes']} scrapes, median {r['scrape_ms']:.1f} ms"
                           if metrics else "") + f"  (load {loads[-1]:.1f})")

            def med(on: bool, key: str) -> float:
                return statistics.median(r[key] for r in runs[on])

            say()
            say(f"{args.rows:,} rows, files -> parse -> Delta, available_now, local[2], "
                f"median of {args.repeat}:")
            for key, label in (("to_summary_s", "wall to summary"), ("batch_s", "batch")):
                off, on = med(False, key), med(True, key)
                say(f"- {label}: metrics off {off:.1f} s, on {on:.1f} s, ratio "
                    f"{on / off:.3f} (target <= 1.02)")
        scrape_us, observe_us = in_process_costs()
        say(f"- in-process: one scrape of a 10-node run {scrape_us:.0f} µs, one batch "
            f"observation {observe_us:.1f} µs")
        if args.stops:
            stops = []
            say()
            for i in range(args.stops):
                stops.append(stop_time(work / "stop"))
                loads.append(os.getloadavg()[0])
                say(f"- tauro stop -> exit #{i + 1}: {stops[-1]:.1f} s (load {loads[-1]:.1f})")
            say(f"- 4-node continuous chain, trigger {TRIGGER_SECONDS} s: `tauro stop` to exit "
                f"median {statistics.median(stops):.1f} s, max {max(stops):.1f} s "
                f"(target < {TRIGGER_SECONDS + 5} s)")
        say(f"- load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f} on "
            f"{os.cpu_count()} CPUs")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = " ".join(["nice", "-n", str(os.nice(0)), ".venv/bin/python",
                        "bench/operate_overhead.py", *sys.argv[1:]])
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        "# Operating cost: metrics on vs off, and `tauro stop` to exit\n\n"
        f"Measured {started} by (from the repository root):\n\n    {command}\n\n"
        + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
