"""A bounded run with nothing new to read, told before Spark starts: no JVM at all.

The most common production run is a scheduled `available_now` run that often finds nothing
new. Each node's own check (`streaming.caught_up`: its checkpoint has read every commit of
its Delta input, or every file of its input directory) needs only a few small files; when
every node of the plan passes it on this machine's file system, the run is supervised as
usual (state, results, events, summary, `tauro status`) by `NothingNewEngine`, which
starts nothing. Starting Spark would only have confirmed it, at the cost of the JVM's start
(~4-8 s here).

Checked without Spark only when that reads the same files Spark would: a local master, no
Spark Connect, no `spark.hadoop.fs.*` setting (a default file system elsewhere would send a
plain path to it), and every input, checkpoint and read output a local path. Any doubt
about any node returns None, and the run starts Spark as before, where the same checks run
node by node through Hadoop's FileSystem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tauro_compile.streaming.caught_up import (
    LocalFiles,
    delta_log_version,
    input_caught_up,
    is_local_path,
)
from tauro_compile.streaming.engine import NodeStartError, OutputPreview, QueryHandle
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.session import is_local_master
from tauro_compile.streaming.spark_engine import FILE_SINKS


def nothing_new(plan: RunPlan) -> dict[str, str] | None:
    """Per node, why it has nothing new to read, when that holds for every node of the plan
    (read on this machine's file system); None when any node may have something new or
    cannot be checked without Spark."""
    spark = plan.spark
    if spark.remote or not is_local_master(spark.master) or \
            any(key.startswith("spark.hadoop.fs.") for key in spark.conf):
        return None
    files = LocalFiles()
    readers = {up for node in plan.nodes for up in node.depends_on}
    reasons: dict[str, str] = {}
    for node in plan.nodes:
        if not node.bounded or not _local_paths(node):
            return None
        reason = input_caught_up(node, files)
        if reason is None:
            return None
        if node.name in readers and not _output_readable(node, files):
            return None
        reasons[node.name] = reason
    return reasons


def _local_paths(node: PlannedNode) -> bool:
    inp, out = node.config.input, node.config.output
    paths = [node.config.streaming.checkpoint_location]
    if inp.format != "kafka":   # a Kafka input is asked of its brokers (caught_up)
        paths.append(inp.path)
    if out.format == "delta" or out.format in FILE_SINKS:
        paths.append(out.path)
    return all(p and is_local_path(p) for p in paths)


def _output_readable(node: PlannedNode, files: LocalFiles) -> bool:
    """What a downstream node needs of this one's output: a Delta table with a commit, or the
    directory of a file sink (what `SparkQueryEngine.output_exists` asks through Spark)."""
    out = node.config.output
    if out.format == "delta":
        return bool(out.path) and delta_log_version(files, out.path) is not None
    if out.format in FILE_SINKS:
        return bool(out.path) and files.exists(out.path)
    return True


class NothingNewEngine:
    """The engine of a run `nothing_new` vouched for: every node is up to date, none starts."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = dict(reasons)
        self.on_batch_result: Callable[[str, dict[str, Any]], None] | None = None

    def input_up_to_date(self, node: PlannedNode) -> str | None:
        return self.reasons.get(node.name)

    def start(self, node: PlannedNode) -> QueryHandle:
        # Unreachable while every node is up to date; never start a query without Spark.
        raise NodeStartError(
            f"node '{node.name}' was to start, but this run has no Spark session: every node "
            "was found up to date before Spark started", retryable=False,
            hint="run again: a run that finds something new to read starts Spark")

    def output_exists(self, node: PlannedNode) -> bool:
        return True

    def ensure_output(self, node: PlannedNode) -> bool:
        return True

    def preview_output(self, node: PlannedNode, limit: int) -> OutputPreview | None:
        return None

    def driver_exit(self) -> str | None:
        return None

    def stop_all(self) -> None:
        return None
