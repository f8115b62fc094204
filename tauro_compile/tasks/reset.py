"""`tauro reset` and `tauro run --full-refresh`: clear selected nodes so they start over.

What is cleared, per selected node (see `streaming.reset` for how): its checkpoint (moved
aside to a timestamped backup), its output (Delta: a new, empty version, history kept;
parquet/json files: moved aside; Kafka topics: never deleted, the node re-publishes), and,
only with `--include-side-outputs`, its quarantine and dead-letter Delta tables (emptied
the same way). Console, memory and foreach_batch outputs hold nothing Tauro can clear.

Descendants: a node downstream of a refreshed Delta or file output would read a rewritten
table (Delta's streaming source refuses it) with a checkpoint that points into the old data,
so the command refuses unless they are selected too (exit 2, naming them and the selection
that includes them), like `tauro plan`'s remedy `-s <node>+`. Nothing is added silently.

Safety: the preview (with each Delta table's version and row count) is shown and confirmed
first; `--yes` confirms in scripts, and without a terminal and without `--yes` the command
refuses before Spark starts (exit 2). It holds the project's run lock while it clears, so it
is refused while a run holds it. Unselected nodes are never touched.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tauro_compile.errors import EXIT_NODE_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.compiler.compile import CompiledProject
    from tauro_compile.compiler.options import ProjectOptions
    from tauro_compile.console import Console
    from tauro_compile.streaming.config import OutputConfig

FILE_OUTPUTS = ("parquet", "json")
KAFKA_NOTE = ("nothing is deleted: the node re-reads its input from its starting offsets and "
              "re-publishes it, so the topic's consumers see those records again (duplicates)")


def stdin_is_terminal() -> bool:
    """True when a person can answer the confirmation (stdin is a terminal)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@dataclass(frozen=True)
class Target:
    """One thing of a node the refresh clears (or says it keeps)."""

    node: str
    role: str                      # "checkpoint", "output", "dead letters", "quarantine"
    kind: str                      # "checkpoint", "delta", "files", "kafka", "none", "kept"
    where: str                     # path, table name, topic
    output: OutputConfig | None = None


@dataclass
class Refresh:
    """The nodes to clear, in start order, and what of each (decided without Spark)."""

    nodes: list[str]
    untouched: list[str]
    targets: list[Target]
    stamp: str
    command: str
    done: list[str] = field(default_factory=list)

    def preview(self, spark: SparkSession) -> list[str]:
        """What will happen, one line per target, with Delta versions and row counts."""
        from tauro_compile.streaming import reset

        count = len(self.nodes)
        lines = [f"{self.command} clears {count} node{'s' if count != 1 else ''}: "
                 + ", ".join(self.nodes)]
        for name in self.nodes:
            lines.append(f"  {name}")
            for t in (t for t in self.targets if t.node == name):
                lines.append(f"    {t.role}: {self._what(spark, reset, t)}")
        if self.untouched:
            lines.append("Not touched: " + ", ".join(self.untouched))
        return lines

    def _what(self, spark: SparkSession, reset: Any, t: Target) -> str:
        if t.kind in ("checkpoint", "files"):
            if not reset.path_exists(spark, t.where):
                return f"{t.where}: none yet, nothing to clear"
            return f"{t.where} -> moved aside to {t.where.rstrip('/')}{reset.BACKUP_INFIX}{self.stamp}"
        if t.kind == "delta":
            state = reset.delta_state(spark, t.output)
            if state.version is None:
                return f"delta {t.where}: no table yet, nothing to clear"
            return (f"delta {t.where}: version {state.version}, {state.rows} rows -> replaced "
                    f"by an empty version (history kept: undo with RESTORE)")
        if t.kind == "kafka":
            return f"kafka topic {t.where}: {KAFKA_NOTE}"
        if t.kind == "kept":
            return (f"{t.where}: kept; what the node sends there again is added to it (add "
                    "--include-side-outputs to empty it first)")
        return f"{t.where}: nothing Tauro can clear"

    def apply(self, spark: SparkSession, console: Console, context: Any,
              configs: dict[str, Any]) -> None:
        """Clear every target, node by node in start order (an upstream's new empty table
        exists before a downstream query is analysed for its schema)."""
        from tauro_compile.streaming import reset

        for name in self.nodes:
            for t in (t for t in self.targets if t.node == name):
                if t.kind in ("checkpoint", "files"):
                    moved = reset.move_aside(spark, t.where, self.stamp)
                    if moved:
                        console.out(f"{name}: {t.role} {t.where} moved aside to {moved}")
                elif t.kind == "delta":
                    self._empty(spark, console, reset, t, configs[name], context)

    def _empty(self, spark: SparkSession, console: Console, reset: Any, t: Target,
               node: Any, context: Any) -> None:
        before = reset.delta_state(spark, t.output).version
        if before is None:
            return
        schema = None
        if t.role == "output":
            try:
                schema = reset.query_schema(spark, node, context)
            except Exception as exc:  # noqa: BLE001 - the run reports the query's own error
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                console.err(f"{t.node}: its query could not be analysed ({first}); the "
                            f"emptied table keeps its current schema")
        version = reset.empty_delta(spark, t.output, schema)
        ident = t.where if t.output.table_name else f"delta.`{t.where}`"
        console.out(f"{t.node}: {t.role} {t.where} emptied (version {version}); undo: "
                    f"RESTORE TABLE {ident} TO VERSION AS OF {before}")


