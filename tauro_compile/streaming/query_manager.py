"""`StreamingQueryManager`: validate, read, transform, write and start one node's query.

Checkpoints are stable: `streaming.checkpoint_location` if the node sets one, else
`<context checkpoint_root>/<node name>`. They never depend on the execution id, so starting
the same node again resumes where it stopped. A query its checkpoint cannot take (see
`checkpoint_compat`) is refused before it starts; what was started is recorded beside it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# Imported for its side effect: nodes with `on_parse_error: dead_letter` get their batch stage.
from tauro_compile.streaming import storage
from tauro_compile.streaming.batch_writer import BatchStage, stages_for
from tauro_compile.streaming.config import NodeConfig
from tauro_compile.streaming.context import (
    StreamingContext,
    checkpoint_root_from_context,
    spark_from_context,
)
from tauro_compile.streaming.exceptions import (
    StreamingError,
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
    handle_streaming_error,
)
from tauro_compile.streaming.query_shape import CheckpointGuard, verdict_for
from tauro_compile.streaming.readers import StreamingReaderFactory
from tauro_compile.streaming.transforms import apply_transforms
from tauro_compile.streaming.validators import StreamingValidator
from tauro_compile.streaming.writers import StreamingWriterFactory

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from tauro_compile.streaming.checkpoint_compat import Verdict

@dataclass(frozen=True)
class StartedQuery:
    """A query this manager started, with what is needed to explain its failure."""

    query: StreamingQuery
    node: NodeConfig
    checkpoint_location: str
    execution_id: str | None
    pipeline_name: str | None
    unique_id: str
    started_at: float
    # The node's foreachBatch function (None without one): it keeps a failed batch's error.
    batch_writer: Any = None

class StreamingQueryManager:
    """Starts and tracks streaming queries of nodes on the context's SparkSession."""

    def __init__(self, context: Any, *, validator: StreamingValidator | None = None) -> None:
        self.context = StreamingContext.of(context)
        self.validator = validator or StreamingValidator(
            self.context.format_policy, project_dir=self.context.project_dir)
        self._started: dict[str, StartedQuery] = {}
        self._lock = threading.Lock()

    @property
    def spark(self) -> SparkSession:
        return spark_from_context(self.context)

    @handle_streaming_error(StreamingQueryError)
    def create_and_start_query(self, node_config: NodeConfig | Mapping[str, Any],
                               execution_id: str | None = None, pipeline_name: str | None = None,
                               *, unique_id: str | None = None,
                               checkpoint_location: str | None = None,
                               stages: Sequence[BatchStage] | None = None) -> StreamingQuery:
        """Validate the node, build its stream and start it; returns the running query.

        `unique_id` (default `<pipeline_name>.<node>` or the node name) is the stable id used
        as Delta `txnAppId`; `stages` default to the registered stage factories' stages.
        """
        node = self.validator.validate_streaming_node_config(node_config)
        spark = self.spark
        location = self.checkpoint_location(node, checkpoint_location)
        self._refuse_running(spark, node)
        storage.check_checkpoint(spark, location, node.name)
        reader = StreamingReaderFactory.create(node.input.format, self.context)
        df = apply_transforms(reader.read(node), node, spark)
        guard = CheckpointGuard(spark, node, location, df, self.context.project_dir)
        guard.check()
        writer = StreamingWriterFactory.create(node.output.format, self.context)
        stage_list = list(stages) if stages is not None else stages_for(node, self.context)
        uid = unique_id or (f"{pipeline_name}.{node.name}" if pipeline_name else node.name)
        try:
            query = writer.write(df, node, location, unique_id=uid, stages=stage_list)
        except StreamingError:
            raise
        except Exception as exc:
            raise explain_query_failure(exc, node.name, location,
                                        project_dir=self.context.project_dir
                                        ) from exc
        guard.record()
        with self._lock:
            self._started[node.query_name] = StartedQuery(
                query, node, location, execution_id, pipeline_name, uid, time.time(),
                getattr(writer, "batch_writer", None))
        return query

    def analyse(self, node_config: NodeConfig | Mapping[str, Any], *,
                checkpoint_location: str | None = None,
                read_as: NodeConfig | None = None) -> tuple[Verdict, Any]:
        """Build the node's query as `create_and_start_query` would, without starting it:
        the verdict of its checkpoint on it, and the DataFrame (its schema resolved).

        Analysis errors (a missing column, a SQL error, a transform that raises) come out
        as the streaming layer's errors, as at start. `read_as`: the same node reading from
        elsewhere (e.g. an empty stand-in for an upstream output not written yet); the
        verdict still compares the node's own config.
        """
        node = self.validator.validate_streaming_node_config(node_config)
        spark = self.spark
        location = self.checkpoint_location(node, checkpoint_location)
        storage.check_checkpoint(spark, location, node.name)
        source = read_as or node
        reader = StreamingReaderFactory.create(source.input.format, self.context)
        df = apply_transforms(reader.read(source), source, spark)
        df.schema  # noqa: B018 - resolves the plan: missing columns and wrong types surface
        verdict, _ = verdict_for(df, node, spark, location, self.context.project_dir)
        return verdict, df

    def batched(self, name: str) -> bool:
        """True when the query writes through a foreachBatch `MicroBatchWriter`."""
        started = self._started.get(name)
        return started is not None and started.batch_writer is not None

    def failure_of(self, name: str) -> BaseException | None:
        """The Python exception a query's last failed batch raised in foreachBatch, if any."""
        started = self._started.get(name)
        writer = started.batch_writer if started is not None else None
        return getattr(writer, "failure", None)

    def checkpoint_location(self, node: NodeConfig, override: str | None = None) -> str:
        """Where the node checkpoints: override, the node's own, or `<root>/<node name>`."""
        if override:
            return override
        if node.streaming.checkpoint_location:
            return node.streaming.checkpoint_location
        root = checkpoint_root_from_context(self.context)
        if root is None:
            raise StreamingValidationError(
                f"node '{node.name}' has no checkpoint location",
                context=create_error_context("checkpoint_location", type(self).__name__,
                                             node_name=node.name,
                                             field="streaming.checkpoint_location",
                                             expected="a durable directory", actual="nothing"),
                hint="set streaming.checkpoint_location on the node, or give the context a "
                     "`checkpoint_root` (each node then checkpoints in <root>/<node name>)",
            )
        return f"{root.rstrip('/')}/{node.name}"

    def _refuse_running(self, spark: SparkSession, node: NodeConfig) -> None:
        for query in spark.streams.active:
            if query.name == node.query_name:
                raise StreamingQueryError(
                    f"node '{node.name}': a query named '{node.query_name}' is already running "
                    f"(id {query.id})",
                    context=create_error_context("create_and_start_query", type(self).__name__,
                                                 node_name=node.name, query_name=node.query_name,
                                                 query_id=str(query.id)),
                    hint="stop it first (stop_query), or give this node another query_name",
                )

    def get_query(self, name: str) -> StreamingQuery | None:
        """The query started under this query name (active or not), or None."""
        started = self._started.get(name)
        return started.query if started else None

    def started_query(self, name: str) -> StartedQuery | None:
        """What this manager knows about a query it started."""
        return self._started.get(name)

    def active_queries(self) -> dict[str, StreamingQuery]:
        """Queries started by this manager that are still running, by query name."""
        with self._lock:
            return {name: s.query for name, s in self._started.items() if s.query.isActive}

    def stop_query(self, name: str, timeout: float = 30.0) -> bool:
        """Stop a query; True when it is no longer active within `timeout` seconds."""
        query = self.get_query(name)
        if query is None:
            return False
        if not query.isActive:
            return True
        stopper = threading.Thread(target=_stop_quietly, args=(query,), daemon=True,
                                   name=f"tauro-stop-{name}")
        stopper.start()
        stopper.join(timeout)
        return not query.isActive

    def await_query(self, name: str, timeout: float | None = None) -> bool:
        """Wait for a query to end; True when it ended, raises a StreamingQueryError if it failed."""
        started = self._started.get(name)
        if started is None:
            raise StreamingQueryError(
                f"no query named '{name}' was started by this manager",
                context=create_error_context("await_query", type(self).__name__, query_name=name),
            )
        try:
            ended = started.query.awaitTermination(timeout)
        except Exception as exc:
            error = explain_query_failure(
                exc, started.node.name, started.checkpoint_location,
                python_error=self.failure_of(name),
                project_dir=self.context.project_dir)
            # The cause is the Python error behind the failure when there is one.
            raise error from (error.__cause__ or exc)
        return True if ended is None else bool(ended)

