"""Typed models of a streaming node's configuration, and the registry-driven checks on it.

The same models validate a node written by hand as a dict (library use, through
`StreamingValidator`) and a node compiled from a project (the compiler extends them with
`ref`/`source`). `check_node` holds every rule that needs the format registry, so the
compiler and the streaming layer cannot disagree about what runs. No pyspark here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tauro_compile.streaming import formats, option_rules
from tauro_compile.streaming.constants import StreamingOutputMode, StreamingTrigger
from tauro_compile.streaming.ddl import check_ddl
from tauro_compile.streaming.durations import DurationError, parse_duration

OptionValue = str | int | float | bool


class ConfigModel(BaseModel):
    """Base of every config section: unknown keys are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


class WatermarkConfig(ConfigModel):
    """Event-time watermark: rows later than `delay` behind the max seen `column` are dropped."""

    column: str = Field(min_length=1)
    delay: str

    @field_validator("delay")
    @classmethod
    def _delay(cls, v: str) -> str:
        try:
            parse_duration(v, maximum=None)
        except DurationError as exc:
            raise ValueError(f"{exc}; expected {exc.expected}") from None
        return v


class DeadLetterConfig(ConfigModel):
    """Where records that fail to parse go (`on_parse_error: dead_letter`)."""

    format: Literal["delta", "kafka"] = "delta"
    path: str | None = None
    table_name: str | None = None
    topic: str | None = None
    options: dict[str, OptionValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _target(self) -> DeadLetterConfig:
        if self.format == "delta" and not (self.path or self.table_name):
            raise ValueError("a delta dead-letter sink needs `path` or `table_name`")
        if self.format == "kafka" and not self.topic:
            raise ValueError("a kafka dead-letter sink needs `topic`")
        return self


class InputConfig(ConfigModel):
    """Where a node reads its stream from."""

    format: str
    path: str | None = None
    table_name: str | None = None
    options: dict[str, OptionValue] = Field(default_factory=dict)
    # file_stream: the files' format and their schema as a Spark DDL string.
    file_format: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    # kafka: parse `value` as JSON with a schema (DDL string, or a StructType from Python).
    parse_json: bool = False
    json_schema: Any = None
    on_parse_error: Literal["fail", "drop", "dead_letter"] = "fail"
    dead_letter: DeadLetterConfig | None = None
    include_metadata: bool = False
    watermark: WatermarkConfig | None = None


class TransformConfig(ConfigModel):
    """One step applied to the stream: a SQL statement over `{{ input }}` or a Python function."""

    sql: str | None = None
    python: str | None = Field(default=None, description="`module:function` from the project")
    args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _exactly_one(self) -> TransformConfig:
        if (self.sql is None) == (self.python is None):
            raise ValueError("a transform needs exactly one of `sql` or `python`")
        if self.python is not None and ":" not in self.python:
            raise ValueError(
                f"python transform '{self.python}' must be 'module:function', "
                "e.g. 'transforms.events:deduplicate'"
            )
        if self.sql is not None and self.args:
            raise ValueError("`args` is only for python transforms")
        return self


class OutputConfig(ConfigModel):
    """Where a node writes, and how."""

    format: str
    path: str | None = None
    table_name: str | None = None
    options: dict[str, OptionValue] = Field(default_factory=dict)
    partition_by: list[str] = Field(default_factory=list)
    # delta: `append` (the stream's rows) or `merge` (upsert on `merge_keys` via foreachBatch).
    mode: Literal["append", "merge"] = "append"
    merge_keys: list[str] = Field(default_factory=list)
    # file sinks: the file format is the output format itself (parquet, json).
    # kafka: which column is the key, and which columns build a JSON value
    # (default: an existing `value` column, else every column as JSON).
    key_column: str | None = None
    value_columns: list[str] | None = None
    # foreach_batch: `module:function` called as function(batch_df, batch_id).
    function: str | None = None
    # delta: a stream column whose type differs from the existing table's is refused before
    # anything is written (`fail`), or cast to the table's type on every write (`cast`).
    on_type_mismatch: Literal["fail", "cast"] = "fail"


class TriggerConfig(ConfigModel):
    """When micro-batches run."""

    type: StreamingTrigger = StreamingTrigger.PROCESSING_TIME
    interval: str | None = None

    @model_validator(mode="after")
    def _interval(self) -> TriggerConfig:
        if self.type.bounded:
            if self.interval is not None:
                raise ValueError(f"a '{self.type.value}' trigger takes no interval")
            return self
        if self.interval is None:
            self.interval = "10 seconds" if self.type is StreamingTrigger.PROCESSING_TIME else "1 second"
        try:
            parse_duration(self.interval)
        except DurationError as exc:
            raise ValueError(f"{exc}; expected {exc.expected}") from None
        return self

    @property
    def bounded(self) -> bool:
        return self.type.bounded


STALL_INTERVALS = 10            # default stall bound: this many trigger intervals ...
STALL_MIN_SECONDS = 300.0       # ... and never less than this


class StreamingConfig(ConfigModel):
    """How the query runs: trigger, output mode, checkpoint, name, stall detection."""

    trigger: TriggerConfig = Field(default_factory=TriggerConfig)
    output_mode: StreamingOutputMode = StreamingOutputMode.APPEND
    checkpoint_location: str | None = None
    query_name: str | None = None
    # FAIR scheduler pool of the query's jobs; default: a pool named after the node.
    pool: str | None = Field(default=None, min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    options: dict[str, OptionValue] = Field(default_factory=dict)
    # A running node with no new batch for this long, while its input has a backlog or its
    # query reports nothing at all, is `stalled`. Default: see `stall_seconds`.
    stall_after: str | None = None
    on_stall: Literal["warn", "restart", "fail"] = "warn"

    @field_validator("stall_after")
    @classmethod
    def _stall_after(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            parse_duration(v)
        except DurationError as exc:
            raise ValueError(f"{exc}; expected {exc.expected}") from None
        return v

    def stall_seconds(self) -> float | None:
        """The stall bound in seconds: `stall_after`, else for a continuous trigger
        max(10 x interval, 5 minutes); None (no stall detection) for a bounded one."""
        if self.stall_after is not None:
            return parse_duration(self.stall_after).seconds
        if self.trigger.bounded:
            return None
        interval = parse_duration(self.trigger.interval or "10 seconds").seconds
        return max(STALL_INTERVALS * interval, STALL_MIN_SECONDS)


BACKOFF_CAP_SECONDS = 300.0


class FailurePolicy(ConfigModel):
    """What happens when the node's query fails: the run fails, or the node restarts.

    `tauro run` and `StreamingPipelineManager` both apply it through `restart_delay`.
    """

    action: Literal["fail", "restart"] = "fail"
    max_restarts: int = Field(default=3, ge=0, le=100)
    backoff: str = "5 seconds"

    def restart_delay(self, restarts_done: int) -> float | None:
        """Seconds before the next restart after `restarts_done` restarts, or None when the
        policy allows no more: doubling from `backoff`, capped at 300 s (or `backoff`)."""
        if self.action != "restart" or restarts_done >= self.max_restarts:
            return None
        base = parse_duration(self.backoff, maximum=None).seconds
        return min(base * (2 ** restarts_done), max(base, BACKOFF_CAP_SECONDS))

    @field_validator("backoff")
    @classmethod
    def _backoff(cls, v: str) -> str:
        try:
            parse_duration(v, maximum=3600)
        except DurationError as exc:
            raise ValueError(f"{exc}; expected {exc.expected}") from None
        return v


class ContractConfig(ConfigModel):
    """A data contract (ODCS v3 file) enforced on every micro-batch, and what to do on violations."""

    path: str
    policy: Literal["warn", "drop", "quarantine", "block"] = "block"
    quarantine: OutputConfig | None = None
    strategy: str | None = Field(
        default=None, description="`module:Class` deciding per batch (see contracts docs)"
    )

    @model_validator(mode="after")
    def _quarantine(self) -> ContractConfig:
        if self.policy == "quarantine" and self.quarantine is None:
            raise ValueError("policy 'quarantine' needs a `quarantine` sink (format: delta, path: ...)")
        return self


# A node's name is part of its checkpoint path, its Delta txnAppId and Spark's query name.
NODE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$"


class NodeConfig(ConfigModel):
    """A fully resolved streaming node: what `StreamingQueryManager` starts."""

    name: str = Field(pattern=NODE_NAME_PATTERN)
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    input: InputConfig
    transforms: list[TransformConfig | Callable[..., Any]] = Field(default_factory=list)
    output: OutputConfig
    streaming: StreamingConfig = Field(default_factory=StreamingConfig)
    contract: ContractConfig | None = None
    on_failure: FailurePolicy = Field(default_factory=FailurePolicy)

    @property
    def query_name(self) -> str:
        return self.streaming.query_name or self.name


@dataclass(frozen=True)
class ConfigIssue:
    """A rule from the registry that a node breaks; `field` is a dotted path in the node."""

    field: str
    message: str
    expected: str | None = None
    found: str | None = None
    hint: str | None = None


def _listing(names: Any) -> str:
    return ", ".join(sorted(names))


def check_input(inp: InputConfig, trigger: TriggerConfig | None = None) -> list[ConfigIssue]:
    """Registry rules for an input section (format known, location, options)."""
    issues: list[ConfigIssue] = []
    spec = formats.source(inp.format)
    if spec is None:
        issues.append(ConfigIssue(
            "input.format", f"unknown input format '{inp.format}'",
            expected=f"one of: {_listing(formats.sources())}", found=inp.format,
            hint=_close(inp.format, formats.sources()),
        ))
        return issues
    issues += _check_location("input", spec, inp.path, inp.table_name)
    issues += _check_options("input", spec, inp.options)
    for key, message, expected, hint in option_rules.value_issues(spec.name, inp.options):
        issues.append(ConfigIssue(f"input.options.{key}", message, expected=expected,
                                  found=_option_found(key, inp.options.get(key)), hint=hint))
    for field_name, text in (("schema", inp.schema_), ("json_schema", inp.json_schema)):
        if isinstance(text, str):
            error = check_ddl(text, struct_wrapper=field_name == "json_schema")
            if error is not None:
                issues.append(ConfigIssue(
                    f"input.{field_name}", f"invalid schema: {error}",
                    expected="a Spark DDL schema, e.g. 'id BIGINT, name STRING'",
                    found=text if len(text) <= 80 else text[:77] + "...",
                ))
    if spec.file_formats:
        if inp.file_format is None:
            issues.append(ConfigIssue(
                "input.file_format", f"format '{spec.name}' needs `file_format`",
                expected=f"one of: {_listing(spec.file_formats)}", found="nothing",
            ))
        elif inp.file_format not in spec.file_formats:
            issues.append(ConfigIssue(
                "input.file_format", f"unknown file format '{inp.file_format}'",
                expected=f"one of: {_listing(spec.file_formats)}", found=inp.file_format,
            ))
        if inp.schema_ is None and inp.file_format not in (None, "text", "parquet", "orc"):
            issues.append(ConfigIssue(
                "input.schema", f"a streaming {inp.file_format} source needs a schema",
                expected="a Spark DDL string, e.g. 'id BIGINT, name STRING'", found="nothing",
                hint="Spark cannot infer the schema of a file stream; declare it once here",
            ))
    elif inp.file_format is not None:
        issues.append(ConfigIssue(
            "input.file_format", f"`file_format` is only for file_stream, not '{spec.name}'",
            found=inp.file_format,
        ))
    if inp.parse_json or inp.json_schema is not None:
        if spec.name != "kafka":
            issues.append(ConfigIssue(
                "input.parse_json", "`parse_json`/`json_schema` apply to kafka inputs only",
                found=spec.name,
            ))
        elif inp.json_schema is None:
            issues.append(ConfigIssue(
                "input.json_schema", "`parse_json: true` needs `json_schema`",
                expected="a Spark DDL string, e.g. 'user_id STRING, amount DOUBLE'",
                found="nothing",
            ))
        elif not inp.parse_json:
            issues.append(ConfigIssue(
                "input.parse_json", "`json_schema` is given but `parse_json` is false",
                expected="true", found="false",
            ))
    parsed_files = spec.name == "file_stream" and inp.file_format in ("json", "csv")
    if inp.on_parse_error != "fail" and not inp.parse_json and not parsed_files:
        issues.append(ConfigIssue(
            "input.on_parse_error", "`on_parse_error` applies to kafka inputs with "
            "`parse_json: true` and to json/csv file streams",
            found=inp.on_parse_error,
        ))
    if parsed_files:
        for key in ("mode", "columnNameOfCorruptRecord"):
            if key in inp.options:
                issues.append(ConfigIssue(
                    f"input.options.{key}", f"option `{key}` is set by Tauro from "
                    "`on_parse_error`", expected="no such option", found=str(inp.options[key]),
                    hint="use `on_parse_error: fail | drop | dead_letter` (Spark's "
                    "PERMISSIVE mode would turn bad records into rows of nulls)",
                ))
    if (inp.on_parse_error == "dead_letter") != (inp.dead_letter is not None):
        issues.append(ConfigIssue(
            "input.dead_letter",
            "`on_parse_error: dead_letter` and a `dead_letter` sink go together",
            expected="both or neither",
            found=f"on_parse_error={inp.on_parse_error}, dead_letter="
            f"{'set' if inp.dead_letter else 'not set'}",
        ))
    if inp.include_metadata and spec.name != "kafka":
        issues.append(ConfigIssue(
            "input.include_metadata", "`include_metadata` applies to kafka inputs only",
            found=spec.name,
        ))
    if trigger is not None and trigger.type.value not in spec.triggers:
        issues.append(ConfigIssue(
            "streaming.trigger.type",
            f"input format '{spec.name}' does not support a '{trigger.type.value}' trigger",
            expected=f"one of: {_listing(spec.triggers)}", found=trigger.type.value,
        ))
    return issues


def check_output(out: OutputConfig, streaming: StreamingConfig, prefix: str = "output") -> list[ConfigIssue]:
    """Registry rules for an output section, including mode/trigger compatibility."""
    issues: list[ConfigIssue] = []
    spec = formats.sink(out.format)
    if spec is None:
        issues.append(ConfigIssue(
            f"{prefix}.format", f"unknown output format '{out.format}'",
            expected=f"one of: {_listing(formats.sinks())}", found=out.format,
            hint=_close(out.format, formats.sinks()),
        ))
        return issues
    issues += _check_location(prefix, spec, out.path, out.table_name)
    issues += _check_options(prefix, spec, out.options)
    mode = streaming.output_mode.value
    if mode not in spec.output_modes:
        issues.append(ConfigIssue(
            "streaming.output_mode", f"output format '{spec.name}' does not support '{mode}' mode",
            expected=f"one of: {_listing(spec.output_modes)}", found=mode,
        ))
    if spec.name == "delta" and mode == "update" and out.mode != "merge":
        issues.append(ConfigIssue(
            "streaming.output_mode", "a delta output takes 'update' mode only with `mode: merge`",
            expected="append or complete (or `mode: merge` with merge_keys)", found=mode,
            hint="Delta's streaming sink has no update mode; an upsert via MERGE gives it",
        ))
    trig = streaming.trigger.type.value
    if trig not in spec.triggers:
        issues.append(ConfigIssue(
            "streaming.trigger.type",
            f"output format '{spec.name}' does not support a '{trig}' trigger",
            expected=f"one of: {_listing(spec.triggers)}", found=trig,
        ))
    if out.mode == "merge":
        if spec.name != "delta":
            issues.append(ConfigIssue(
                f"{prefix}.mode", "`mode: merge` is only for delta outputs",
                expected="delta", found=spec.name,
            ))
        if not out.merge_keys:
            issues.append(ConfigIssue(
                f"{prefix}.merge_keys", "`mode: merge` needs `merge_keys`",
                expected="a list of key columns", found="nothing",
            ))
    elif out.merge_keys:
        issues.append(ConfigIssue(
            f"{prefix}.merge_keys", "`merge_keys` is only used with `mode: merge`", found="append",
        ))
    if spec.name == "foreach_batch":
        if not out.function or ":" not in out.function:
            issues.append(ConfigIssue(
                f"{prefix}.function", "a foreach_batch output needs `function: module:function`",
                found=str(out.function),
            ))
    elif out.function:
        issues.append(ConfigIssue(
            f"{prefix}.function", "`function` is only for foreach_batch outputs", found=spec.name,
        ))
    if out.on_type_mismatch != "fail" and spec.name != "delta":
        issues.append(ConfigIssue(
            f"{prefix}.on_type_mismatch", "`on_type_mismatch` applies to delta outputs only",
            found=spec.name,
        ))
    if (out.key_column or out.value_columns) and spec.name != "kafka":
        issues.append(ConfigIssue(
            f"{prefix}.key_column", "`key_column`/`value_columns` apply to kafka outputs only",
            found=spec.name,
        ))
    if spec.name == "kafka" and "topic" not in out.options:
        issues.append(ConfigIssue(
            f"{prefix}.options.topic", "a kafka output needs `options.topic`",
            expected="the topic to write to", found="nothing",
        ))
    return issues


def check_node(node: NodeConfig) -> list[ConfigIssue]:
    """Every registry rule for one node; empty when the node can run."""
    issues = check_input(node.input, node.streaming.trigger)
    issues += check_output(node.output, node.streaming)
    trig = node.streaming.trigger.type.value
    if trig == "continuous":
        if node.input.format not in formats.CONTINUOUS_SOURCES:
            issues.append(ConfigIssue(
                "streaming.trigger.type", "continuous processing needs a kafka or rate input",
                found=node.input.format,
            ))
        if node.contract is not None or node.output.mode == "merge":
            issues.append(ConfigIssue(
                "streaming.trigger.type",
                "contracts and merge run in foreachBatch, which continuous processing lacks",
                found=trig, expected="processing_time, once or available_now",
            ))
    if node.contract is not None and node.contract.quarantine is not None:
        issues += check_output(node.contract.quarantine, node.streaming, prefix="contract.quarantine")
    return issues


def _check_location(prefix: str, spec: formats.FormatSpec, path: str | None,
                    table_name: str | None) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    where = "`path` or `table_name`" if spec.table_name else "`path`"
    if spec.path == "required" and not (path or (spec.table_name and table_name)):
        issues.append(ConfigIssue(
            f"{prefix}.path", f"format '{spec.name}' needs {where}", expected=where,
            found="nothing",
        ))
    if path and table_name:
        issues.append(ConfigIssue(
            f"{prefix}.table_name", "give `path` or `table_name`, not both",
            found=f"path={path}, table_name={table_name}",
        ))
    if table_name and not spec.table_name:
        issues.append(ConfigIssue(
            f"{prefix}.table_name", f"format '{spec.name}' does not take `table_name`",
            found=table_name,
        ))
    if path and spec.path == "none":
        issues.append(ConfigIssue(
            f"{prefix}.path", f"format '{spec.name}' does not take `path`", found=path,
        ))
    return issues


def _check_options(prefix: str, spec: formats.FormatSpec,
                   options: dict[str, OptionValue]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for key in spec.required_options:
        if key not in options:
            issues.append(ConfigIssue(
                f"{prefix}.options.{key}", f"format '{spec.name}' needs option `{key}`",
                expected=f"`{key}`", found="nothing",
            ))
    for group in spec.exactly_one_of:
        given = [k for k in group if k in options]
        if len(given) != 1:
            issues.append(ConfigIssue(
                f"{prefix}.options",
                f"format '{spec.name}' needs exactly one of {', '.join(group)}",
                expected=f"exactly one of: {', '.join(group)}",
                found=", ".join(given) if given else "none of them",
            ))
    return issues


def _option_found(key: str, value: Any) -> str:
    if value is None:
        return "nothing"
    return "***" if formats.is_secret_key(key) else str(value)[:80]


def option_warnings(node: NodeConfig) -> list[ConfigIssue]:
    """Unknown option names close to a known one (Spark would ignore them silently)."""
    issues = [
        ConfigIssue(f"input.options.{key}", f"unknown option `{key}` for format "
                    f"'{node.input.format}' (Spark ignores unknown options)", found=key,
                    hint=near)
        for key, near in option_rules.name_warnings(node.input.format, node.input.options)
    ]
    issues += [
        ConfigIssue(f"output.options.{key}", f"unknown option `{key}` for output format "
                    f"'{node.output.format}' (Spark ignores unknown options)", found=key,
                    hint=near)
        for key, near in option_rules.name_warnings(node.output.format, node.output.options,
                                                    sink=True)
    ]
    return issues


def _close(word: str, names: Any) -> str | None:
    from tauro_compile.errors import did_you_mean

    hint = did_you_mean(word, list(names))
    return hint or f"valid formats: {_listing(names)}"
