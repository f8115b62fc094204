"""The QueryEngine on real Spark: nodes start through the streaming layer's StreamingQueryManager.

Progress: each poll reads the query's `lastProgress` (two JVM calls) and, only when batches
may have been missed since the previous poll (a gap in batch ids) or once the query has
ended, drains `recentProgress`. Only executed batches count (a progress with an `addBatch`
duration); Spark's idle progress events, which repeat the next batch id without running
it, are ignored. The supervisor deduplicates by batch id, so counts are exact.

Outputs: before a downstream stream can start on a Delta output, the table must exist. When
it does not yet (no batch committed), `ensure_output` creates it empty, with the schema of
the node's own stream (its reader and transforms, built but not started) and its partition
columns; the table gets `delta.enableChangeDataFeed` when a node of the plan reads it as a
change feed.

Operating figures read from each progress document (`progress_details`): Kafka lag per
topic (latest offset minus end offset, summed over partitions), outstanding files (Delta's
`numFilesOutstanding`), the event-time watermark, state-store rows, and records dropped by
`on_parse_error: drop`. Idle events count for stall detection (`activity`), not as batches.

Driver death: when this process launched the driver JVM (`streaming.session.launch_jvm`),
`driver_exit` polls that process and, once it has exited, says how (signal or exit code)
and where its last words are (the JVM's log file).
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.streaming.engine import NodeStartError, OutputPreview, QueryActivity
from tauro_compile.streaming.failures import FailureText
from tauro_compile.streaming.plan import PlannedNode, RunPlan
from tauro_compile.streaming.state import BatchProgress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

FILE_SINKS = ("parquet", "json")
POOL_PROPERTY = "spark.scheduler.pool"
MAX_ERROR_CHARS = 50_000


def parse_progress(doc: dict[str, Any]) -> BatchProgress | None:
    """A BatchProgress from one progress JSON document; None for an idle (no batch) event."""
    from tauro_compile.streaming.writers import rows_out

    durations = doc.get("durationMs") or {}
    if "addBatch" not in durations:
        return None
    duration = doc.get("batchDuration", durations.get("triggerExecution"))
    lag, files = source_backlog(doc)
    return BatchProgress(
        batch_id=int(doc["batchId"]),
        input_rows=int(_total(doc, "numInputRows") or 0),
        input_rows_per_second=_float(_total(doc, "inputRowsPerSecond")),
        processed_rows_per_second=_float(_total(doc, "processedRowsPerSecond")),
        duration_ms=None if duration is None else int(duration),
        rows_out=rows_out(doc),
        timestamp=doc.get("timestamp"),
        kafka_lag=lag,
        backlog_files=files,
        watermark=(doc.get("eventTime") or {}).get("watermark"),
        state_rows=_state_rows(doc),
        parse_dropped=_parse_dropped(doc),
    )


def _offsets(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def source_backlog(doc: dict[str, Any]) -> tuple[dict[str, int] | None, int | None]:
    """(records behind the latest offsets per Kafka topic, outstanding files) of a progress."""
    lag: dict[str, int] = {}
    files: int | None = None
    for source in doc.get("sources") or ():
        latest, end = _offsets(source.get("latestOffset")), _offsets(source.get("endOffset"))
        if latest and end and str(source.get("description", "")).startswith("Kafka"):
            for topic, partitions in latest.items():
                ends = end.get(topic) or {}
                if not isinstance(partitions, dict):
                    continue
                behind = sum(max(int(off) - int(ends.get(p, off)), 0)
                             for p, off in partitions.items())
                lag[topic] = lag.get(topic, 0) + behind
        outstanding = (source.get("metrics") or {}).get("numFilesOutstanding")
        if outstanding is not None:
            files = (files or 0) + int(outstanding)
    return (lag or None), files


def _state_rows(doc: dict[str, Any]) -> int | None:
    operators = doc.get("stateOperators") or ()
    if not operators:
        return None
    return sum(int(op.get("numRowsTotal") or 0) for op in operators)


def _parse_counts(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The parse observation of a batch (`records`, `good`, `bad`, ...), kafka or files."""
    from tauro_compile.streaming.file_parse import FILE_PARSE_METRIC
    from tauro_compile.streaming.kafka import PARSE_METRIC

    metrics = doc.get("observedMetrics") or {}
    row = metrics.get(PARSE_METRIC) or metrics.get(FILE_PARSE_METRIC)
    return row if isinstance(row, dict) else None


def _parse_dropped(doc: dict[str, Any]) -> int | None:
    """Bad records of a kafka parse with `on_parse_error: drop` (they are filtered out)."""
    row = _parse_counts(doc)
    if row is None or row.get("bad") is None:
        return None
    return int(row["bad"])


