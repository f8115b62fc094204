"""Benchmark: `tauro compile` of a synthetic N-node project, as a whole cold process.

Not a test. For each N it generates a layered project into a temporary directory (each
node refs 1-3 nodes of earlier layers and uses `var`, `env_var`, an `{% if %}`, a
`{% for %}` and a macro), then runs `tauro compile --project-dir <dir>` several times, each
in a fresh interpreter, timing the wall clock around the subprocess and reading the
child's peak RSS from `os.wait4`. Each *cold* run starts from a fresh `target/` (no
cache, no compiled files: every file is created); each *warm* run follows a compile of the
unchanged project (`target/compile_cache.json` answers). It prints a table and writes
`bench/results/compile.md`.

    .venv/bin/python bench/compile_bench.py                    # N = 100 1000 2000 5000
    .venv/bin/python bench/compile_bench.py --sizes 1000 5000 --runs 3
    .venv/bin/python bench/compile_bench.py --sizes 1000 --dbt /tmp/dbt-venv/bin/dbt

`--dbt` also times `dbt parse --no-partial-parse` (dbt-core with dbt-duckdb, installed in a
venv of its own: dbt-core 1.10+ fetches a parser wheel from GitHub at install time, so a
machine that reaches only PyPI needs `pip install "dbt-core<1.10" "dbt-duckdb<1.10"`) on a
twin dbt project of the same DAG and Jinja features.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "compile.md"
TARGETS = {1000: 0.7, 5000: 2.4}     # cold, seconds, wall, including interpreter start
WARM_TARGETS = {5000: 0.6}           # warm (nothing changed since the last compile)
PEAK_TARGET_MB = 200                 # at N=5000
LAYER_WIDTH = 50                     # nodes per layer of the synthetic DAG

PROJECT = """\
name: bench
version: "1.0.0"
profile: bench
node_paths: [nodes]
macro_paths: [macros]
target_path: target
vars:
  currency: EUR
  columns: [id, user_id, amount, event_time]
streaming:
  trigger: {type: processing_time, interval: "30 seconds"}
sources:
  events:
    format: file_stream
    path: "{{ target.paths.landing }}/events"
    file_format: json
    schema: "id STRING, user_id STRING, amount DOUBLE, event_time TIMESTAMP"
"""

PROFILES = """\
profiles:
  bench:
    spark: {master: "local[2]", app_name: bench}
    paths:
      landing: data/landing
      warehouse: data/warehouse
      checkpoints: data/checkpoints
    nodes:
      "tag:layer_0":
        streaming:
          trigger: {type: available_now}
"""

MACROS = """\
{% macro amount_in(column, currency) -%}
round({{ column }} * {% if currency == 'EUR' %}1.0{% else %}1.1{% endif %}, 2)
{%- endmacro %}
"""

NODE = """\
# synthetic node {index} of layer {layer}
name: {name}
description: "Synthetic node {index} (layer {layer})"
tags: [bench, layer_{layer}{{% if {index} % 2 == 0 %}}, even{{% endif %}}]
input:
  {input}
transforms:
  - sql: |
      SELECT {{% for c in var('columns') %}}{{{{ c }}}}, {{% endfor %}}
             {{{{ amount_in('amount', var('currency')) }}}} AS amount_{{{{ var('currency') | lower }}}}
      FROM {{{{ input }}}}
{joins}      {{% if env_var('BENCH_FILTER', 'on') == 'on' %}}WHERE user_id IS NOT NULL{{% endif %}}
output:
  format: delta
  path: "{{{{ target.paths.warehouse }}}}/{name}"
streaming:
  output_mode: append
"""

JOIN = "      LEFT SEMI JOIN {{{{ ref('{dep}') }}}} AS {alias} ON id = {alias}.id\n"

# The same project for dbt-core (`--dbt`): same DAG, same Jinja features (var, env_var, if,
# for, a macro, ref/source), one model per node, parsed by `dbt parse --no-partial-parse`.
DBT_PROJECT = """\
name: bench
version: "1.0.0"
profile: bench
model-paths: [models]
macro-paths: [macros]
vars:
  currency: EUR
  columns: [id, user_id, amount, event_time]
"""

DBT_PROFILES = """\
bench:
  target: dev
  outputs:
    dev: {type: duckdb, path: bench.duckdb, threads: 1}
"""

DBT_SOURCES = """\
version: 2
sources:
  - name: landing
    tables:
      - name: events
"""

DBT_MODEL = """\
-- synthetic node {index} of layer {layer}
{{{{ config(materialized='view', tags=['bench', 'layer_{layer}'] + (['even'] if {index} % 2 == 0 else [])) }}}}
SELECT {{% for c in var('columns') %}}{{{{ c }}}}, {{% endfor %}}
       {{{{ amount_in('amount', var('currency')) }}}} AS amount_{{{{ var('currency') | lower }}}}
