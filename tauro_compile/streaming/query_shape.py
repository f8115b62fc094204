"""A node's query shape read from Spark, and its checkpoint's record: the Spark side of
`checkpoint_compat` (which holds the rule).

- `shape_of(df, node, spark)`: the shape of a built (not started) streaming DataFrame, read
  from its analyzed logical plan: stateful operators (streaming aggregations, distinct,
  dedup, stream-stream joins, `*GroupsWithState`, `transformWithState`, limits) with their
  keys and aggregates, watermarks, extra streaming sources; plus what the node config says
  (input, output, output mode, trigger) and the session's shuffle partitions.
- `read_facts(spark, location)`: whether Spark ever started a query on the checkpoint
  (an `offsets/` entry), the shape Tauro recorded beside it (`<checkpoint>/.tauro/shape.json`),
  the shuffle partitions in the latest offsets entry and the operators in
  `state/<op>/_metadata/metadata`.
- `record_shape(spark, location, shape)`: write the record, through Hadoop's FileSystem so a
  checkpoint on any file system Spark writes to gets it. Over Spark Connect (no JVM here)
  nothing is read or written: the guard is Spark's own.
- `CheckpointGuard`: what `StreamingQueryManager` does before and after starting a query.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming import storage
from tauro_compile.streaming.checkpoint_compat import (
    CheckpointFacts,
    QueryShape,
    StatefulOp,
    Verdict,
    compare,
    fingerprint_of,
)
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.exceptions import StreamingValidationError, create_error_context
from tauro_compile.streaming.session import is_connect_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("tauro.streaming")
RECORD_DIR = ".tauro"
RECORD_FILE = "shape.json"
_EXPR_ID = re.compile(r"#\d+L?")
# Tauro's per-step views (`__tauro_<node>_<i>.col`) qualify columns; a step inserted before
# would renumber them without changing the query.
_STEP_QUALIFIER = re.compile(r"`?__tauro_[A-Za-z0-9_]+`?\.")
# Ids Spark gives a plan node afresh each time it is built (e.g. an EventTimeWatermark's).
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_ALIAS = re.compile(r"\s+AS\s+(`[^`]*`|\w+)$")
_GROUPS_WITH_STATE = ("FlatMapGroupsWithState", "FlatMapGroupsInPandasWithState",
                      "TransformWithState", "TransformWithStateInPandas",
                      "TransformWithStateInPySpark")


def record_path(location: str) -> str:
    """Where the shape a checkpoint was last started with is recorded."""
    return f"{location.rstrip('/')}/{RECORD_DIR}/{RECORD_FILE}"


# -- the current query ------------------------------------------------------------------
def shape_of(df: DataFrame, node: NodeConfig, spark: SparkSession,
             project_dir: str | None = None) -> QueryShape:
    """The shape of `node`'s query, built as `df` (not started)."""
    plan = df._jdf.queryExecution().analyzed()  # type: ignore[attr-defined]
    ops: list[StatefulOp] = []
    watermarks: list[str] = []
    leaves: list[str] = []
    steps: list[str] = []
    _walk(plan, ops, watermarks, leaves, steps)
    out = node.output
    sources = (_input_id(node), *(f"stream {i + 2}: {fingerprint_of(leaf)[:12]}"
                                  for i, leaf in enumerate(leaves[1:])))
    partitions = spark.conf.get("spark.sql.shuffle.partitions", None)
    trigger = node.streaming.trigger
    return QueryShape(
        node=node.name, fingerprint=node_fingerprint(node), sources=sources,
        sink=f"{out.format}:{_location(out.path, out.table_name, out.options)}",
        output_mode=node.streaming.output_mode.value,
        trigger=trigger.type.value + (f" {trigger.interval}" if trigger.interval else ""),
        sink_options=fingerprint_of({"options": out.options, "partition_by": out.partition_by,
                                     "mode": out.mode, "merge_keys": out.merge_keys})[:16],
        columns=tuple(f"{f.name} {f.dataType.simpleString()}" for f in df.schema.fields),
        stateful=tuple(ops), watermarks=tuple(watermarks),
        shuffle_partitions=str(partitions) if partitions is not None else None,
        query=fingerprint_of(steps)[:16],
        project_dir=str(Path(project_dir).resolve()) if project_dir else None)


def node_fingerprint(node: NodeConfig) -> str:
    """The sha256 of the compiled node (secrets are still `${secret:NAME}` placeholders)."""
    data = node.model_dump(mode="python", by_alias=True)
    return fingerprint_of({**data, "transforms": [_step(s) for s in node.transforms]})


def _step(step: Any) -> Any:
    if callable(step) and not hasattr(step, "model_dump"):
        return f"{getattr(step, '__module__', '')}:{getattr(step, '__qualname__', repr(step))}"
    return step.model_dump(mode="python")


def _input_id(node: NodeConfig) -> str:
    inp = node.input
    return f"{inp.format}:{_location(inp.path, inp.table_name, inp.options)}"