def _backlog_total(doc: dict[str, Any]) -> int | None:
    lag, files = source_backlog(doc)
    if lag is None and files is None:
        return None
    return sum((lag or {}).values()) + (files or 0)


def _total(doc: dict[str, Any], key: str) -> Any:
    """A query-level figure, else the sum over its sources (Spark Connect's progress JSON
    carries them per source only)."""
    if doc.get(key) is not None:
        return doc[key]
    values = [s.get(key) for s in doc.get("sources") or [] if s.get(key) is not None]
    return sum(values) if values else None


def _float(value: Any) -> float | None:
    try:
        return None if value is None else round(float(value), 1)
    except (TypeError, ValueError):
        return None


def _progress_doc(progress: Any) -> dict[str, Any]:
    """A progress as its plain JSON document (pyspark 4's StreamingQueryProgress is a dict
    whose nested values are objects, not the dicts `parse_progress` reads)."""
    text = getattr(progress, "json", None)
    doc = json.loads(text) if isinstance(text, str) else dict(progress)
    metrics = doc.get("observedMetrics")
    if isinstance(metrics, dict):
        doc["observedMetrics"] = {name: _observed_row(row) for name, row in metrics.items()}
    return doc


def _observed_row(row: Any) -> Any:
    """One observed metric as `{field: value}`: Spark Connect's progress JSON carries it as
    a serialized row, `{"values": [...], "schema": {"fields": [{"name": ...}, ...]}}`."""
    if not isinstance(row, dict) or set(row) != {"values", "schema"}:
        return row
    fields = (row.get("schema") or {}).get("fields") or []
    values = row.get("values") or []
    if len(fields) != len(values):
        return row
    return {str(f.get("name")): v for f, v in zip(fields, values, strict=True)}


class SparkQueryHandle:
    """A started StreamingQuery, as the supervisor sees it.

    On a classic session it reads the JVM query directly (`_jsq`: cheap, exact); over Spark
    Connect (`jvm` None) it goes through the query's public API, which is RPCs to the server.
    Over Connect a foreachBatch writer's batch report stays in the server's Python: a
    dead-letter node's counts come from each batch's parse observation (`dead_letters(batch_id,
    counts)`), and `rows_out` is unknown (`observed_rows_out=False`: the `tauro_rows_out`
    metric counts rows handed to the writer, before dead letters, contracts or a MERGE).
    """

    def __init__(self, query: StreamingQuery, jvm: Any = None, parse_drop: bool = False, *,
                 connect: bool = False,
                 failure_of: Callable[[], BaseException | None] | None = None,
                 dead_letters: Callable[[int, dict[str, int]], None] | None = None,
                 observed_rows_out: bool = True) -> None:
        self.query = query
        self._dead_letters = dead_letters
        self._observed_rows_out = observed_rows_out
        self._reported: set[int] = set()
        self._jvm = jvm
        self._parse_drop = parse_drop
        self._connect = connect
        self._failure_of = failure_of or (lambda: None)
        self._last_timestamp: str | None = None
        self._max_batch = -1
        self._drained_at_end = False
        self._activity = QueryActivity()

    def activity(self) -> QueryActivity:
        return self._activity

    @property
    def is_active(self) -> bool:
        return bool(self.query.isActive)

    def exception(self) -> str | None:
        """The failure with its whole chain of causes: a Python error raised in a task is
        only in a cause (e.g. under `[TASK_WRITE_FAILED]`)."""
        if self._connect:
            error = self.query.exception()
            if error is None:
                return None
            trace = getattr(error, "getStackTrace", lambda: None)()
            text = str(error) + (f"\n{trace}" if trace else "")
            return text[:MAX_ERROR_CHARS]
        failure = self.query._jsq.exception()  # type: ignore[attr-defined]
        if not failure.isDefined():
            return None
        throwable = failure.get()
        try:
            text = str(self._jvm.org.apache.commons.lang3.exception.ExceptionUtils
                       .getStackTrace(throwable))
        except Exception:  # no JVM helper: the chain's messages are still the essence
            parts, current = [], throwable
            while current is not None and len(parts) < 10:
                parts.append(str(current.toString()))
                current = current.getCause()
            text = "\nCaused by: ".join(parts)
        # The Python error behind it (raised in the node's foreachBatch) explains it best.
        return FailureText(text[:MAX_ERROR_CHARS], self._failure_of())

    def new_progress(self) -> list[BatchProgress]:
        if self._connect:
            return self._new_progress_connect()
        jquery = self.query._jsq  # type: ignore[attr-defined]
        if not self._drained_at_end and not jquery.isActive():
            self._drained_at_end = True
            return self._take([json.loads(p.json()) for p in jquery.recentProgress()])
        last = jquery.lastProgress()
        if last is None:
            return []
        timestamp = str(last.timestamp())
        if timestamp == self._last_timestamp:
            return []
        if int(last.batchId()) > self._max_batch + 1:
            return self._take([json.loads(p.json()) for p in jquery.recentProgress()])
        return self._take([json.loads(last.json())])

    def _new_progress_connect(self) -> list[BatchProgress]:
        if not self._drained_at_end and not self.query.isActive:
            self._drained_at_end = True
            return self._take([_progress_doc(p) for p in self.query.recentProgress])
        last = self.query.lastProgress
        if last is None:
            return []
        doc = _progress_doc(last)
        if str(doc.get("timestamp")) == self._last_timestamp:
            return []
        if int(doc.get("batchId", -1)) > self._max_batch + 1:
            return self._take([_progress_doc(p) for p in self.query.recentProgress])
        return self._take([doc])

    def _take(self, docs: list[dict[str, Any]]) -> list[BatchProgress]:
        out = []
        for doc in docs:
            self._last_timestamp = str(doc.get("timestamp"))
            progress = parse_progress(doc)
            if progress is not None:
                counts = _parse_counts(doc)
                if (self._dead_letters is not None and counts is not None
                        and progress.batch_id not in self._reported):
                    self._reported.add(progress.batch_id)  # the final drain sees it again
                    self._dead_letters(progress.batch_id, {
                        k: int(counts[k]) for k in ("records", "good", "bad")
                        if counts.get(k) is not None})
                if not self._observed_rows_out:
                    progress = replace(progress, rows_out=None)
                if not self._parse_drop and progress.parse_dropped:
                    # bad records that were kept (dead letters) or failed the batch
                    progress = replace(progress, parse_dropped=None)
                out.append(progress)
                self._max_batch = max(self._max_batch, progress.batch_id)
        if docs:
            self._activity = QueryActivity(last_event_at=time.time(),
                                           backlog=_backlog_total(docs[-1]))
        return out

    def stop(self) -> None:
        self.query.stop()

    def await_termination(self, timeout: float) -> bool:
        try:
            return bool(self.query.awaitTermination(timeout))
        except Exception:  # terminated with an error: `exception()` reports it
            return True