FROM {source}
{joins}{{% if env_var('BENCH_FILTER', 'on') == 'on' %}}WHERE user_id IS NOT NULL{{% endif %}}
"""

DBT_JOIN = "LEFT SEMI JOIN {{{{ ref('{dep}') }}}} AS {alias} ON id = {alias}.id\n"


@dataclass(frozen=True)
class Measurement:
    """The runs of one project size: wall seconds per run and peak RSS (MB) per run."""

    nodes: int
    edges: int
    walls: list[float]
    cpus: list[float]
    peaks_mb: list[float]
    warm_walls: list[float]
    warm_cpus: list[float]

    @property
    def first(self) -> float:
        return self.walls[0]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks_mb)

    @property
    def warm(self) -> float:
        return statistics.median(self.warm_walls) if self.warm_walls else float("nan")

    @property
    def warm_cpu(self) -> float:
        return statistics.median(self.warm_cpus) if self.warm_cpus else float("nan")


def generate_project(directory: Path, n: int, seed: int = 42) -> int:
    """Write an `n`-node layered project into `directory`; returns the number of edges."""
    rng = random.Random(seed)
    (directory / "nodes").mkdir(parents=True)
    (directory / "macros").mkdir()
    (directory / "tauro_project.yml").write_text(PROJECT)
    (directory / "profiles.yml").write_text(PROFILES)
    (directory / "macros" / "bench.jinja").write_text(MACROS)
    names = [f"n_{i:05d}" for i in range(n)]
    edges = 0
    for i, name in enumerate(names):
        layer = i // LAYER_WIDTH
        earlier = names[: layer * LAYER_WIDTH]
        if not earlier:
            input_text, joins = "source: events", ""
        else:
            deps = rng.sample(earlier[-4 * LAYER_WIDTH:], k=min(len(earlier), rng.randint(1, 3)))
            input_text = f"ref: {deps[0]}"
            joins = "".join(JOIN.format(dep=d, alias=f"d{k}") for k, d in enumerate(deps[1:]))
            edges += len(deps)
        layer_dir = directory / "nodes" / f"layer_{layer:03d}"
        layer_dir.mkdir(exist_ok=True)
        (layer_dir / f"{name}.yml").write_text(
            NODE.format(index=i, layer=layer, name=name, input=input_text, joins=joins)
        )
    return edges


def generate_dbt_project(directory: Path, n: int, seed: int = 42) -> None:
    """The dbt-core twin of `generate_project` (same seed: same DAG)."""
    rng = random.Random(seed)
    (directory / "models").mkdir(parents=True)
    (directory / "macros").mkdir()
    (directory / "dbt_project.yml").write_text(DBT_PROJECT)
    (directory / "profiles.yml").write_text(DBT_PROFILES)
    (directory / "models" / "sources.yml").write_text(DBT_SOURCES)
    (directory / "macros" / "bench.sql").write_text(MACROS)
    names = [f"n_{i:05d}" for i in range(n)]
    for i, name in enumerate(names):
        layer = i // LAYER_WIDTH
        earlier = names[: layer * LAYER_WIDTH]
        if not earlier:
            source, joins = "{{ source('landing', 'events') }}", ""
        else:
            deps = rng.sample(earlier[-4 * LAYER_WIDTH:], k=min(len(earlier), rng.randint(1, 3)))
            source = "{{ ref('" + deps[0] + "') }}"
            joins = "".join(DBT_JOIN.format(dep=d, alias=f"d{k}") for k, d in enumerate(deps[1:]))
        layer_dir = directory / "models" / f"layer_{layer:03d}"
        layer_dir.mkdir(exist_ok=True)
        (layer_dir / f"{name}.sql").write_text(
            DBT_MODEL.format(index=i, layer=layer, source=source, joins=joins))


def measure_dbt(dbt: str, n: int, runs: int, workdir: Path) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `dbt parse --no-partial-parse` on the twin project."""
    project = workdir / f"dbt_{n}"
    generate_dbt_project(project, n)
    command = [dbt, "parse", "--no-partial-parse", "--project-dir", str(project),
               "--profiles-dir", str(project)]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    walls, cpus = [], []
    for _ in range(runs):
        shutil.rmtree(project / "target", ignore_errors=True)
        wall, cpu, _ = run_once(command, env)
        walls.append(wall)
        cpus.append(cpu)
    return walls, cpus


def tauro_command() -> list[str]:
    """The `tauro` console script of this interpreter's environment, else `python -m`."""
    script = Path(sys.executable).with_name("tauro")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tauro_compile"]