def _location(path: str | None, table: str | None, options: dict[str, Any]) -> str:
    if table:
        return table
    if path:
        return path.rstrip("/")
    for key in ("subscribe", "subscribePattern", "assign", "topic"):
        if options.get(key):
            return f"{key}={options[key]}"
    return ""


def _children(plan: Any) -> list[Any]:
    seq = plan.children()
    return [seq.apply(i) for i in range(seq.size())]


def _seq(seq: Any) -> list[Any]:
    return [seq.apply(i) for i in range(seq.size())]


def _sql(expr: Any) -> str:
    return _STEP_QUALIFIER.sub("", _EXPR_ID.sub("", str(expr.sql())))


def _attr(expr: Any) -> str:
    """`name type` of a key: a column by its name, an expression by its SQL."""
    text = str(expr.name()) if str(expr.nodeName()) == "AttributeReference" else _sql(expr)
    return f"{text} {expr.dataType().simpleString()}"


def _walk(plan: Any, ops: list[StatefulOp], watermarks: list[str], leaves: list[str],
          steps: list[str]) -> None:
    """Children first, so operators come in the order Spark numbers them bottom-up.

    `steps` gets every operator above the leaves (what the query does to its rows); the
    leaves (sources, whose options may hold secrets) only go to `leaves`, to be hashed.
    """
    children = _children(plan)
    for child in children:
        _walk(child, ops, watermarks, leaves, steps)
    name = str(plan.nodeName())
    streaming = bool(plan.isStreaming())
    text = _UUID.sub("", _EXPR_ID.sub("", re.sub(r"@[0-9a-f]+", "", str(plan.simpleString(25)))))
    if name == "CollectMetrics":  # `observe(...)`: its last field is a per-session counter
        text = re.sub(r",\s*\d+$", "", text)
    if not children:
        if streaming:
            leaves.append(text)
        return
    steps.append(_STEP_QUALIFIER.sub("", text))
    if not streaming:
        return
    if name == "Aggregate":
        keys = tuple(_attr(e) for e in _seq(plan.groupingExpressions()))
        grouping = {_sql(e) for e in _seq(plan.groupingExpressions())}
        aggregates = [_ALIAS.sub("", _sql(e)) for e in _seq(plan.aggregateExpressions())]
        detail = ", ".join(a for a in aggregates if a not in grouping)
        ops.append(StatefulOp("aggregate", keys, detail))
    elif name == "Distinct":
        ops.append(StatefulOp("aggregate", tuple(_attr(a) for a in _seq(plan.output())), ""))
    elif name in ("Deduplicate", "DeduplicateWithinWatermark"):
        kind = "dedup" if name == "Deduplicate" else "dedup_within_watermark"
        ops.append(StatefulOp(kind, tuple(_attr(a) for a in _seq(plan.keys()))))
    elif name == "Join" and all(bool(c.isStreaming()) for c in children):
        condition = plan.condition()
        keys = (_sql(condition.get()),) if condition.isDefined() else ()
        ops.append(StatefulOp("join", keys, str(plan.joinType().sql())))
    elif name in _GROUPS_WITH_STATE:
        keys = tuple(_attr(a) for a in _seq(plan.groupingAttributes()))
        ops.append(StatefulOp(name, keys))
    elif name in ("GlobalLimit", "Limit"):
        ops.append(StatefulOp("limit", (), _EXPR_ID.sub("", str(plan.simpleString(5)))))
    elif name == "EventTimeWatermark":
        watermarks.append(f"{plan.eventTime().name()} {plan.delay().toString()}")


# -- the checkpoint ---------------------------------------------------------------------
def read_facts(spark: SparkSession, location: str,
               node: NodeConfig | None = None) -> CheckpointFacts:
    """What the checkpoint at `location` holds (see the module docstring)."""
    root = location.rstrip("/")
    offsets = sorted(int(n) for n in storage.list_names(spark, f"{root}/offsets") if n.isdigit())
    if not offsets:
        return CheckpointFacts(location, exists=False)
    recorded, unreadable = None, None
    text = storage.read_text(spark, record_path(root))
    if text is not None:
        try:
            recorded = QueryShape.from_dict(json.loads(text))
        except ValueError as exc:
            unreadable = f"{record_path(root)} is not readable: {exc}"
    partitions = None
    latest = storage.read_text(spark, f"{root}/offsets/{offsets[-1]}") or ""
    lines = latest.splitlines()
    if len(lines) > 1:
        try:
            partitions = (json.loads(lines[1]).get("conf") or {}).get(
                "spark.sql.shuffle.partitions")
        except ValueError:
            partitions = None
    operators = []
    for op in sorted(int(n) for n in storage.list_names(spark, f"{root}/state") if n.isdigit()):
        meta = storage.read_text(spark, f"{root}/state/{op}/_metadata/metadata") or ""
        name = f"operator {op}"
        meta_lines = meta.splitlines()
        if len(meta_lines) > 1:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                name = json.loads(meta_lines[1])["operatorInfo"]["operatorName"]
        operators.append(str(name))
    foreign = _foreign_source_paths(spark, root, node) if node is not None else ()
    return CheckpointFacts(location, exists=True, recorded=recorded,
                           shuffle_partitions=str(partitions) if partitions else None,
                           state_operators=tuple(operators), unreadable=unreadable,
                           foreign_paths=foreign)


