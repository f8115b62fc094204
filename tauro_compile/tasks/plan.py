"""`tauro plan`: what the next `tauro run` would do to each node's checkpoint, before it runs.

Compiles, starts Spark locally (the profile's master and settings; the terminal says so),
then, for every selected node in start order and without running a batch: builds its query
through the reader and transform layers and resolves it against the real input schema (a
missing column, a wrong type, a SQL error surface here, each with the node file and the
line, every node's at once), and compares it with what its checkpoint was last run with
(`streaming.checkpoint_compat`: the same rule `tauro run` applies before starting a node).

One verdict per node: `new`, `unchanged`, `compatible change`, `incompatible with its
checkpoint` (with the remedy), or `error` (the query does not analyse); with the nodes
downstream of it (which read what it writes). A node whose upstream output does not exist
yet (a fresh project) is analysed against an empty stand-in with the upstream query's
schema, in a temporary directory: `tauro plan` writes nothing to the project's outputs or
checkpoints.

Exit codes: 0 nothing incompatible and every query analyses; 1 a node is incompatible with
its checkpoint or its query does not analyse; 2 the project or the command line is invalid.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console, PlainConsole
from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.compiler.compile import CompiledProject
    from tauro_compile.streaming.checkpoint_compat import Verdict
    from tauro_compile.streaming.node_failures import Explanation
    from tauro_compile.streaming.plan import PlannedNode, RunPlan

log = logging.getLogger("tauro.plan")
PLAN_VERSION = 1
ERROR = "error"


@dataclass
class NodePlan:
    """One node's line of the plan."""

    name: str
    verdict: Verdict | None = None
    error: Explanation | None = None
    downstream: list[str] = field(default_factory=list)
    stand_in: str | None = None          # upstream whose output was stood in for

    @property
    def status(self) -> str:
        return ERROR if self.error is not None or self.verdict is None else self.verdict.status

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"node": self.name, "verdict": self.status,
                                "downstream": self.downstream}
        if self.verdict is not None:
            verdict = self.verdict.to_dict()
            data.update(checkpoint=verdict["checkpoint"], changes=verdict["changes"],
                        remedy=verdict["remedy"], notes=verdict["notes"])
        if self.error is not None:
            data["error"] = {"summary": self.error.summary, "details": list(self.error.details),
                             "node_file": self.error.node_file, "code": self.error.code,
                             "hint": self.error.hint}
        if self.stand_in:
            data["analysed_against"] = f"an empty stand-in for {self.stand_in}'s output"
        return data


def run_plan(options: ProjectOptions, console: Console, output: str = "text") -> int:
    """Compile, start Spark, analyse and compare every selected node; the exit code."""
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.run_logs import new_run_log, python_logging_to
    from tauro_compile.runner.python_paths import project_imports

    began = time.time()
    compiled = compile_project(options)
    plan = compiled.to_run_plan()
    if not plan.nodes:
        console.out("No nodes selected: nothing to plan.")
        return EXIT_OK
    log_path = new_run_log(Path(plan.target_dir) / "logs")
    with python_logging_to(log_path, compiled.secret_values), project_imports(plan):
        console.err(f"Starting Spark locally ({plan.spark.where}) to analyse "
                    f"{len(plan.nodes)} node(s); no batch runs. Log: {log_path}")
        # With --output json, stdout holds the document alone: Spark's start-up lines go to stderr.
        spark_console = PlainConsole(stdout=sys.stderr) if output == "json" else console
        spark, spark_seconds = _spark(plan, spark_console, log_path)
        nodes = analyse_plan(compiled, plan, spark)
    elapsed = time.time() - began
    code = EXIT_NODE_FAILED if any(n.status in (ERROR,) or (n.verdict and n.verdict.incompatible)
                                   for n in nodes) else EXIT_OK
    if output == "json":
        console.json({"version": PLAN_VERSION, "project": plan.project_name,
                      "profile": plan.profile, "nodes": [n.to_dict() for n in nodes],
                      "summary": _counts(nodes), "exit_code": code,
                      "seconds": {"total": round(elapsed, 1),
                                  "spark_start": round(spark_seconds, 1)}})
    else:
        _print_text(console, nodes, plan, elapsed, spark_seconds)
    return code


def _spark(plan: RunPlan, console: Console, log_path: Path) -> tuple[SparkSession, float]:
    from tauro_compile.tasks.run import start_spark

    began = time.time()
    spark = start_spark(plan, console, log_path)
    return spark, time.time() - began


