"""The contract as a foreachBatch stage of the streaming layer's `MicroBatchWriter`.

The streaming layer sits above this package, so nothing here imports it: the stage works
on the writer's batch object by its documented attributes (`df`, `batch_id`, `node`,
`metrics`, `add_side_output`, `abort`). The streaming layer names `contract_stages` in its
table of built-in stages (`batch_writer.BUILTIN_STAGES`, after dead letters) and imports it
when a node first needs it.

Per batch, `process` validates (one pass) before anything is written and either replaces
`batch.df` with the rows to write (and adds the quarantine side output) or aborts the batch.
`before_start(stream_df)`, when the writer calls it, checks the schema before the query
starts (otherwise the first batch does, still before any write). After the writes,
`after_write(batch, outputs)` completes the result with the Delta versions
the writer reports and hands it to the listeners. A writer that never calls `after_write`
still works: the stage completes the pending batch at the next one, and from then on
completes each batch during `process` (without the table versions).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tauro_compile.contracts.enforcer import ContractEnforcer, PreparedBatch, ValidationListener
from tauro_compile.contracts.errors import ContractSchemaError

METRICS_KEY = "contract"
# Sources whose batch is read again cheaply and identically (columnar files, Delta): the
# enforcer then caches only the rows that break a rule (see enforcer). A Kafka batch is
# never fetched twice; JSON/CSV would be parsed twice.
REREADABLE_SOURCES = frozenset({"delta", "delta_stream"})
REREADABLE_FILES = frozenset({"parquet", "orc"})


class ContractStage:
    """Enforces one node's contract inside its foreachBatch, before the writes."""

    # The enforcer caches the batch itself when (and only when) it must read it twice.
    manages_cache = True

    def __init__(self, enforcer: ContractEnforcer, quarantine_output: Any = None) -> None:
        self.enforcer = enforcer
        self.quarantine_output = quarantine_output
        self._pending: dict[int, PreparedBatch] = {}
        # None: not known yet; True: the writer calls after_write; False: it does not.
        self.writer_calls_after_write: bool | None = None

    def before_start(self, stream_df: Any) -> None:
        """Check the streaming DataFrame before its query starts; raises ContractSchemaError."""
        self.enforcer.check_stream(stream_df)

    def process(self, batch: Any) -> None:
        """Validate the batch and set what the writer writes, or abort it."""
        self._complete_orphans(batch.batch_id)
        enforcer = self.enforcer
        if enforcer.evaluator is None:
            try:
                enforcer.check_stream(batch.df)
            except ContractSchemaError as exc:
                batch.metrics[METRICS_KEY] = {"schema_violations": [str(v) for v in exc.violations],
                                              "rule_errors": exc.rule_errors}
                batch.abort(exc.message)
                return
        # `warn` reads its metrics after the write; a writer without after_write still gets
        # them at the next batch (see _complete_orphans), so only a known lack turns it off.
        enforcer.observe_warn = self.writer_calls_after_write is not False
        prepared = enforcer.prepare_batch(batch.df, batch.batch_id)
        if prepared.validation is not None:
            batch.metrics[METRICS_KEY] = prepared.validation.to_dict()
        if prepared.blocked is not None:
            batch.abort(f"contract '{enforcer.contract.id}' v{enforcer.contract.version} "
                        f"(policy {enforcer.policy}): {prepared.validation.summary()}: "
                        f"{prepared.blocked}")
            return
        batch.df = prepared.main
        if prepared.quarantine is not None:
            # Its rows come from the cache the enforcer filled (or a deterministic re-read):
            # written alongside the main write.
            batch.add_side_output(self.quarantine_output, prepared.quarantine, "quarantine",
                                  alongside=True)
        if self.writer_calls_after_write is False:
            batch.metrics[METRICS_KEY] = enforcer.complete_batch(prepared).to_dict()
        else:
            self._pending[batch.batch_id] = prepared

    def after_write(self, batch: Any, outputs: Mapping[str, Mapping[str, Any]]) -> None:
        """Complete the batch's result with the versions written; notify the listeners."""
        self.writer_calls_after_write = True
        prepared = self._pending.pop(batch.batch_id, None)
        if prepared is None:
            return
        main = outputs.get("main") or {}
        quarantine = outputs.get("quarantine") or {}
        validation = self.enforcer.complete_batch(
            prepared, dataset_version=main.get("version"),
            quarantine_version=quarantine.get("version"),
        )
        batch.metrics[METRICS_KEY] = validation.to_dict()

    def _complete_orphans(self, batch_id: int) -> None:
        """Batches the writer wrote without calling after_write (an older writer)."""
        for pending_id in [b for b in self._pending if b != batch_id]:
            self.writer_calls_after_write = False
            self.enforcer.complete_batch(self._pending.pop(pending_id))
        retried = self._pending.pop(batch_id, None)  # a retried batch starts over
        if retried is not None:
            self.enforcer.release(retried)


def contract_stages(node: Any, context: Any = None) -> list[ContractStage]:
    """Stage factory for the streaming layer: one `ContractStage` per node with `contract:`.

    Read from the context (a dict or an object), all optional: `project_dir` (contract paths
    are relative to it), `on_validation` (a callable given each `BatchValidation`).
    """
    config = getattr(node, "contract", None)
    if config is None:
        return []
    output = node.output
    base_dir = _context_value(context, "project_dir")
    listener: ValidationListener | None = _context_value(context, "on_validation")
    source = node.input
    enforcer = ContractEnforcer.from_config(
        config, node=node.name, dataset_id=output.path or output.table_name,
        base_dir=Path(base_dir) if base_dir else None,
        on_validation=listener if callable(listener) else None,
        reread_source=source.format in REREADABLE_SOURCES
        or (source.format == "file_stream" and source.file_format in REREADABLE_FILES),
    )
    return [ContractStage(enforcer, config.quarantine)]


def _context_value(context: Any, key: str) -> Any:
    if context is None:
        return None
    if isinstance(context, Mapping):
        return context.get(key)
    return getattr(context, key, None)
