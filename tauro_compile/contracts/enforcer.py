"""`ContractEnforcer`: validates each micro-batch in one pass and says what to write.

Per batch, inside the query's foreachBatch (the source is read once):

1. `prepare_batch(batch_df, batch_id)`:
   - policy `warn` without a strategy and without uniqueness rules: the metrics are attached
     to the DataFrame to write with `DataFrame.observe`, so they are computed by the write
     job itself (no extra Spark job, nothing persisted);
   - a source that can be re-read cheaply and identically (`reread_source`: parquet, orc or
     Delta files, a deterministic plan, no uniqueness rules): ONE pass computes every metric
     (`observe`) and caches only the rows that match a rule (few); the policy (or strategy)
     decides; the rows to write are then read again from the source (a second scan instead
     of caching the whole batch), quarantined rows come from the small cache;
   - otherwise the batch is persisted once, ONE aggregation computes every rule's metric,
     the policy (or strategy) decides, and the valid / invalid rows are derived from the
     persisted batch (a Kafka batch, for one, must not be fetched twice).
   `block` returns no DataFrame at all: nothing of the batch is written.
2. The caller writes `main` (and `quarantine`, if any) idempotently (txnAppId/txnVersion).
3. `complete_batch(prepared, dataset_version=...)` releases the batch, finishes the result
   and hands it to every listener (`on_validation`).

A blocked batch is reported to the listeners at once; the caller then fails the query
(`ContractViolationError`), so the sink never contains the batch and earlier batches stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tauro_compile.contracts.errors import ContractSchemaError, ContractViolationError
from tauro_compile.contracts.evaluation import BATCH_ID_COLUMN, VIOLATIONS_COLUMN, BatchEvaluator
from tauro_compile.contracts.loader import load_contract
from tauro_compile.contracts.model import Contract
from tauro_compile.contracts.result import BatchValidation, Decision, RuleResult
from tauro_compile.contracts.schema import check_schema
from tauro_compile.contracts.strategies import (
    POLICIES,
    Policy,
    StrategyContext,
    ValidationStrategy,
    load_strategy,
    policy_decision,
)
from tauro_compile.errors import RunError, UsageError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Observation

    from tauro_compile.streaming.config import ContractConfig

ValidationListener = Callable[[BatchValidation], None]


@dataclass
class PreparedBatch:
    """A validated batch ready to write: what goes to the sink, what to quarantine."""

    batch_id: int
    main: DataFrame | None                 # None when blocked
    quarantine: DataFrame | None = None
    blocked: str | None = None             # the reason, when the batch must not be written
    validation: BatchValidation | None = None
    source: DataFrame | None = None        # the batch as received (for a replay's metrics)
    persisted: DataFrame | None = None
    metrics_observation: Observation | None = None
    main_count: Observation | None = None
    quarantine_count: Observation | None = None

    def raise_if_blocked(self, node: str) -> None:
        """For a hand-written foreachBatch: fail the batch (and the query) when blocked."""
        if self.blocked is not None:
            raise ContractViolationError(node, self.batch_id, self.blocked, self.validation)


class ContractEnforcer:
    """Enforces one contract on one node's stream; one instance per running query."""

    def __init__(self, contract: Contract, *, node: str, policy: Policy = "block",
                 strategy: ValidationStrategy | str | None = None,
                 dataset_id: str | None = None, quarantine_id: str | None = None,
                 has_quarantine: bool | None = None,
                 on_validation: ValidationListener | None = None,
                 reread_source: bool = False) -> None:
        if policy not in POLICIES:
            raise UsageError(f"unknown contract policy '{policy}'; expected one of {POLICIES}")
        self.contract = contract
        self.node = node
        self.policy: Policy = policy
        self.strategy = load_strategy(strategy) if strategy is not None else None
        self.dataset_id = dataset_id
        self.quarantine_id = quarantine_id
        self.has_quarantine = has_quarantine if has_quarantine is not None else (
            quarantine_id is not None or policy == "quarantine")
        self.listeners: list[ValidationListener] = [on_validation] if on_validation else []
        self.evaluator: BatchEvaluator | None = None
        # `warn` may take the metrics from the write job itself; only when the caller will
        # call complete_batch after writing (the observation is read there).
        self.observe_warn = True
        # The caller says the source is cheap to read again (files, Delta); check_stream
        # confirms the plan is deterministic (a second read must give the same rows).
        self.reread_source = reread_source
        self.reread = False
        self.results: list[BatchValidation] = []

    @classmethod
    def from_config(cls, config: ContractConfig, *, node: str, dataset_id: str | None = None,
                    quarantine_id: str | None = None, base_dir: Path | str | None = None,
                    on_validation: ValidationListener | None = None,
                    reread_source: bool = False) -> ContractEnforcer:
        """Build from a node's `contract:` section (the path is relative to `base_dir`)."""
        path = Path(config.path)
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        if quarantine_id is None and config.quarantine is not None:
            quarantine_id = config.quarantine.path or config.quarantine.table_name
        return cls(load_contract(path), node=node, policy=config.policy,
                   strategy=config.strategy, dataset_id=dataset_id,
                   quarantine_id=quarantine_id, has_quarantine=config.quarantine is not None,
                   on_validation=on_validation, reread_source=reread_source)

    def add_listener(self, listener: ValidationListener) -> None:
        self.listeners.append(listener)

    # -- query start ---------------------------------------------------------------------

    def check_stream(self, df: DataFrame) -> None:
        """Check the stream's schema and rules before the query starts; raise if they break."""
        violations = check_schema(self.contract, df.schema)
        evaluator = BatchEvaluator(self.contract, df.columns)
        rule_errors = [] if violations else evaluator.check_rules(df)
        if violations or rule_errors:
            raise ContractSchemaError(self.node, self.contract.id, violations, rule_errors)
        self.evaluator = evaluator
        self.reread = self.reread_source and evaluator.observable and _rereadable(df)

    # -- per batch -----------------------------------------------------------------------

    def prepare_batch(self, batch_df: DataFrame, batch_id: int) -> PreparedBatch:
        """Validate one batch (one pass) and return the DataFrames to write, or a block."""
        if self.evaluator is None:
            self.check_stream(batch_df)
        evaluator = self._evaluator()
        if (self.policy == "warn" and self.strategy is None and evaluator.observable
                and self.observe_warn):
            return self._prepare_observed(batch_df, batch_id, evaluator)
        if self.reread and not batch_df.is_cached:
            return self._prepare_reread(batch_df, batch_id, evaluator)
        return self._prepare_measured(batch_df, batch_id, evaluator)

    def complete_batch(self, prepared: PreparedBatch, *, dataset_version: int | None = None,
                       quarantine_version: int | None = None) -> BatchValidation:
        """After the writes: finish the result, release the batch, notify the listeners."""
        try:
            validation = prepared.validation
            replayed = False
            if validation is None:  # observed path: the metrics came out of the write
                metrics = observed_metrics(prepared.metrics_observation)
                replayed = metrics is None
                if metrics is None:  # the sink already had this batch: Delta skipped the write
                    metrics = prepared.source.agg(*self._evaluator().metric_columns()).first().asDict()
                validation = self._validation(prepared.batch_id, metrics)
                validation = replace(validation,
                                     reason=policy_decision(self.policy, validation).reason)
            written = observed_metrics(prepared.main_count)
            quarantined = observed_metrics(prepared.quarantine_count)
            replayed = replayed or (prepared.main is not None and prepared.main_count is not None
                                    and written is None)
            validation = replace(
                validation,
                dataset_version=dataset_version, quarantine_version=quarantine_version,
                rows_written=(written or {}).get("n", validation.rows_written),
                rows_quarantined=(quarantined or {}).get("n", validation.rows_quarantined),
                replayed=replayed,
            )
        finally:
            self.release(prepared)
        self._deliver(validation)
        return validation

    def release(self, prepared: PreparedBatch) -> None:
        """Drop the batch from the cache if this enforcer cached it."""
        if prepared.persisted is not None:
            prepared.persisted.unpersist()
            prepared.persisted = None

    # -- internals -----------------------------------------------------------------------

    def _evaluator(self) -> BatchEvaluator:
        if self.evaluator is None:
            raise RunError("contract enforcer used before check_stream")
        return self.evaluator

    def _prepare_observed(self, batch_df: DataFrame, batch_id: int,
                          evaluator: BatchEvaluator) -> PreparedBatch:
        from pyspark.sql import Observation

        observation = Observation(f"tauro_contract_{batch_id}")
        main = batch_df.observe(observation, *evaluator.metric_columns())
        return PreparedBatch(batch_id, main, source=batch_df, metrics_observation=observation)

    def _prepare_measured(self, batch_df: DataFrame, batch_id: int,
                          evaluator: BatchEvaluator) -> PreparedBatch:
        from pyspark.sql import functions as F

        # The caller (MicroBatchWriter) may already hold the batch in cache: never twice.
        # Otherwise the batch is cached once with its rule flags, so that every row
        # condition is evaluated once; the aggregation fills the cache.
        owns_cache = not batch_df.is_cached
        persisted = evaluator.with_flags(batch_df).persist() if owns_cache else batch_df
        metrics = persisted.agg(*evaluator.metric_columns(flagged=owns_cache)).first().asDict()
        flags = evaluator.flag_columns if owns_cache else []
        prepared, failed = self._decided(
            PreparedBatch(batch_id, None, source=batch_df,
                          persisted=persisted if owns_cache else None),
            metrics, whole=lambda: persisted.drop(*flags))
        if failed is None:
            return prepared
        prepared.main, invalid = _split(persisted, evaluator, failed, flagged=owns_cache)
        prepared.main, prepared.main_count = _counted(prepared.main, f"main_{batch_id}")
        if prepared.validation.decision == "quarantine":
            invalid = invalid.withColumn(BATCH_ID_COLUMN, F.lit(batch_id).cast("bigint"))
            prepared.quarantine, prepared.quarantine_count = _counted(
                invalid, f"quarantine_{batch_id}")
        return prepared

    def _prepare_reread(self, batch_df: DataFrame, batch_id: int,
                        evaluator: BatchEvaluator) -> PreparedBatch:
        from pyspark.sql import Observation
        from pyspark.sql import functions as F

        observation = Observation(f"tauro_contract_{batch_id}")
        # One pass: each row condition evaluated once (the flag bits), every metric from the
        # bits, and only the rows that match some rule kept in cache (with their bits).
        flags = evaluator.flag_columns
        flagged = evaluator.with_flags(batch_df)
        suspects = (flagged.observe(observation, *evaluator.metric_columns(flagged=True))
                    .filter(_any_bit(flags)).persist())
        suspects.count()
        metrics = observed_metrics(observation)
        if metrics is None:  # no job ran the observation (an empty plan): aggregate instead
            metrics = batch_df.agg(*evaluator.metric_columns()).first().asDict()
        prepared, failed = self._decided(
            PreparedBatch(batch_id, None, source=batch_df, persisted=suspects),
            metrics, whole=lambda: batch_df)
        if failed is None:
            return prepared
        invalid_row = evaluator.invalid_row(failed)
        prepared.main, prepared.main_count = _counted(batch_df.filter(~invalid_row),
                                                      f"main_{batch_id}")
        if prepared.validation.decision == "quarantine":
            # A failed batch-level rule makes every row invalid: those are not all suspects.
            whole = any(not e.row_level for e in evaluator.expectations if e.name in failed)
            rows = flagged if whole else suspects
            invalid = (rows.filter(evaluator.invalid_row(failed, flagged=True)).withColumns({
                VIOLATIONS_COLUMN: evaluator.violations_column(failed, flagged=True),
                BATCH_ID_COLUMN: F.lit(batch_id).cast("bigint")}).drop(*flags))
            prepared.quarantine, prepared.quarantine_count = _counted(
                invalid, f"quarantine_{batch_id}")
        return prepared

    def _decided(self, prepared: PreparedBatch, metrics: dict[str, Any],
                 whole: Callable[[], DataFrame]) -> tuple[PreparedBatch, list[str] | None]:
        """The decision both prepare paths share, from the batch's metrics: block (the batch
        is completed with nothing written), write the batch whole (`whole()`, when nothing
        failed or the strategy says write), or split it. A quarantine with no quarantine
        sink is an error. Returns the batch and the failed error rules to split on, or None
        when there is nothing to split."""
        validation = self._validation(prepared.batch_id, metrics)
        decision = self._decide(validation)
        prepared.validation = replace(validation, decision=decision.action,
                                      reason=decision.reason)
        if decision.action == "block":
            prepared.blocked = decision.reason or "blocked by the contract strategy"
            prepared.validation = replace(prepared.validation, rows_written=0)
            self.complete_batch(prepared)
            return prepared, None
        if decision.action == "write" or validation.status == "ok":
            prepared.main, prepared.main_count = _counted(whole(),
                                                          f"main_{prepared.batch_id}")
            return prepared, None
        if decision.action == "quarantine" and not self.has_quarantine:
            self.release(prepared)
            raise RunError(f"node '{self.node}': the contract strategy chose 'quarantine' "
                           "but the node has no quarantine sink",
                           hint="add contract.quarantine to the node")
        return prepared, [r.name for r in validation.rules
                          if not r.passed and r.severity == "error"]

    def _validation(self, batch_id: int, metrics: dict[str, Any]) -> BatchValidation:
        evaluator = self._evaluator()
        rows, rules = evaluator.rule_results(metrics)
        return BatchValidation(
            node=self.node, batch_id=batch_id, rows=rows, rules=rules,
            status=_status(rules), decision="write", contract_id=self.contract.id,
            contract_version=self.contract.version, dataset_id=self.dataset_id,
            quarantine_id=self.quarantine_id, skipped_rules=list(evaluator.skipped),
        )

    def _decide(self, validation: BatchValidation) -> Decision:
        default = policy_decision(self.policy, validation)
        if self.strategy is None:
            return default
        chosen = self.strategy.decide(StrategyContext(
            self.node, validation.batch_id, validation, self.policy, default, self.dataset_id,
        ))
        return chosen or default

    def _deliver(self, validation: BatchValidation) -> None:
        self.results.append(validation)
        for listener in self.listeners:
            listener(validation)