def run_once(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS (MB) of one cold process."""
    with tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            stderr.seek(0)
            text = stderr.read().decode(errors="replace")
            raise SystemExit(f"`{shlex.join(command)}` failed ({code}):\n{text[-3000:]}")
    # ru_maxrss is in KiB on Linux
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def measure(n: int, runs: int, workdir: Path) -> Measurement:
    project = workdir / f"project_{n}"
    edges = generate_project(project, n)
    command = [*tauro_command(), "compile", "--project-dir", str(project)]
    # PYTHONDONTWRITEBYTECODE (set on some machines, this one included) would make every
    # run compile tauro's own sources again (~0.15 s at each start): an installed package
    # has its bytecode (pip writes it), and so does a checkout after its first run.
    env = {k: v for k, v in os.environ.items()
           if k not in ("TAURO_PROFILE", "PYTHONDONTWRITEBYTECODE")}
    walls: list[float] = []
    cpus: list[float] = []
    peaks: list[float] = []
    warm_walls: list[float] = []
    warm_cpus: list[float] = []
    for _ in range(runs):
        shutil.rmtree(project / "target", ignore_errors=True)   # cold: a fresh target/
        wall, cpu, peak = run_once(command, env)
        walls.append(wall)
        cpus.append(cpu)
        peaks.append(peak)
        wall, cpu, peak = run_once(command, env)                # warm: nothing changed
        warm_walls.append(wall)
        warm_cpus.append(cpu)
        peaks.append(peak)
    return Measurement(n, edges, walls, cpus, peaks, warm_walls, warm_cpus)


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def table(results: list[Measurement]) -> str:
    base = results[0]
    lines = [
        "| nodes | edges | cold: first run (s) | cold: median (s) | cold: min (s) "
        "| cold: CPU user+sys, median (s) | ms / node (median) | growth vs smallest "
        "| warm: median (s) | warm: min (s) | warm: CPU, median (s) | peak RSS (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in results:
        growth = f"{m.median / base.median:.2f}x time for {m.nodes / base.nodes:.0f}x nodes"
        lines.append(
            f"| {m.nodes} | {m.edges} | {m.first:.3f} | {m.median:.3f} | {min(m.walls):.3f} "
            f"| {m.cpu:.3f} | {1000 * m.median / m.nodes:.3f} | {growth} "
            f"| {m.warm:.3f} | {min(m.warm_walls):.3f} | {m.warm_cpu:.3f} | {m.peak_mb:.0f} |"
        )
    return "\n".join(lines)


def verdicts(results: list[Measurement]) -> list[str]:
    by_n = {m.nodes: m for m in results}
    out = []
    for n, limit in TARGETS.items():
        if n in by_n:
            m = by_n[n]
            ok = "met" if m.median <= limit else "MISSED"
            out.append(f"- N={n} cold (fresh target/): median {m.median:.3f} s, best "
                       f"{min(m.walls):.3f} s, CPU {m.cpu:.3f} s (target <= {limit:g} s): **{ok}**")
    for n, limit in WARM_TARGETS.items():
        if n in by_n:
            m = by_n[n]
            ok = "met" if m.warm <= limit else "MISSED"
            out.append(f"- N={n} warm: median {m.warm:.3f} s, best {min(m.warm_walls):.3f} s, "
                       f"CPU {m.warm_cpu:.3f} s (target <= {limit:g} s): **{ok}**")
    if 5000 in by_n:
        m = by_n[5000]
        ok = "met" if m.peak_mb < PEAK_TARGET_MB else "MISSED"
        out.append(f"- peak RSS at N=5000: {m.peak_mb:.0f} MB (target < {PEAK_TARGET_MB} MB): **{ok}**")
    if 1000 in by_n and 5000 in by_n:
        ratio = by_n[5000].median / by_n[1000].median
        ok = "met" if ratio <= 5 else "MISSED"
        out.append(f"- growth 1000 -> 5000 nodes (cold): {ratio:.2f}x time for 5x nodes "
                   f"(target <= 5x): **{ok}**")
    return out


def _busy_warning(load: tuple[tuple[float, ...], tuple[float, ...]],
                  info: dict[str, str]) -> list[str]:
    cpus = int(info["nproc"]) if info["nproc"].isdigit() else 1
    worst = max(load[0][0], load[1][0])
    if worst <= cpus:
        return []
    return [f"**The machine was busy** (1-minute load up to {worst:.1f} on {cpus} CPUs): wall "
            "times include waiting for a CPU and CPU times are inflated by contention, so "
            "these figures overstate the cost. Rerun on an idle machine before judging the "
            "targets.", ""]


def dbt_lines(results: list[Measurement],
              dbt: dict[int, tuple[list[float], list[float]]]) -> list[str]:
    """Tauro's cold compile against `dbt parse --no-partial-parse` of the twin project."""
    by_n = {m.nodes: m for m in results}
    out = []
    for n, (walls, cpus) in sorted(dbt.items()):
        m = by_n[n]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        out.append(f"- N={n}: `dbt parse --no-partial-parse` median {wall:.3f} s wall, "
                   f"{cpu:.3f} s CPU ({len(walls)} runs); Tauro's cold compile is "
                   f"**{wall / m.median:.1f}x** faster by wall, {cpu / m.cpu:.1f}x by CPU "
                   "(target >= 20x)")
    return out


def report(results: list[Measurement], argv: list[str], runs: int,
           load: tuple[tuple[float, ...], tuple[float, ...]],
           dbt: dict[int, tuple[list[float], list[float]]] | None = None) -> str:
    info = machine()
    command = shlex.join([".venv/bin/python", "bench/compile_bench.py", *argv])
    compile_cmd = shlex.join([*(Path(c).name if i == 0 else c for i, c in enumerate(tauro_command())),
                              "compile", "--project-dir", "<generated project>"])
    return "\n".join([
        "# `tauro compile` benchmark",
        "",
        f"Generated by `{command}` (from the repository root) on "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}.",
        "",
        f"Each size is a generated project (layers of {LAYER_WIDTH} nodes, each node refs 1-3 "
        "nodes of the previous four layers through `input.ref` and `ref()` in SQL, and uses "
        "`var`, `env_var`, `{% if %}`, `{% for %}` and a macro). Every run is a fresh "
        f"`{compile_cmd}` process (interpreter start included, artifacts written), "
        f"{runs} rounds per size, each a cold run from a fresh `target/` (every compiled file "
        "created, no cache) then a warm run of the unchanged project (answered by "
        "`target/compile_cache.json`); the first cold run is reported apart from the median. "
        "Wall time is "
        "`time.perf_counter()` around the subprocess; CPU time and peak RSS are the child's "
        "`ru_utime + ru_stime` and `ru_maxrss` from `os.wait4`.",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"{info['platform']}. Load average (1/5/15 min) before: "
        f"{'/'.join(f'{x:.2f}' for x in load[0])}, after: {'/'.join(f'{x:.2f}' for x in load[1])} "
        "(other work on the machine inflates every figure).",
        "",
        table(results),
        "",
        *_busy_warning(load, info),
        "Targets (issue 14): cold N=1000 <= 0.7 s and N=5000 <= 2.4 s (fresh target/), warm "
        "N=5000 <= 0.6 s, peak RSS < 200 MB at N=5000, growth <= 5x for 5x nodes; all on a "
        "quiet machine.",
        "",
        *verdicts(results),
        "",
        *(["dbt-core (same DAG and Jinja features, dbt-duckdb adapter, parse only, "
           "timed right after Tauro's runs of the same size):", "", *dbt_lines(results, dbt), ""] if dbt else []),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 2000, 5000])
    parser.add_argument("--runs", type=int, default=5, help="cold runs per size")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="markdown report to write ('-' for none)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="generate the projects here and keep them")
    parser.add_argument("--dbt", default=None,
                        help="a `dbt` executable (with dbt-duckdb) to time `dbt parse` on the "
                        "twin project of each size")
    parser.add_argument("--dbt-runs", type=int, default=2)
    parser.add_argument("--dbt-sizes", type=int, nargs="+", default=[1000],
                        help="the sizes dbt is timed at (it takes ~20x longer)")
    args_list = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(args_list)

    results: list[Measurement] = []
    dbt: dict[int, tuple[list[float], list[float]]] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tauro-bench-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for n in sorted(args.sizes):
            m = measure(n, args.runs, workdir)
            results.append(m)
            if args.dbt and n in args.dbt_sizes:
                dbt[n] = measure_dbt(args.dbt, n, args.dbt_runs, workdir)
                print(f"N={n:>5}: dbt parse median {statistics.median(dbt[n][0]):.3f} s",
                      flush=True)
            print(f"N={n:>5}: first {m.first:.3f} s, median {m.median:.3f} s, "
                  f"cpu {m.cpu:.3f} s, warm median {m.warm:.3f} s, peak {m.peak_mb:.0f} MB",
                  flush=True)
    load_after = os.getloadavg()
    print()
    print(table(results))
    print()
    print("\n".join(verdicts(results)))
    if dbt:
        print("\n".join(dbt_lines(results, dbt)))
    if str(args.output) != "-":
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report(results, args_list, args.runs, (load_before, load_after), dbt))
        print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