def plan_refresh(compiled: CompiledProject, *, include_side_outputs: bool,
                 command: str) -> Refresh:
    """The refresh of the selected nodes; UsageError when a descendant would be left behind."""
    selected = list(compiled.selected)
    chosen = set(selected)
    left: set[str] = set()
    for name in selected:
        if _rewritten(compiled.nodes[name].config.output):
            left |= compiled.graph.descendants(name) - chosen
    if left:
        missing = sorted(left)
        everything = " ".join(selected + missing)
        raise UsageError(
            f"{command} of {', '.join(selected)} would leave downstream "
            f"node{'s' if len(missing) > 1 else ''} {', '.join(missing)} reading a rewritten "
            "table with a checkpoint into its old data",
            hint=f"select them too: `{command} -s \"{everything}\"` (or `-s <node>+`)")
    targets: list[Target] = []
    for name in selected:
        config = compiled.nodes[name].config
        targets.append(Target(name, "checkpoint", "checkpoint",
                              config.streaming.checkpoint_location or ""))
        targets.append(_output_target(name, "output", config.output))
        for role, side in _side_outputs(config):
            if side.format == "kafka":
                targets.append(Target(name, role, "kafka", str(side.options.get("topic")), side))
            elif include_side_outputs:
                targets.append(_output_target(name, role, side))
            else:
                targets.append(Target(name, role, "kept", f"delta {_where(side)}", side))
    untouched = [n for n in compiled.graph.nodes if n not in chosen]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Refresh(selected, untouched, targets, stamp, command)


def _rewritten(output: OutputConfig) -> bool:
    return output.format == "delta" or (output.format in FILE_OUTPUTS and bool(output.path))


def _where(output: OutputConfig) -> str:
    return str(output.table_name or output.path)


def _output_target(name: str, role: str, output: OutputConfig) -> Target:
    if output.format == "delta":
        return Target(name, role, "delta", _where(output), output)
    if output.format in FILE_OUTPUTS and output.path:
        return Target(name, role, "files", output.path, output)
    if output.format == "kafka":
        return Target(name, role, "kafka", str(output.options.get("topic")), output)
    return Target(name, role, "none", f"{output.format} output", output)


def _side_outputs(config: Any) -> list[tuple[str, OutputConfig]]:
    from tauro_compile.streaming.dead_letter import dead_letter_output

    sides: list[tuple[str, OutputConfig]] = []
    if config.input.on_parse_error == "dead_letter" and config.input.dead_letter is not None:
        sides.append(("dead letters", dead_letter_output(config)))
    if config.contract is not None and config.contract.quarantine is not None:
        sides.append(("quarantine", config.contract.quarantine))
    return sides


def check_can_confirm(yes: bool, interactive: bool, command: str) -> None:
    """Refuse (exit 2) before anything starts when nobody can confirm and --yes is absent."""
    if not yes and not interactive:
        raise UsageError(
            f"{command} deletes checkpoints and data and asks for confirmation, but stdin is "
            "not a terminal",
            hint="pass --yes to confirm in a script (run it on a terminal first to see what "
                 "it clears)")


@dataclass(frozen=True)
class RefreshRequest:
    """What the command line asked of a refresh: `--yes`, `--include-side-outputs`, and how
    to ask the person at the terminal."""

    yes: bool = False
    include_side_outputs: bool = False
    interactive: bool = False
    confirm: Callable[[str], bool] = field(default=lambda question: False)


def refuse_connect(spark: Any, command: str) -> None:
    """UsageError on Spark Connect: moving directories aside needs the driver JVM's Hadoop
    FileSystem, which a Connect client does not have."""
    from tauro_compile.streaming.session import is_connect_session

    if is_connect_session(spark):
        raise UsageError(f"{command} needs a local or cluster Spark driver (it moves "
                         "checkpoint directories with Hadoop's FileSystem); this profile uses "
                         "Spark Connect",
                         hint="run it with a profile whose spark.master is local[*] or a "
                              "cluster that sees the same paths")


def confirm_and_apply(refresh: Refresh, compiled: CompiledProject, spark: SparkSession,
                      console: Console, request: RefreshRequest) -> bool:
    """Show the preview, ask (unless --yes), clear; False when the user said no."""
    refuse_connect(spark, refresh.command)
    for line in refresh.preview(spark):
        console.out(line)
    if not request.yes and not request.confirm("Clear these now?"):
        console.err("Nothing was changed.")
        return False
    context = {"spark": spark, "project_dir": str(compiled.project.project_dir)}
    refresh.apply(spark, console, context, {n: c.config for n, c in compiled.nodes.items()})
    return True


def run_reset(options: ProjectOptions, console: Console, request: RefreshRequest) -> int:
    """`tauro reset`: clear the selected nodes, under the run lock; the exit code."""
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.run_logs import new_run_log, python_logging_to
    from tauro_compile.runner.python_paths import project_imports
    from tauro_compile.tasks.locate import all_checkpoints
    from tauro_compile.tasks.run import start_spark, take_run_lock

    compiled = compile_project(options, write_artifacts=False)
    plan = compiled.to_run_plan()
    if not plan.nodes:
        console.out("No nodes selected: nothing to reset.")
        return EXIT_OK
    refresh = plan_refresh(compiled, include_side_outputs=request.include_side_outputs,
                           command="tauro reset")
    check_can_confirm(request.yes, request.interactive, "tauro reset")
    lock = take_run_lock(plan, console, all_checkpoints(compiled))
    try:
        log_path = new_run_log(plan.target_dir / "logs")
        with python_logging_to(log_path, compiled.secret_values), project_imports(plan):
            spark = start_spark(plan, console, log_path)
            done = confirm_and_apply(refresh, compiled, spark, console, request)
    finally:
        lock.release()
    if not done:
        return EXIT_NODE_FAILED
    console.out(f"Reset {len(refresh.nodes)} node(s); the next `tauro run` starts them over.")
    return EXIT_OK