def _split(batch: DataFrame, evaluator: BatchEvaluator, failed: list[str],
           flagged: bool) -> tuple[DataFrame, DataFrame]:
    """(valid rows, invalid rows with the rules they break) of a batch.

    A uniqueness flag is a window over the whole batch, so it is computed before the
    split; otherwise a plain predicate splits the rows and only the (few) invalid rows
    build the array of rule names.
    """
    from pyspark.sql import functions as F

    flags = evaluator.flag_columns if flagged else []
    windowed = any(e.metric == "duplicates" and e.name in failed for e in evaluator.expectations)
    if windowed:
        marked = batch.withColumn(VIOLATIONS_COLUMN, evaluator.violations_column(failed, flagged))
        return (marked.filter(F.size(VIOLATIONS_COLUMN) == 0).drop(VIOLATIONS_COLUMN, *flags),
                marked.filter(F.size(VIOLATIONS_COLUMN) > 0).drop(*flags))
    invalid_row = evaluator.invalid_row(failed, flagged)
    violations = evaluator.violations_column(failed, flagged)
    return (batch.filter(~invalid_row).drop(*flags),
            batch.filter(invalid_row).withColumn(VIOLATIONS_COLUMN, violations).drop(*flags))


# Plan nodes a batch can be re-read through: no state, no shuffle, no nondeterminism.
_REREADABLE_NODES = frozenset({
    "Project", "Filter", "SubqueryAlias", "View", "Generate", "EventTimeWatermark",
    "StreamingRelation", "StreamingRelationV2", "StreamingExecutionRelation", "LogicalRelation",
})


