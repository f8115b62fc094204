"""The foreachBatch path: per-batch stages, then idempotent writes of the result and side outputs.

A node goes through `MicroBatchWriter` when its sink needs a batch API (Delta `mode: merge`,
a `foreach_batch` function) or when stages must see each batch (a data contract, dead
letters). The extension point is small and typed:

- a `BatchStage` has `process(batch: BatchContext) -> None`; it may replace `batch.df`, add
  side outputs (dead letters, quarantine) with `batch.add_side_output(...)` (written after
  the main write, or in parallel with it when added `alongside`), record numbers in
  `batch.metrics`, or `batch.abort(reason)` to fail the batch before anything is written.
  Optional members: `before_start(stream_df)` (called before the query starts, e.g. a schema
  check), `after_write(batch, outputs)` (called after every write of the batch succeeded, with
  the per-output info: rows, committed, Delta version), `settle_metrics(batch)` (called last,
  written or blocked, to finish `batch.metrics` before they are reported), and
  `manages_cache = True` (the stage caches what it reads twice itself, so the writer does not
  persist the batch for it);
- `register_stage_factory(name, factory, order=...)` plugs stages in for every node that needs
  them: `factory(node, context) -> list[BatchStage]`; `unregister_stage_factory` undoes it.
  Stages run in an explicit order: dead letters (100), the data contract (200), then the
  user's stages (500 unless given); see `BUILTIN_STAGES`.

Idempotency: every Delta write of a batch carries `txnAppId = <node unique id>[:<suffix>]` and
`txnVersion = <batch id>`, so a batch replayed after a failure is skipped by Delta instead of
written twice. Appends use the writer options; MERGE cannot take writer options, so the same
pair is set as the session confs `spark.databricks.delta.write.txnAppId/txnVersion` on the
batch's own session (a query's clone of the user's session) and unset right after.
A new checkpoint restarts batch ids at 0; were the app id only the node's id, Delta would then
silently skip every batch up to the last one committed under the old checkpoint. So when the
writer knows the query's checkpoint, the app id is `<node unique id>@<checkpoint query id>`
(the `id` Spark keeps in `<checkpoint>/metadata`): stable across restarts of the same
checkpoint (replays stay idempotent), fresh for a new checkpoint (nothing is skipped). A write
Delta skipped as a replay is marked `committed: False` in the batch info.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from tauro_compile.streaming import storage
from tauro_compile.streaming.batch_sinks import FileBatchSink
from tauro_compile.streaming.config import NodeConfig, OutputConfig
from tauro_compile.streaming.exceptions import (
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
)
from tauro_compile.streaming.session import is_connect_session
from tauro_compile.streaming.spark_options import is_true, spark_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tauro_compile.streaming.context import BatchListener

log = logging.getLogger(__name__)

# The batch the writer caches lives for that batch only and is read twice: its in-memory
# columnar compression (dictionary and run-length encoding, ~18 % of the executors' samples
# in a dead-letter batch) costs more than it saves there (bench/results/kafka.md). Off on
# the batch's session (the query's own clone) while the batch runs, unless the user's
# settings choose it; restored after the batch.
CACHE_COMPRESSED_CONF = "spark.sql.inMemoryColumnarStorage.compressed"
TXN_APP_ID_CONF = "spark.databricks.delta.write.txnAppId"
TXN_VERSION_CONF = "spark.databricks.delta.write.txnVersion"


@dataclass(frozen=True)
class SideOutput:
    """An extra DataFrame of the batch written to its own sink (dead letters, quarantine)."""

    output: OutputConfig
    df: DataFrame
    suffix: str
    # Asked after the main write, before this one: False skips it (e.g. no dead letter in
    # the batch, counted by an observation on the main write). None: always written.
    when: Callable[[], bool] | None = None
    # True: `df` reads only what is already materialised (a filled cache) or a source read
    # again identically, never what the main write computes first, so it may be written in
    # parallel with the main write (see `MicroBatchWriter._write_outputs`).
    alongside: bool = False


@dataclass
class BatchContext:
    """One micro-batch as the stages see it."""

    node: NodeConfig
    batch_id: int
    df: DataFrame
    side_outputs: list[SideOutput] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    abort_reason: str | None = None

    @property
    def spark(self) -> SparkSession:
        """The batch's session (inside a query: the query's own clone of the user session)."""
        return self.df.sparkSession

    @property
    def aborted(self) -> bool:
        return self.abort_reason is not None

    def add_side_output(self, output: OutputConfig, df: DataFrame, suffix: str, *,
                        when: Callable[[], bool] | None = None, alongside: bool = False) -> None:
        """Write `df` to `output` after the stages, idempotently under `<unique id>:<suffix>`:
        after the main write (only if `when()` is true, when given), or with `alongside`
        (and no `when`) in parallel with it. `alongside` is for a `df` that reads only what is
        already materialised (a cache the stage filled) or a source read again identically:
        one that reads a batch cached but not yet filled would compute it a second time (a
        Kafka batch fetched twice, a non-deterministic batch split inconsistently)."""
        if any(s.suffix == suffix for s in self.side_outputs) or suffix == "main":
            raise ValueError(f"side output suffix '{suffix}' is already used in this batch")
        self.side_outputs.append(SideOutput(output, df, suffix, when, alongside))

    def abort(self, reason: str) -> None:
        """Fail this batch before anything is written."""
        self.abort_reason = reason


class BatchStage(Protocol):
    """A per-batch step run before the writes (contract checks, dead-letter routing, ...)."""

    def process(self, batch: BatchContext) -> None: ...


StageFactory = Callable[[NodeConfig, Any], Sequence[BatchStage]]

# Built-in stages, in the order they run on each batch, imported when first needed:
# dead letters first (a record that does not parse never reaches the contract's rules), then
# the data contract (it judges exactly the rows that would be written).
BUILTIN_STAGES: dict[str, tuple[int, str]] = {
    "dead_letter": (100, "tauro_compile.streaming.dead_letter:dead_letter_stages"),
    "contract": (200, "tauro_compile.contracts.stage:contract_stages"),
}
DEFAULT_STAGE_ORDER = 500
_STAGE_FACTORIES: dict[str, tuple[int, StageFactory | str]] = dict(BUILTIN_STAGES)


def register_stage_factory(name: str, factory: StageFactory, *,
                           order: int | None = None) -> None:
    """Plug in stages built per node from (node, context); they run in ascending `order`.

    A built-in name ("dead_letter", "contract") replaces that stage and keeps its place
    unless `order` is given; other stages default to 500 (after the built-ins), ties by name.
    """
    if order is None:
        order = _STAGE_FACTORIES.get(name, (DEFAULT_STAGE_ORDER, factory))[0]
    _STAGE_FACTORIES[name] = (order, factory)


def unregister_stage_factory(name: str) -> None:
    """Undo `register_stage_factory(name, ...)`; a built-in stage comes back."""
    if name in BUILTIN_STAGES:
        _STAGE_FACTORIES[name] = BUILTIN_STAGES[name]
    else:
        _STAGE_FACTORIES.pop(name, None)


def stage_factories() -> list[tuple[str, int]]:
    """The registered stage names with their order, in the order they run."""
    return sorted(((name, order) for name, (order, _) in _STAGE_FACTORIES.items()),
                  key=lambda item: (item[1], item[0]))


def stages_for(node: NodeConfig, context: Any) -> list[BatchStage]:
    """Every registered factory's stages for this node, in their order (see `BUILTIN_STAGES`).

    A node with `contract:` is always enforced: if the contract stage cannot be loaded, that is
    an error, never a silently unchecked stream.
    """
    stages: list[BatchStage] = []
    for name, _order in stage_factories():
        factory = _STAGE_FACTORIES[name][1]
        if isinstance(factory, str):
            try:
                factory = _import_factory(factory)
            except ImportError as exc:
                if name == "contract" and node.contract is not None:
                    raise StreamingValidationError(
                        f"node '{node.name}' declares a contract, but no contract stage is "
                        f"available ({exc})",
                        context=create_error_context(
                            "stages_for", "batch_writer", node_name=node.name, field="contract",
                            expected="a registered contract stage", actual=node.contract.path),
                        hint="remove `contract` from the node, or install the contracts "
                             "integration",
                    ) from None
                continue
        stages.extend(factory(node, context))
    return stages


def _import_factory(reference: str) -> StageFactory:
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)


def run_before_start(stages: Sequence[BatchStage], stream_df: DataFrame, node: NodeConfig) -> None:
    """Call the stages' optional `before_start(stream_df)` hook (e.g. a contract's schema check)."""
    from tauro_compile.errors import TauroError
    from tauro_compile.streaming.exceptions import StreamingError

    for stage in stages:
        hook = getattr(stage, "before_start", None)
        if not callable(hook):
            continue
        try:
            hook(stream_df)
        except StreamingError:
            raise
        except TauroError as exc:
            raise StreamingValidationError(
                exc.message,
                context=create_error_context("before_start", type(stage).__name__,
                                             node_name=node.name, details=exc.render()),
                hint=exc.hint, cause=exc,
            ) from exc


class BatchSink(Protocol):
    """Writes one DataFrame of a batch; returns what it did (rows, committed, target)."""

    def write(self, df: DataFrame, batch_id: int, txn_app_id: str) -> dict[str, Any]: ...


class DeltaBatchSink:
    """Append, overwrite (complete mode) or MERGE on keys into a Delta table, idempotently."""

    def __init__(self, output: OutputConfig, output_mode: str, node_name: str) -> None:
        self.output = output
        self.output_mode = output_mode
        self.node_name = node_name

    def write(self, df: DataFrame, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        spark = df.sparkSession
        where = {"path": self.output.path, "table_name": self.output.table_name}
        previous = storage.delta_last_commit(spark, **where)
        before = None if previous is None else int(previous["version"])
        if self.output.mode == "merge" and before is not None:
            self._merge(df, batch_id, txn_app_id)
        else:
            self._save(df, batch_id, txn_app_id)
        last = storage.delta_last_commit(spark, **where, known_to_exist=True)
        committed = last is not None and (before is None or last["version"] > before)
        metrics = last["metrics"] if committed and last else {}
        info: dict[str, Any] = {
            "target": self.output.table_name or self.output.path,
            "committed": committed,
            "version": last["version"] if last else None,
            "rows": int(metrics.get("numOutputRows", 0)) if committed else 0,
        }
        if committed and last and last["operation"] == "MERGE":
            merged = {k: int(metrics.get(f"numTargetRows{k.title()}", 0))
                      for k in ("inserted", "updated", "deleted")}
            info.update(merged, rows=sum(merged.values()))
        return info

    def _options(self, txn_app_id: str, batch_id: int) -> dict[str, str]:
        opts = spark_options(self.output.options, node_name=self.node_name, field="output.options")
        return {**opts, "txnAppId": txn_app_id, "txnVersion": str(batch_id)}

    def _save(self, df: DataFrame, batch_id: int, txn_app_id: str) -> None:
        mode = "overwrite" if self.output_mode == "complete" else "append"
        writer = df.write.format("delta").mode(mode).options(**self._options(txn_app_id, batch_id))
        if self.output.partition_by:
            writer = writer.partitionBy(*self.output.partition_by)
        if self.output.table_name:
            writer.saveAsTable(self.output.table_name)
        else:
            writer.save(self.output.path)

    def _merge(self, df: DataFrame, batch_id: int, txn_app_id: str) -> None:
        spark = df.sparkSession
        if is_connect_session(spark):
            self._merge_sql(df, batch_id, txn_app_id)
            return
        table = storage.delta_table(spark, path=self.output.path, table_name=self.output.table_name)
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in self.output.merge_keys)
        builder = table.alias("t").merge(df.alias("s"), condition)
        if is_true(self.output.options.get("mergeSchema", False)):
            builder = builder.withSchemaEvolution()
        builder = builder.whenMatchedUpdateAll().whenNotMatchedInsertAll()
        spark.conf.set(TXN_APP_ID_CONF, txn_app_id)
        spark.conf.set(TXN_VERSION_CONF, str(batch_id))
        try:
            builder.execute()
        finally:
            spark.conf.unset(TXN_APP_ID_CONF)
            spark.conf.unset(TXN_VERSION_CONF)


    def _merge_sql(self, df: DataFrame, batch_id: int, txn_app_id: str) -> None:
        """The same MERGE in SQL, for Spark Connect (no Delta Python API there, see storage).

        Over Connect a foreachBatch function runs on the server in a session shared by every
        query of the run, so the transaction confs are set under a lock that every Tauro
        foreachBatch worker of that server machine shares.
        """
        spark = df.sparkSession
        view = f"tauro_merge_{abs(hash((self.node_name, txn_app_id))) % 10**12}_{batch_id}"
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in self.output.merge_keys)
        evolve = " WITH SCHEMA EVOLUTION" if is_true(
            self.output.options.get("mergeSchema", False)) else ""
        target = storage.delta_identifier(self.output.path, self.output.table_name)
        df.createOrReplaceTempView(view)
        try:
            with _session_conf_lock():
                spark.conf.set(TXN_APP_ID_CONF, txn_app_id)
                spark.conf.set(TXN_VERSION_CONF, str(batch_id))
                try:
                    spark.sql(f"MERGE{evolve} INTO {target} t USING {view} s ON {condition} "
                              "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
                finally:
                    spark.conf.unset(TXN_APP_ID_CONF)
                    spark.conf.unset(TXN_VERSION_CONF)
        finally:
            spark.catalog.dropTempView(view)


def _session_conf_lock() -> Any:
    """An exclusive lock across processes of this machine (fcntl on a file in the temp dir)."""
    import contextlib
    import fcntl
    import os
    import tempfile

    @contextlib.contextmanager
    def locked() -> Any:
        path = os.path.join(tempfile.gettempdir(), "tauro-connect-session-conf.lock")
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    return locked()


class FormatBatchSink:
    """A plain batch write (kafka, or another format) or a console table; at least once.

    Parquet and JSON go through `batch_sinks.FileBatchSink` instead (exactly once); a Kafka
    producer cannot be told a batch was already sent, so a replayed batch is sent again.

    Console: the batch's table (as Spark's console sink prints it, `numRows` and `truncate`
    options honoured) goes to `printer(node, batch_id, text)` when given (the runner shows
    it above its live display), else to stdout.
    """

    def __init__(self, output: OutputConfig, node_name: str,
                 prepare: Callable[[DataFrame], DataFrame] | None = None,
                 printer: Callable[[str, int, str], None] | None = None) -> None:
        self.output = output
        self.node_name = node_name
        self.prepare = prepare
        self.printer = printer

    def write(self, df: DataFrame, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        df = self.prepare(df) if self.prepare else df
        opts = spark_options(self.output.options, node_name=self.node_name, field="output.options")
        if self.output.format == "console":
            # Counted and shown from one read: a second scan of the source would also be
            # counted twice in the query's numInputRows.
            df.persist()
            try:
                rows = df.count()
                table = df._show_string(int(opts.get("numRows", 20)),  # what df.show() prints
                                        truncate=is_true(opts.get("truncate", "true")))
            finally:
                df.unpersist()
            text = f"{self.node_name}: batch {batch_id}\n{table.rstrip()}"
            if self.printer is not None:
                self.printer(self.node_name, batch_id, text)
            else:
                print(text, flush=True)  # a console sink's whole point; no runner to ask
        else:
            rows = df.count()
            writer = df.write.format(self.output.format).mode("append").options(**opts)
            if self.output.partition_by:
                writer = writer.partitionBy(*self.output.partition_by)
            if self.output.path:
                writer.save(self.output.path)
            else:
                writer.save()
        return {"target": self.output.path or self.output.format, "committed": True, "rows": rows}


class FunctionBatchSink:
    """The user's `foreach_batch` function, called as fn(batch_df, batch_id)."""

    def __init__(self, fn: Callable[[DataFrame, int], Any], label: str) -> None:
        self.fn = fn
        self.label = label

    def write(self, df: DataFrame, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        self.fn(df, batch_id)
        return {"target": self.label, "committed": True, "rows": None}


def side_output_sink(output: OutputConfig, output_mode: str, node_name: str) -> BatchSink:
    """The sink a side output (dead letters, quarantine) is written with."""
    if output.format == "delta":
        return DeltaBatchSink(output, output_mode, node_name)
    if output.format in ("parquet", "json"):
        return FileBatchSink(output, node_name)
    return FormatBatchSink(output, node_name)


class _SideWrite:
    """One side output written in a thread that inherits the batch thread's Spark local
    properties (job group, scheduler pool), as PySpark's `InheritableThread` does."""

    def __init__(self, write: Callable[[], dict[str, Any]]) -> None:
        from pyspark import InheritableThread

        self._write = write
        self._info: dict[str, Any] | None = None
        self._error: BaseException | None = None
        self._thread = InheritableThread(target=self._run, name="tauro-side-output",
                                         daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._info = self._write()
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._error = exc

    def join(self) -> None:
        self._thread.join()

    def result(self) -> dict[str, Any]:
        self.join()
        if self._error is not None:
            raise self._error
        assert self._info is not None
        return self._info


class MicroBatchWriter:
    """The foreachBatch function of a node: run the stages, then write every output."""

    def __init__(self, node: NodeConfig, sink: BatchSink, *, unique_id: str,
                 stages: Sequence[BatchStage] = (), on_batch: BatchListener | None = None,
                 checkpoint_location: str | None = None) -> None:
        self.node = node
        self.sink = sink
        self.unique_id = unique_id
        self.stages = list(stages)
        self.on_batch = on_batch
        self.checkpoint_location = checkpoint_location
        self._txn_app_id: str | None = None if checkpoint_location else unique_id
        # The exception the last failed batch raised, as a Python object: Spark only keeps
        # its text (inside FOREACH_BATCH_USER_FUNCTION_ERROR); failures.explain uses this.
        self.failure: BaseException | None = None

    def txn_app_id(self, spark: SparkSession) -> str:
        """The Delta transaction app id of this query's writes (see the module docstring)."""
        if self._txn_app_id is None:
            import json

            text = storage.read_text(spark, f"{self.checkpoint_location}/metadata")
            query_id = None
            if text:
                try:
                    query_id = json.loads(text.splitlines()[0]).get("id")
                except (ValueError, IndexError, AttributeError):
                    query_id = None
            self._txn_app_id = f"{self.unique_id}@{query_id}" if query_id else self.unique_id
        return self._txn_app_id

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        try:
            self._write_batch(batch_df, batch_id)
        except BaseException as exc:
            self.failure = exc
            raise
        self.failure = None

    def _write_batch(self, batch_df: DataFrame, batch_id: int) -> None:
        batch = BatchContext(self.node, int(batch_id), batch_df)
        # Stages read the batch, then the writes read it again: cache it, unless every stage
        # says it caches what it reads itself (`manages_cache = True`).
        cached = any(not getattr(stage, "manages_cache", False) for stage in self.stages)
        turned_off = False
        if cached:
            turned_off = _uncompressed_caches(batch_df.sparkSession)
            batch_df.persist()
        try:
            for stage in self.stages:
                stage.process(batch)
                if batch.aborted:
                    break
            if batch.aborted:
                self._settle(batch)
                self._report(batch, {}, aborted=batch.abort_reason)
                raise StreamingQueryError(
                    f"node '{self.node.name}': batch {batch_id} was blocked before writing: "
                    f"{batch.abort_reason}",
                    context=create_error_context("write_batch", "MicroBatchWriter",
                                                 node_name=self.node.name, batch_id=batch_id,
                                                 reason=batch.abort_reason,
                                                 metrics=dict(batch.metrics)),
                    hint=f"nothing of batch {batch_id} was written. The next run retries "
                         "it from the checkpoint: to let it through, fix the data upstream or "
                         "change the node's contract or contract.policy (e.g. quarantine)",
                )
            app_id = self.txn_app_id(batch_df.sparkSession)
            outputs = self._write_outputs(batch, app_id)
            for stage in self.stages:
                after_write = getattr(stage, "after_write", None)
                if callable(after_write):
                    after_write(batch, outputs)
            self._settle(batch)
            self._report(batch, outputs)
        finally:
            if cached:
                batch_df.unpersist()
                _compressed_caches_back(batch_df.sparkSession, turned_off)

    def _write_outputs(self, batch: BatchContext, app_id: str) -> dict[str, Any]:
        """Write the main output and the side outputs; returns each one's write info.

        Side outputs (dead letters, quarantine) collect rows batch after batch: always
        appended, even when the main output is rewritten whole (complete mode). One added
        with `alongside` (the quarantine: its rows come from the contract's filled cache) is
        written in parallel with the main write, from a second thread (a Spark job of its
        own), so its planning and Delta commit overlap the main write's tasks; each write is
        idempotent on its own (its own txn app id), so which one commits first does not
        matter. Not over Spark Connect, where the batch runs in the server's Python worker.
        Either write failing fails the batch, once both have ended. The others follow the
        main write (a side output with `when` is asked then).
        """
        connect = is_connect_session(batch.spark)
        alongside = {side.suffix: _SideWrite(self._side_writer(side, batch, app_id))
                     for side in batch.side_outputs
                     if side.alongside and side.when is None and not connect}
        try:
            outputs = {"main": self.sink.write(batch.df, batch.batch_id, app_id)}
        finally:
            for write in alongside.values():
                write.join()
        for side in batch.side_outputs:
            if side.suffix in alongside:
                outputs[side.suffix] = alongside[side.suffix].result()
            elif side.when is None or side.when():
                outputs[side.suffix] = self._side_writer(side, batch, app_id)()
        return outputs

    def _side_writer(self, side: SideOutput, batch: BatchContext,
                     app_id: str) -> Callable[[], dict[str, Any]]:
        sink = side_output_sink(side.output, "append", self.node.name)
        return lambda: sink.write(side.df, batch.batch_id, f"{app_id}:{side.suffix}")

    def _settle(self, batch: BatchContext) -> None:
        """Let stages finish their `batch.metrics` (`settle_metrics`) before they are reported."""
        for stage in self.stages:
            settle = getattr(stage, "settle_metrics", None)
            if callable(settle):
                settle(batch)

    def _report(self, batch: BatchContext, outputs: dict[str, Any], aborted: str | None = None) -> None:
        if self.on_batch is None:
            return
        info = {"outputs": outputs, "metrics": dict(batch.metrics), "aborted": aborted,
                "rows_written": sum(o.get("rows") or 0 for o in outputs.values())}
        try:
            self.on_batch(self.node.name, batch.batch_id, info)
        except Exception:  # a broken listener must not fail the user's data
            log.exception("batch listener failed for node %s batch %s", self.node.name,
                          batch.batch_id)


def _uncompressed_caches(spark: SparkSession) -> bool:
    """Turn off the compression of caches on `spark` unless the user's settings choose it;
    True when it was turned off (to restore with `_compressed_caches_back`)."""
    if spark.conf.get(CACHE_COMPRESSED_CONF, None) is not None:
        return False
    spark.conf.set(CACHE_COMPRESSED_CONF, "false")
    return True


def _compressed_caches_back(spark: SparkSession, turned_off: bool) -> None:
    if turned_off:
        spark.conf.unset(CACHE_COMPRESSED_CONF)
