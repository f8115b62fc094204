"""The one registry of source and sink formats.

Everything that knows format names derives from this table: validation (the compiler and
`StreamingValidator`), the JSON schema (`tauro schema`), the `StreamingFormat` enum and the
reader/writer factories. Each spec names its implementation: the built-in ones as an import
string (`"tauro_compile.streaming.readers:KafkaStreamingReader"`) resolved only when a query
is built, so compiling never imports pyspark; a format registered at run time
(`StreamingReaderFactory.register`) carries its class. So a format cannot validate and then
fail to run. `unregister_format` undoes a registration (a built-in name goes back to its
built-in spec); `snapshot`/`restore` let tests isolate what they register.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Location = Literal["required", "optional", "none"]

ALL_OUTPUT_MODES = frozenset({"append", "complete", "update"})
ALL_TRIGGERS = frozenset({"processing_time", "once", "available_now", "continuous"})
# Spark's continuous processing supports only map-like queries on these.
CONTINUOUS_SOURCES = frozenset({"kafka", "rate"})
CONTINUOUS_SINKS = frozenset({"kafka", "console", "memory", "foreach_batch"})

# Option keys whose values are secrets: masked in every output, log and artifact.
SECRET_KEY_MARKERS = (
    "password", "passwd", "secret", "token", "sasl.jaas.config", "apikey", "api_key",
    "api-key", "credential", "private.key", "key.password", "keystore.password",
    "truststore.password", "sas.token", "sas_token", "sastoken", "access.key", "accesskey",
)


def _normalized(text: str) -> str:
    return text.lower().replace("_", ".").replace("-", ".")


_NORMALIZED_MARKERS = tuple(dict.fromkeys(_normalized(m) for m in (*SECRET_KEY_MARKERS, "jaas")))


def is_secret_key(key: str) -> bool:
    """True when an option key (or an environment variable's name) is known to hold a secret.

    `kafka.sasl.jaas.config`, `KAFKA_SASL_JAAS_CONFIG`, `ssl-key-password`: separators do not
    matter, so a variable named after the option it feeds is recognised too.
    """
    k = _normalized(key)
    return any(marker in k for marker in _NORMALIZED_MARKERS)


@dataclass(frozen=True)
class FormatSpec:
    """What a format needs from a node's config, checked before anything starts."""

    name: str
    role: Literal["source", "sink"]
    summary: str
    path: Location = "none"           # `path` (or `table_name` where allowed)
    table_name: bool = False          # the format accepts `table_name` instead of `path`
    required_options: tuple[str, ...] = ()
    # Each group: exactly one of these option keys must be given.
    exactly_one_of: tuple[tuple[str, ...], ...] = ()
    output_modes: frozenset[str] = ALL_OUTPUT_MODES
    triggers: frozenset[str] = ALL_TRIGGERS
    # True when the data exists as a table that a downstream `ref` can read as a stream.
    readable_downstream_as: str | None = None
    file_formats: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # The reader/writer class, or "module:Class" imported when first needed.
    implementation: str | type | None = None


_NO_CONTINUOUS = ALL_TRIGGERS - {"continuous"}

_SOURCES: dict[str, FormatSpec] = {}
_SINKS: dict[str, FormatSpec] = {}


def register_format(spec: FormatSpec, *, replace: bool = False) -> FormatSpec:
    """Add a format to the registry (used by `StreamingReaderFactory.register` and friends)."""
    table = _SOURCES if spec.role == "source" else _SINKS
    if spec.name in table and not replace and table[spec.name] != spec:
        raise ValueError(f"{spec.role} format '{spec.name}' is already registered")
    table[spec.name] = spec
    return spec


def register_implementation(name: str, role: Literal["source", "sink"], implementation: type,
                            spec: FormatSpec | None = None) -> FormatSpec:
    """Make a reader/writer class the implementation of format `name` (its own `spec`, the
    registered one, or a permissive one if the format is new); the registered spec.

    Used by the reader and writer factories' `register`, so every implemented format validates.
    """
    if spec is not None:
        if spec.role != role or spec.name != name:
            raise ValueError(f"spec must be a {role} spec named '{name}', got {spec.role} "
                             f"'{spec.name}'")
    else:
        spec = _table(role).get(name) or FormatSpec(
            name, role, f"custom {'reader' if role == 'source' else 'writer'} "
            f"{implementation.__name__}", path="optional", table_name=True)
    return register_format(replace(spec, implementation=implementation), replace=True)


def unregister_format(name: str, role: Literal["source", "sink"]) -> None:
    """Undo registrations of `name`: a built-in format gets its built-in spec back."""
    builtin = _BUILTINS[role].get(name)
    if builtin is not None:
        _table(role)[name] = builtin
    else:
        _table(role).pop(name, None)


def implementation_of(spec: FormatSpec) -> Any:
    """The spec's reader/writer class, importing it on first use."""
    impl = spec.implementation
    if isinstance(impl, str):
        module, _, attr = impl.partition(":")
        impl = getattr(importlib.import_module(module), attr)
    return impl


def snapshot() -> tuple[dict[str, FormatSpec], dict[str, FormatSpec]]:
    """The registry's current content, for `restore` (test isolation)."""
    return dict(_SOURCES), dict(_SINKS)


def restore(saved: tuple[dict[str, FormatSpec], dict[str, FormatSpec]]) -> None:
    """Put back what `snapshot` returned, dropping every registration made since."""
    for table, content in zip((_SOURCES, _SINKS), saved, strict=True):
        table.clear()
        table.update(content)


def builtin_names() -> list[str]:
    """Every built-in format name, sources and sinks together, sorted."""
    return sorted(set(_BUILTINS["source"]) | set(_BUILTINS["sink"]))


def _table(role: str) -> dict[str, FormatSpec]:
    return _SOURCES if role == "source" else _SINKS


def sources() -> Mapping[str, FormatSpec]:
    return dict(sorted(_SOURCES.items()))


def sinks() -> Mapping[str, FormatSpec]:
    return dict(sorted(_SINKS.items()))


def source(name: str) -> FormatSpec | None:
    return _SOURCES.get(name)


def sink(name: str) -> FormatSpec | None:
    return _SINKS.get(name)


for _spec in (
    FormatSpec(
        "kafka", "source", "Kafka topics through Spark's Kafka connector",
        required_options=("kafka.bootstrap.servers",),
        exactly_one_of=(("subscribe", "subscribePattern", "assign"),),
        implementation="tauro_compile.streaming.readers:KafkaStreamingReader",
    ),
    FormatSpec(
        "delta", "source", "a Delta table read as a stream (appends only)",
        path="required", table_name=True, triggers=_NO_CONTINUOUS,
        implementation="tauro_compile.streaming.readers:DeltaStreamingReader",
    ),
    FormatSpec(
        "delta_stream", "source",
        "a Delta table's Change Data Feed (inserts, updates, deletes with _change_type)",
        path="required", table_name=True, triggers=_NO_CONTINUOUS,
        implementation="tauro_compile.streaming.readers:DeltaChangeFeedReader",
    ),
    FormatSpec(
        "file_stream", "source", "new files in a directory (json, csv, parquet, text)",
        path="required", triggers=_NO_CONTINUOUS,
        file_formats=("json", "csv", "parquet", "text", "orc"),
        implementation="tauro_compile.streaming.readers:FileStreamReader",
    ),
    FormatSpec("rate", "source", "generated rows (timestamp, value) for tests and demos",
               implementation="tauro_compile.streaming.readers:RateStreamReader"),
    FormatSpec(
        "socket", "source", "lines of text from a TCP socket (development only)",
        required_options=("host", "port"), triggers=ALL_TRIGGERS - {"available_now", "once"},
        implementation="tauro_compile.streaming.readers:SocketStreamReader",
    ),
    FormatSpec(
        "delta", "sink", "a Delta table: append, complete, or merge (upsert) via foreachBatch",
        path="required", table_name=True, output_modes=frozenset({"append", "complete", "update"}),
        triggers=_NO_CONTINUOUS, readable_downstream_as="delta",
        implementation="tauro_compile.streaming.writers:DeltaStreamingWriter",
    ),
    FormatSpec("console", "sink", "prints each micro-batch (debugging)",
               implementation="tauro_compile.streaming.writers:ConsoleStreamingWriter"),
    FormatSpec(
        "memory", "sink", "an in-memory table named by the query name (tests, notebooks)",
        output_modes=frozenset({"append", "complete"}), triggers=_NO_CONTINUOUS,
        implementation="tauro_compile.streaming.writers:MemoryStreamingWriter",
    ),
    FormatSpec(
        "kafka", "sink", "a Kafka topic (key/value columns, or a JSON value built from columns)",
        required_options=("kafka.bootstrap.servers",), readable_downstream_as="kafka",
        implementation="tauro_compile.streaming.writers:KafkaStreamingWriter",
    ),
    FormatSpec(
        "parquet", "sink", "parquet files (append only)", path="required",
        output_modes=frozenset({"append"}), triggers=_NO_CONTINUOUS,
        readable_downstream_as="file_stream",
        implementation="tauro_compile.streaming.writers:ParquetStreamingWriter",
    ),
    FormatSpec(
        "json", "sink", "JSON-lines files (append only)", path="required",
        output_modes=frozenset({"append"}), triggers=_NO_CONTINUOUS,
        readable_downstream_as="file_stream",
        implementation="tauro_compile.streaming.writers:JsonStreamingWriter",
    ),
    FormatSpec(
        "foreach_batch", "sink", "a user function called with (batch_df, batch_id)",
        triggers=_NO_CONTINUOUS,
        implementation="tauro_compile.streaming.writers:ForeachBatchStreamingWriter",
    ),
):
    register_format(_spec)

_BUILTINS: dict[str, dict[str, FormatSpec]] = {"source": dict(_SOURCES), "sink": dict(_SINKS)}