def _rereadable(df: DataFrame) -> bool:
    """True when reading `df`'s plan twice gives the same rows and touches no state.

    Deterministic expressions only (no rand(), uuid(), now()) and only row-wise nodes: a
    stateful operator (aggregation, dropDuplicates, join) must not run twice for a batch.
    """
    jdf = getattr(df, "_jdf", None)
    if jdf is None:  # Spark Connect: the plan is not inspectable here; never re-read
        return False
    plan = jdf.queryExecution().analyzed()
    if not plan.deterministic():
        return False
    pending = [plan]
    while pending:
        node = pending.pop()
        if str(node.nodeName()) not in _REREADABLE_NODES:
            return False
        children = node.children()
        pending.extend(children.apply(i) for i in range(children.size()))
    return True


def _any_bit(flags: list[str]) -> Column:
    """TRUE for a row with any flag bit set (it matches some row condition)."""
    from pyspark.sql import functions as F

    test = F.lit(False)
    for column in flags:
        test = test | (F.col(column) != 0)
    return test


def _status(rules: list[RuleResult]) -> str:
    failed = [r for r in rules if not r.passed]
    if any(r.severity == "error" for r in failed):
        return "fail"
    return "warn" if failed else "ok"


def _counted(df: DataFrame, name: str) -> tuple[DataFrame, Observation]:
    """`df` with a row count observed by the job that writes it (free)."""
    from pyspark.sql import Observation
    from pyspark.sql import functions as F

    observation = Observation(f"tauro_{name}")
    return df.observe(observation, F.count(F.lit(1)).alias("n")), observation


def observed_metrics(observation: Observation | None) -> dict[str, Any] | None:
    """The observation's metrics, or None when no job ran it (a write Delta skipped)."""
    if observation is None:
        return None
    if not hasattr(observation, "_jo"):
        # Spark Connect: the client fills `_result` from the reply of the job that ran it;
        # it stays empty when none did.
        return dict(observation._result) if getattr(observation, "_result", None) else None
    if observation._jo is None:
        return None
    # `get` would wait forever for a write that never ran (Delta skips a batch it already
    # has, by txnAppId/txnVersion); the JVM future tells without waiting.
    if not observation._jo.future().isCompleted():
        return None
    return observation.get