_GLOB = re.compile(r"[*?\[{]")
WRONG_BASE_PATH = ("Spark's file source lists the files it read by absolute path: it fails "
                   "with `Wrong basePath <input> for the root path: <old file>`")


def _foreign_source_paths(spark: SparkSession, root: str, node: NodeConfig
                          ) -> tuple[tuple[str, str, str, str], ...]:
    """The file source's log (`sources/0/`) naming files outside the node's input path."""
    inp = node.input
    if inp.format != "file_stream" or not inp.path or _GLOB.search(inp.path):
        return ()
    directory = f"{root}/sources/0"
    entries = [n for n in storage.list_names(spark, directory)
               if n.split(".")[0].isdigit() and not n.startswith(".")]
    if not entries:
        return ()
    latest = max(entries, key=lambda n: int(n.split(".")[0]))
    text = storage.read_text(spark, f"{directory}/{latest}") or ""
    for line in text.splitlines()[1:]:
        try:
            old = str(json.loads(line)["path"])
        except (ValueError, KeyError, TypeError):
            continue
        current = _as_uri(inp.path)
        if old.startswith(current + "/") or _as_uri(old).startswith(current + "/"):
            return ()
        return ((f"{directory}/{latest}", _shown(old.rsplit("/", 1)[0]), _shown(current),
                 WRONG_BASE_PATH),)
    return ()


def _shown(uri: str) -> str:
    """A `file:` URI as the local path a user typed."""
    return re.sub(r"^file:/+", "/", uri)


def _as_uri(path: str) -> str:
    """A local path as Spark writes it in its logs (`file:/abs`); a URI unchanged."""
    path = path.rstrip("/")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.\-]*:", path):
        return re.sub(r"^file:/+", "file:/", path)
    return "file:" + str(Path(path).resolve())


def record_shape(spark: SparkSession, location: str, shape: QueryShape) -> None:
    """Write `shape` beside the checkpoint (replacing the previous record)."""
    fs, path = storage._filesystem(spark, record_path(location))
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(json.dumps(shape.to_dict(), indent=2, sort_keys=True)
                               .encode("utf-8")))
    finally:
        stream.close()


def verdict_for(df: DataFrame, node: NodeConfig, spark: SparkSession, location: str,
                project_dir: str | None = None) -> tuple[Verdict, QueryShape]:
    """The verdict for starting `node` as `df` on its checkpoint, and the query's shape."""
    if is_connect_session(spark):
        raise StreamingValidationError(
            f"node '{node.name}': its checkpoint can only be compared through the driver's JVM, "
            "which a Spark Connect session does not expose",
            context=create_error_context("verdict_for", "query_shape", node_name=node.name,
                                         checkpoint_location=location),
            hint="run `tauro plan` with a local or cluster profile that reaches the same "
                 "checkpoints")
    shape = shape_of(df, node, spark, project_dir)
    return compare(read_facts(spark, location, node), shape), shape


class CheckpointGuard:
    """Refuses to start a query its checkpoint cannot take; records what was started."""

    def __init__(self, spark: SparkSession, node: NodeConfig, location: str,
                 df: DataFrame, project_dir: str | None = None) -> None:
        self.spark, self.node, self.location = spark, node, location
        self.active = not is_connect_session(spark)
        self.shape: QueryShape | None = None
        self.verdict: Verdict | None = None
        if self.active:
            self.verdict, self.shape = verdict_for(df, node, spark, location, project_dir)

    def check(self) -> None:
        """Raise StreamingValidationError when the change is incompatible with the checkpoint."""
        verdict = self.verdict
        if verdict is None or not verdict.incompatible:
            return
        changes = "; ".join(c.render() for c in verdict.changes if not c.compatible)
        raise StreamingValidationError(
            f"node '{self.node.name}': its checkpoint cannot take the query as it is now: "
            f"{changes}",
            context=create_error_context("check_checkpoint_compat", "CheckpointGuard",
                                         node_name=self.node.name,
                                         checkpoint_location=self.location,
                                         changes=[c.what for c in verdict.changes
                                                  if not c.compatible]),
            hint=f"run `{verdict.remedy}` to rebuild it (and what reads it) from a fresh "
                 f"checkpoint, or undo the change; `tauro plan` shows every node's verdict. "
                 f"Checkpoint: {self.location}",
        )

    def record(self) -> None:
        """Record the started query's shape beside its checkpoint.

        The query is already running: a record that cannot be written is logged, never
        raised (the next start then compares with what Spark keeps in the checkpoint).
        """
        if not self.active or self.shape is None:
            return
        try:
            record_shape(self.spark, self.location, self.shape)
        except Exception:
            log.warning("node '%s': could not record its query shape beside %s",
                        self.node.name, self.location, exc_info=True)


__all__ = ["CheckpointGuard", "node_fingerprint", "read_facts", "record_path", "record_shape",
           "shape_of", "verdict_for"]
