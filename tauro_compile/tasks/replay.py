"""`tauro replay-dead-letters <node>`: re-feed a node's dead letters into its output, once.

Refused (exit 2, before Spark starts) for a node that does not dead-letter, whose dead
letters go to Kafka (there is no table to mark them in), or whose output is not Delta (only
Delta writes can be made exactly once); refused while a run of the project holds its lock
(the replay holds it while it works). See `streaming.replay` for how it is exactly once.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from tauro_compile.errors import EXIT_OK, UsageError, did_you_mean

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.compiler.compile import CompiledProject
    from tauro_compile.compiler.options import ProjectOptions
    from tauro_compile.console import Console
    from tauro_compile.streaming.config import NodeConfig


def check_replayable(config: NodeConfig) -> None:
    """UsageError unless the node has a Delta dead-letter table and a Delta output."""
    name = config.name
    inp = config.input
    if inp.on_parse_error != "dead_letter" or inp.dead_letter is None:
        raise UsageError(f"node '{name}' has no dead letters to replay (on_parse_error: "
                         f"{inp.on_parse_error})",
                         hint="only a node with `on_parse_error: dead_letter` keeps the "
                              "records that did not parse")
    if inp.dead_letter.format == "kafka":
        raise UsageError(f"node '{name}' sends its dead letters to the Kafka topic "
                         f"'{inp.dead_letter.topic}': there is no table to replay them from",
                         hint="re-publish the fixed records to the node's input topic "
                              "yourself, or use a Delta dead-letter sink "
                              "(dead_letter: {format: delta, path: ...})")
    if config.output.format != "delta":
        raise UsageError(f"node '{name}' writes to {config.output.format}: a replay is written "
                         "exactly once only into a Delta output",
                         hint="replay into a Delta output, or read the dead-letter table "
                              "yourself")


def run_replay(options: ProjectOptions, console: Console, node: str, *, where: str | None,
               dry_run: bool) -> int:
    """Replay `node`'s dead letters under the run lock; print the counts; the exit code."""
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.run_logs import new_run_log, python_logging_to
    from tauro_compile.runner.python_paths import project_imports
    from tauro_compile.tasks.locate import all_checkpoints
    from tauro_compile.tasks.reset import refuse_connect
    from tauro_compile.tasks.run import start_spark, take_run_lock

    compiled = compile_project(options, write_artifacts=False)
    if node not in compiled.nodes:
        raise UsageError(f"no node named '{node}'",
                         hint=did_you_mean(node, sorted(compiled.nodes))
                         or "`tauro ls` lists the nodes")
    config = compiled.nodes[node].config
    check_replayable(config)
    plan = compiled.to_run_plan()
    lock = take_run_lock(plan, console, all_checkpoints(compiled))
    try:
        log_path = new_run_log(plan.target_dir / "logs")
        with python_logging_to(log_path, compiled.secret_values), project_imports(plan):
            spark = start_spark(plan, console, log_path)
            refuse_connect(spark, "tauro replay-dead-letters")
            _replay(spark, compiled, node, console, where=where, dry_run=dry_run)
    finally:
        lock.release()
    return EXIT_OK


def _replay(spark: SparkSession, compiled: CompiledProject, node: str, console: Console, *,
            where: str | None, dry_run: bool) -> None:
    from tauro_compile.streaming import replay
    from tauro_compile.streaming.dead_letter import dead_letter_output, dead_letter_target

    compiled_node = compiled.nodes[node]
    config = compiled_node.config
    letters = dead_letter_output(config)
    shown = dead_letter_target(letters)
    if where:
        problem = replay.where_problem(spark, letters, where)
        if problem:
            raise UsageError(f"--where {where!r} is not a condition on the dead-letter table "
                             f"{shown}: {problem}",
                             hint="its columns: "
                                  + ", ".join(replay.dead_letter_columns(spark, letters)))
    context = {"spark": spark, "project_dir": str(compiled.project.project_dir)}
    checkpoint = config.streaming.checkpoint_location or str(compiled.target_dir / node)
    output = config.output.table_name or config.output.path
    while True:
        counts = replay.replay_dead_letters(
            spark, config, compiled_node.unique_id, letters, context=context,
            scratch=f"{checkpoint.rstrip('/')}.replay-{uuid.uuid4().hex}", where=where,
            dry_run=dry_run)
        if not counts.resumed:
            break
        console.out(f"Finished an interrupted replay of '{node}': {counts.parsed} parsed "
                    f"(written: {counts.rows_written} rows), {counts.still_failing} still fail.")
    if dry_run:
        console.out(f"Dry run: {counts.candidates} dead letters of '{node}' in {shown}: "
                    f"{counts.parsed} parse now, {counts.still_failing} still fail. "
                    "Nothing was written.")
        return
    if counts.candidates == 0:
        console.out(f"No pending dead letters of '{node}' in {shown}"
                    + (" match the --where condition." if where else "."))
        return
    console.out(f"Replayed {counts.candidates} dead letters of '{node}' from {shown}: "
                f"{counts.parsed} parse now and are marked replayed ({counts.rows_written} rows "
                f"written to {output}); {counts.still_failing} still fail and stay, with "
                "their new error.")