def explain_query_failure(exc: BaseException, node_name: str, checkpoint: str, *,
                          python_error: BaseException | None = None,
                          project_dir: str | None = None) -> StreamingError:
    """The error a caller sees for a query that failed to start or run.

    A Tauro error raised inside the node's foreachBatch (a blocked batch, a refused record,
    a strategy's decision) comes out as itself. Anything else becomes a StreamingQueryError
    whose message is the real cause in one line, whose hint is true for that cause, and
    whose context has `location` (the user's file:line) when the user's code raised it.
    """
    from tauro_compile.streaming.failures import explain

    if isinstance(exc, StreamingError):
        return exc
    if isinstance(python_error, StreamingError):
        return python_error
    text = str(exc)
    causes = _cause_messages(exc)
    if causes:
        text += "".join(f"\nCaused by: {c}" for c in causes)
    found = explain(text, python_error=python_error, project_dir=project_dir,
                    checkpoint=checkpoint)
    location = found.location.render() if found.location else None
    return StreamingQueryError(
        f"node '{node_name}': query failed: {found.summary}",
        context=create_error_context("run_query", "StreamingQueryManager", node_name=node_name,
                                     checkpoint_location=checkpoint, details=text[:4000],
                                     error_type=type(exc).__name__, kind=found.kind,
                                     location=location, field=found.field),
        hint=found.hint,
        cause=python_error or exc,
    )

def _cause_messages(exc: BaseException) -> list[str]:
    """The chain of causes pyspark captured from the JVM (`_cause`), each whole."""
    messages: list[str] = []
    cause = getattr(exc, "_cause", None)
    while cause is not None and len(messages) < 10:
        desc = str(getattr(cause, "_desc", None) or cause).strip()
        if desc:  # whole: a Python traceback from an executor is inside a cause
            messages.append(desc)
        cause = getattr(cause, "_cause", None)
    return messages

def _stop_quietly(query: StreamingQuery) -> None:
    # Stopping a query that already failed re-raises its error; its state says what happened.
    with contextlib.suppress(Exception):
        query.stop()