def analyse_plan(compiled: CompiledProject, plan: RunPlan, spark: SparkSession
                 ) -> list[NodePlan]:
    """Every planned node analysed and compared, in start order."""
    from tauro_compile.streaming.context import StreamingContext
    from tauro_compile.streaming.query_manager import StreamingQueryManager

    context = StreamingContext(spark=spark, project_dir=str(plan.project_dir))
    manager = StreamingQueryManager(context)
    schemas: dict[str, Any] = {}
    results = []
    with tempfile.TemporaryDirectory(prefix="tauro-plan-") as scratch:
        for node in plan.nodes:
            result = NodePlan(node.name, downstream=sorted(compiled.graph.descendants(node.name)))
            try:
                read_as, result.stand_in = _stand_in(spark, compiled, node, schemas, scratch)
                verdict, df = manager.analyse(
                    node.config, checkpoint_location=node.config.streaming.checkpoint_location,
                    read_as=read_as)
                result.verdict = verdict
                schemas[node.name] = df.schema
            except Exception as exc:  # the node's query does not build: say why, go on
                log.info("node '%s' does not analyse", node.name, exc_info=True)
                result.error = _explained(exc, node, plan, compiled)
            results.append(result)
    return results


def _stand_in(spark: SparkSession, compiled: CompiledProject, node: PlannedNode,
              schemas: dict[str, Any], scratch: str) -> tuple[Any, str | None]:
    """For a node reading an upstream's Delta output that does not exist yet: the node
    reading an empty Delta table with the upstream query's schema instead."""
    from tauro_compile.streaming import storage

    inp = node.config.input
    if inp.format not in ("delta", "delta_stream") or inp.table_name or not inp.path:
        return None, None
    for upstream in compiled.nodes[node.name].depends_on:
        out = compiled.nodes[upstream].config.output
        if out.format != "delta" or (out.path or "").rstrip("/") != inp.path.rstrip("/"):
            continue
        if upstream not in schemas or storage.is_delta_table(spark, path=inp.path):
            return None, None
        path = str(Path(scratch) / upstream)
        if not storage.path_exists(spark, path):
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}"
                                for f in schemas[upstream].fields)
            spark.sql(f"CREATE TABLE delta.`{path}` ({columns}) USING delta "
                      "TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')")
        config = node.config.model_copy(update={"input": inp.model_copy(update={"path": path})})
        return config, upstream
    return None, None


def _explained(exc: BaseException, node: PlannedNode, plan: RunPlan,
               compiled: CompiledProject) -> Explanation:
    from dataclasses import replace

    from tauro_compile.streaming.node_failures import explain_failure

    found = explain_failure(exc, node=node, project_dir=plan.project_dir,
                            checkpoint=node.config.streaming.checkpoint_location)
    return replace(found, summary=compiled.mask(found.summary),
                   details=tuple(compiled.mask(d) for d in found.details))


def _counts(nodes: list[NodePlan]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    return counts


def _print_text(console: Console, nodes: list[NodePlan], plan: RunPlan, elapsed: float,
                spark_seconds: float) -> None:
    width = max(len(n.name) for n in nodes)
    console.out(f"Plan for {plan.project_name} (profile {plan.profile}):")
    for node in nodes:
        console.out(f"  {node.name.ljust(width)}  {node.status}")
        verdict = node.verdict
        if node.error is not None:
            for line in node.error.render().splitlines():
                console.out(f"      {line}")
        if verdict is not None:
            for change in verdict.changes:
                mark = "~" if change.compatible else "!"
                console.out(f"      {mark} {change.render()}")
            for note in verdict.notes:
                console.out(f"      note: {note}")
            if verdict.incompatible:
                console.out(f"      remedy: {verdict.remedy}")
        if node.stand_in:
            console.out(f"      (analysed against an empty stand-in for {node.stand_in}'s "
                        "output, which does not exist yet)")
        if node.downstream and node.status not in ("new", "unchanged"):
            console.out(f"      downstream: {', '.join(node.downstream)}")
    counts = _counts(nodes)
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    console.out(f"{len(nodes)} node(s): {summary}. Took {elapsed:.1f}s "
                f"(Spark start-up {spark_seconds:.1f}s).")


__all__ = ["NodePlan", "analyse_plan", "run_plan"]