class SparkQueryEngine:
    """Starts a plan's nodes on a SparkSession through the streaming layer."""

    def __init__(self, spark: SparkSession, plan: RunPlan, *, execution_id: str,
                 on_batch_result: Callable[[str, dict[str, Any]], None] | None = None,
                 driver_log: Path | None = None, context: Any = None,
                 validator: Any = None) -> None:
        """`driver_log`: the JVM's log when this process launched it (its exit is watched);
        `context`: a library caller's context (checkpoint_root, callbacks, ...), to which the
        engine adds its Spark session and its batch listener (before the caller's own)."""
        from tauro_compile.streaming.context import StreamingContext
        from tauro_compile.streaming.query_manager import StreamingQueryManager
        from tauro_compile.streaming.session import is_connect_session, jvm_process

        self.spark = spark
        self.connect = is_connect_session(spark)
        self.driver_log = driver_log
        # Only a JVM this process launched can be watched; a reused session is not ours.
        self._driver = jvm_process() if driver_log is not None and not self.connect else None
        self.plan = plan
        self.execution_id = execution_id
        self.on_batch_result = on_batch_result
        # Where console sinks print (the display sets it: above its live table).
        self.printer: Callable[[str], None] | None = None
        base = StreamingContext.of(context)
        base = replace(base, spark=spark, project_dir=base.project_dir or str(plan.project_dir))
        # Over Connect, foreachBatch functions run in a Python process of the server: this
        # engine's listener there could not reach the supervisor, and would not pickle.
        self.context = base if self.connect else replace(
            base.with_batch_listener(self._batch_listener), batch_printer=self._print_batch)
        self.manager = StreamingQueryManager(self.context, validator=validator)
        self._ready: set[str] = set()
        self._change_feed_paths = {
            _location(n.config.input.path, n.config.input.table_name)
            for n in plan.nodes if n.config.input.format == "delta_stream"}

    # -- starting ------------------------------------------------------------------------
    def start(self, node: PlannedNode) -> SparkQueryHandle:
        from tauro_compile.streaming.exceptions import StreamingError, StreamingValidationError

        try:
            with self._scheduler_pool(node):
                query = self.manager.create_and_start_query(
                    node.config, self.execution_id, self.plan.project_name,
                    unique_id=node.unique_id,
                    checkpoint_location=node.config.streaming.checkpoint_location)
        except StreamingError as exc:
            cause = exc.__cause__
            detail = exc.get_full_traceback() if cause is not None else exc.render()
            # Checks the streaming layer makes itself (config, checkpoint, schema) give the
            # same answer on every attempt; a Spark error at start may be transient.
            retryable = cause is not None and not isinstance(exc, StreamingValidationError)
            raise NodeStartError(exc.message, detail=FailureText(detail, exc), hint=exc.hint,
                                 retryable=retryable) from exc
        parse_drop = node.config.input.on_parse_error == "drop"
        if self.connect:
            batched = self.manager.batched(node.config.query_name)
            return SparkQueryHandle(query, parse_drop=parse_drop, connect=True,
                                    dead_letters=self._connect_dead_letters(node),
                                    observed_rows_out=not batched)
        name = node.config.query_name
        return SparkQueryHandle(query, self.spark._jvm,  # type: ignore[attr-defined]
                                parse_drop=parse_drop,
                                failure_of=lambda: self.manager.failure_of(name))

    def _print_batch(self, node_name: str, batch_id: int, text: str) -> None:
        if self.printer is not None:
            self.printer(text)
        else:
            print(text, flush=True)  # no display attached (a notebook): plain stdout

    @contextlib.contextmanager
    def _scheduler_pool(self, node: PlannedNode) -> Iterator[None]:
        """Start the node's query in its FAIR pool: its jobs inherit the starting thread's pool."""
        from tauro_compile.streaming.session import pool_for

        if self.connect:  # a remote profile with pools is refused at compile time
            yield
            return
        context = self.spark.sparkContext
        previous = context.getLocalProperty(POOL_PROPERTY)
        context.setLocalProperty(POOL_PROPERTY, pool_for(node.name, node.config.streaming.pool))
        try:
            yield
        finally:
            context.setLocalProperty(POOL_PROPERTY, previous)  # type: ignore[arg-type]

    def _connect_dead_letters(self, node: PlannedNode) -> Callable[[int, dict[str, int]], None] | None:
        """Over Connect, a dead-letter node's per-batch counts as a batch result (see the
        handle): records that did not parse, which the dead-letter stage writes."""
        from tauro_compile.streaming.dead_letter import METRICS_KEY, routes_dead_letters

        if not routes_dead_letters(node.config):
            return None
        name = node.name

        def report(batch_id: int, counts: dict[str, int]) -> None:
            self._batch_listener(name, batch_id, {"metrics": {METRICS_KEY: counts},
                                                  "outputs": {}, "aborted": None})

        return report

    def _batch_listener(self, node_name: str, batch_id: int, info: dict[str, Any]) -> None:
        if self.on_batch_result is not None:
            self.on_batch_result(node_name, {"batch_id": batch_id, **info})

    def input_up_to_date(self, node: PlannedNode) -> str | None:
        """Why the node's bounded query would find nothing to read now, else None
        (`caught_up.input_caught_up`, read through the session's Hadoop FileSystem)."""
        from tauro_compile.streaming.caught_up import HadoopFiles, input_caught_up

        if self.connect:
            return None
        return input_caught_up(node, HadoopFiles(self.spark))

    # -- outputs -------------------------------------------------------------------------
    def output_exists(self, node: PlannedNode) -> bool:
        from tauro_compile.streaming import storage

        out = node.config.output
        if node.name in self._ready:
            return True
        if out.format == "delta":
            exists = storage.is_delta_table(self.spark, path=out.path, table_name=out.table_name)
        elif out.format in FILE_SINKS and out.path:
            exists = storage.path_exists(self.spark, out.path)
        else:
            exists = True  # kafka topics, or sinks nothing downstream reads
        if exists:
            self._ready.add(node.name)
        return exists

    def ensure_output(self, node: PlannedNode) -> bool:
        if self.output_exists(node):
            return True
        out = node.config.output
        try:
            if out.format == "delta":
                self._create_empty_delta(node)
            elif out.format in FILE_SINKS and out.path:
                self._mkdirs(out.path)
        except Exception:  # the node's own start reports why its stream cannot be built
            return False
        return self.output_exists(node)

    def _create_empty_delta(self, node: PlannedNode) -> None:
        from delta.tables import DeltaTable
        from pyspark.sql.types import StructField, StructType

        out = node.config.output
        schema = self._stream_schema(node)
        if self.connect:
            self._create_empty_delta_sql(node, schema)
            return
        nullable = StructType([StructField(f.name, f.dataType, True, f.metadata)
                               for f in schema.fields])
        builder = DeltaTable.createIfNotExists(self.spark).addColumns(nullable)
        builder = builder.tableName(out.table_name) if out.table_name else builder.location(out.path)
        if out.partition_by:
            builder = builder.partitionedBy(*out.partition_by)
        if _location(out.path, out.table_name) in self._change_feed_paths:
            builder = builder.property("delta.enableChangeDataFeed", "true")
        builder.execute()

    def _create_empty_delta_sql(self, node: PlannedNode, schema: Any) -> None:
        """The same empty table through SQL DDL (Delta's Python API needs the JVM or Delta's
        Connect plugin, which the pinned Delta does not ship)."""
        from tauro_compile.streaming.storage import delta_identifier

        out = node.config.output
        columns = ", ".join(f"`{f.name.replace('`', '``')}` {f.dataType.simpleString()}"
                            for f in schema.fields)
        ddl = (f"CREATE TABLE IF NOT EXISTS {delta_identifier(out.path, out.table_name)} "
               f"({columns}) USING delta")
        if out.partition_by:
            ddl += " PARTITIONED BY (" + ", ".join(f"`{c}`" for c in out.partition_by) + ")"
        if _location(out.path, out.table_name) in self._change_feed_paths:
            ddl += " TBLPROPERTIES ('delta.enableChangeDataFeed' = 'true')"
        self.spark.sql(ddl)

    def _stream_schema(self, node: PlannedNode) -> Any:
        """The schema the node's query writes: its stream built (not started) with its transforms."""
        from tauro_compile.streaming.readers import StreamingReaderFactory
        from tauro_compile.streaming.transforms import apply_transforms

        reader = StreamingReaderFactory.create(node.config.input.format, self.context)
        return apply_transforms(reader.read(node.config), node.config, self.spark).schema

    def _mkdirs(self, path: str) -> None:
        if self.connect:  # refused at compile time for remote profiles (see compiler checks)
            raise RuntimeError("creating a directory needs the driver JVM")
        jvm = self.spark._jvm  # type: ignore[attr-defined]
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        conf = self.spark._jsparkSession.sessionState().newHadoopConf()  # type: ignore[attr-defined]
        hadoop_path.getFileSystem(conf).mkdirs(hadoop_path)

    def preview_output(self, node: PlannedNode, limit: int) -> OutputPreview | None:
        """The first `limit` rows of the node's output read back in batch, or None."""
        out = node.config.output
        try:
            if out.format == "delta":
                reader = self.spark.read.format("delta")
                df = reader.table(out.table_name) if out.table_name else reader.load(out.path)
                location = out.table_name or out.path or ""
            elif out.format in FILE_SINKS and out.path:
                df = self.spark.read.format(out.format).load(out.path)
                location = out.path
            elif out.format == "memory":
                df = self.spark.table(node.config.query_name)
                location = f"memory table {node.config.query_name}"
            else:
                return None
            rows = tuple(tuple(row) for row in df.limit(limit).collect())
        except Exception:  # nothing readable (yet): the summary simply shows no rows
            return None
        # No total count: on a large table it is a full job, paid by every run.
        return OutputPreview(location=location, columns=tuple(df.columns), rows=rows)

    # -- the driver --------------------------------------------------------------------
    def driver_pid(self) -> int | None:
        """The driver JVM's pid, asked through the Spark context (what `kill` needs); None
        over Spark Connect, whose driver is the server's."""
        if self.connect:
            return None
        try:
            return int(self.spark._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[attr-defined]
        except Exception:
            return None

    def driver_exit(self) -> str | None:
        """How the driver JVM ended, once it has; None while it runs (or is not ours)."""
        if self._driver is None:
            return None
        code = self._driver.poll()
        if code is None:
            return None
        if code < 0:
            try:
                how = f"killed by signal {-code} ({signal.Signals(-code).name})"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        where = f"; its last log lines are in {self.driver_log}" if self.driver_log else ""
        return f"the Spark driver exited ({how}{where})"

    def driver_log_tail(self, lines: int = 20) -> str:
        """The last lines the driver JVM wrote, for the run's results."""
        if self.driver_log is None:
            return ""
        try:
            with open(self.driver_log, "rb") as fh:
                fh.seek(0, 2)
                fh.seek(max(fh.tell() - 16_384, 0))
                tail = fh.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(tail[-lines:])

    def stop_all(self) -> None:
        """Stop every query this engine started that is still running (last resort)."""
        for query in self.manager.active_queries().values():
            with contextlib.suppress(Exception):
                query.stop()


def _location(path: str | None, table_name: str | None) -> str:
    return (table_name or (path or "").rstrip("/")).lower()
