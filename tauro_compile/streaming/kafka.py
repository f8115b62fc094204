"""Kafka for the streaming layer: pre-flight checks, and JSON values parsed with a schema.

`load_kafka_stream` is what the kafka reader runs: a pre-flight check of the brokers and
topics (`check_kafka`), Spark's Kafka source, then `parse_kafka_json` when `parse_json` is set.

What counts as "does not parse": an empty value, text that is not JSON, JSON that is not an
object (an array, a number), and an object with a field whose value does not fit its declared
type (`"id": "abc"` for `id BIGINT`, a number too large).
Missing fields and extra fields parse (missing ones are null). Spark's corrupt-record column
(`columnNameOfCorruptRecord`) finds them: on Spark 4, `from_json` in PERMISSIVE mode returns a
struct of nulls for text that is not JSON, and a null struct only for null or empty values.
A record whose value is null (a tombstone, the deletion marker of a compacted topic) is not
a parse error: it becomes a row whose JSON columns are null (with `include_metadata`, its
key says what was deleted), except with `drop`, which keeps parsed records only.

What happens to such a record (`on_parse_error`):

- `fail`: the micro-batch fails with an error naming the node, topic, partition and offset,
  why the record does not parse, and how the value starts;
- `drop`: the record is dropped;
- `dead_letter`: the record stays in the stream with its JSON columns null and the internal
  column `__tauro_dead_letter` set to what the dead-letter sink needs (raw key and value,
  topic, partition, offset, Kafka timestamp, headers when read, the error); the node's
  foreachBatch stage (`streaming.dead_letter`) splits each batch into good rows (written to
  the output) and dead letters. Transforms run on the stream before that split, so they see
  bad records as rows whose JSON columns are null: a transform must keep the internal column
  (`SELECT *, ...`, `withColumn`) and should not filter on JSON columns, or the bad records
  it drops never reach the dead-letter sink.

In every mode each batch counts its records in the query progress: `observedMetrics` has
`{"tauro_kafka_parse": {"records": n, "good": g, "bad": b, "tombstones": t}}` (the
observation also keeps the optimizer from parsing each value twice).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming.exceptions import (
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
)
from tauro_compile.streaming.formats import is_secret_key
from tauro_compile.streaming.kafka_wire import metadata_topics, server_address, speaks_kafka
from tauro_compile.streaming.secrets import mask_text
from tauro_compile.streaming.spark_options import spark_options

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamReader
    from pyspark.sql.types import StructType

    from tauro_compile.streaming.config import InputConfig

log = logging.getLogger(__name__)

METADATA_COLUMNS = ("key", "topic", "partition", "offset", "timestamp")
HEADERS_COLUMN = "headers"
INTERNAL_PREFIX = "__tauro_"
CORRUPT_COLUMN = "__tauro_corrupt_record"
DEAD_LETTER_COLUMN = "__tauro_dead_letter"
PARSE_METRIC = "tauro_kafka_parse"
PARSE_ERROR_MODES = ("fail", "drop", "dead_letter")
_PARSED = "__tauro_parsed"
_SAMPLE_CHARS = 200
# Pre-flight: a connection and a Kafka request per bootstrap server (plus, with SSL or SASL,
# one AdminClient listTopics call).
CONNECT_TIMEOUT_S = 5.0
ADMIN_TIMEOUT_S = 15.0


def is_internal_column(name: str) -> bool:
    """True for Tauro's own columns (`__tauro_...`), which never reach a sink."""
    return name.startswith(INTERNAL_PREFIX)


# ----------------------------------------------------------------------------- reading

def load_kafka_stream(spark: SparkSession, reader: DataStreamReader, inp: InputConfig,
                      node_name: str) -> DataFrame:
    """The node's Kafka stream: pre-flight check, Spark's Kafka source, JSON parsing if asked."""
    check_kafka(spark, spark_options(inp.options, node_name=node_name, field="input.options"),
                node_name, role="input")
    df = reader.format("kafka").load()
    if not inp.parse_json:
        return df
    return parse_kafka_json(df, inp.json_schema, inp.on_parse_error, inp.include_metadata,
                            node_name=node_name)


def to_struct_type(schema: Any, *, node_name: str | None = None) -> StructType:
    """A StructType from a StructType, a DDL string, or Spark's JSON schema (str or dict)."""
    from pyspark.sql.types import StructType

    if isinstance(schema, StructType):
        return schema
    try:
        if isinstance(schema, dict):
            return StructType.fromJson(schema)
        if isinstance(schema, str):
            text = schema.strip()
            if text.startswith("{"):
                return StructType.fromJson(json.loads(text))
            parsed = StructType.fromDDL(text)
            if isinstance(parsed, StructType):
                return parsed
    except Exception as exc:
        raise _schema_error(schema, node_name, str(exc)) from exc
    raise _schema_error(schema, node_name, f"got {type(schema).__name__}")


def parse_kafka_json(df: DataFrame, schema: Any, on_parse_error: str = "fail",
                     include_metadata: bool = False, *, node_name: str | None = None) -> DataFrame:
    """Kafka rows -> the columns of `schema` parsed from `value` (+ Kafka metadata if asked).

    The `headers` column (option `includeHeaders: true`) is kept whenever the source has it.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    node = node_name or "?"
    struct = to_struct_type(schema, node_name=node_name)
    _check_mode(on_parse_error, node_name)
    keep_meta = [c for c in METADATA_COLUMNS if c in df.columns] if include_metadata else []
    if HEADERS_COLUMN in df.columns:
        keep_meta.append(HEADERS_COLUMN)
    clashes = sorted(set(struct.fieldNames()) & set(keep_meta))
    if clashes:
        raise StreamingValidationError(
            f"node '{node}': json_schema fields {clashes} clash with the Kafka metadata columns "
            "kept by include_metadata/includeHeaders",
            context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                         field="input.json_schema",
                                         expected=f"no field named {', '.join(keep_meta)}",
                                         actual=", ".join(clashes)),
            hint="rename the JSON fields, or set include_metadata: false",
        )

    # A new StructType: `add` would change the caller's schema in place.
    with_corrupt = StructType([*struct.fields, StructField(CORRUPT_COLUMN, StringType())])
    parsed = F.col(_PARSED)
    tombstone = F.col("value").isNull()
    bad = ~tombstone & (parsed.isNull() | parsed.getField(CORRUPT_COLUMN).isNotNull())
    good = ~tombstone & ~bad
    # The observation sits between the parse and everything reading it: a filter is not pushed
    # through it, so `from_json` runs once per record instead of once per reference.
    df = (df.withColumn(_PARSED, F.from_json(F.col("value").cast("string"), with_corrupt,
                                             {"columnNameOfCorruptRecord": CORRUPT_COLUMN}))
          .observe(PARSE_METRIC, F.count(F.lit(1)).alias("records"),
                   F.count_if(good).alias("good"), F.count_if(bad).alias("bad"),
                   F.count_if(tombstone).alias("tombstones")))
    if on_parse_error == "fail":
        df = df.filter(F.when(bad, F.raise_error(_failure_text(node, struct, df.columns)))
                       .otherwise(F.lit(True)))
    elif on_parse_error == "drop":
        df = df.filter(good)
    meta = [F.col("key").cast("string").alias("key") if c == "key" else F.col(c)
            for c in keep_meta]
    columns = meta + [parsed.getField(name).alias(name) for name in struct.fieldNames()]
    if on_parse_error == "dead_letter":
        columns.append(F.when(bad, dead_letter_record(df, struct)).alias(DEAD_LETTER_COLUMN))
    return df.select(*columns)


def parse_error_text(struct: StructType) -> Column:
    """Why a record does not parse (evaluate only for bad records: it parses the value again)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    value = F.col("value").cast("string")
    typed = F.col(_PARSED)
    # Every field read as text: a field that is text here but null in the typed parse has a
    # value its declared type cannot hold. The lambda binds that parse once (an expression
    # repeated per field would parse the value once per field, and compile a larger plan).
    as_text = StructType([StructField(f.name, StringType()) for f in struct.fields]
                         + [StructField(CORRUPT_COLUMN, StringType())])
    texts = F.from_json(value, as_text, {"columnNameOfCorruptRecord": CORRUPT_COLUMN})

    def reason(text: Column) -> Column:
        misfits = [
            F.when(typed.getField(f.name).isNull() & text.getField(f.name).isNotNull(),
                   F.concat(F.lit(f"{f.name} ({f.dataType.simpleString().upper()}) got "),
                            F.substring(text.getField(f.name), 1, 60)))
            for f in struct.fields]
        fields = F.concat_ws("; ", *misfits) if misfits else F.lit("")
        return (F.when(text.getField(CORRUPT_COLUMN).isNotNull(),
                       F.when(F.get_json_object(value, "$").isNull(),
                              F.lit("value is not valid JSON"))
                       .otherwise(F.lit("value is JSON but not an object")))
                .when(fields != "", F.concat(F.lit("fields do not fit json_schema: "), fields))
                .otherwise(F.lit("value does not fit json_schema")))

    return (F.when(F.trim(value) == "", F.lit("value is empty"))
            .otherwise(F.transform(F.array(texts), reason).getItem(0)))


def dead_letter_record(df: DataFrame, struct: StructType) -> Column:
    """The dead-letter struct of a record (raw key/value, where it was, why it failed)."""
    from pyspark.sql import functions as F

    def maybe(name: str, cast: str) -> Column:
        return F.col(name).cast(cast) if name in df.columns else F.lit(None).cast(cast)

    fields = [maybe("topic", "string").alias("topic"), maybe("partition", "int").alias("partition"),
              maybe("offset", "bigint").alias("offset"),
              maybe("timestamp", "timestamp").alias("kafka_timestamp"),
              maybe("key", "string").alias("key"), maybe("value", "string").alias("value")]
    if HEADERS_COLUMN in df.columns:
        fields.append(F.col(HEADERS_COLUMN).alias("headers"))
    fields.append(parse_error_text(struct).alias("error"))
    return F.struct(*fields)


def _failure_text(node: str, struct: StructType, columns: list[str]) -> Column:
    """The error of a record that does not parse: where it is, why, and how it starts."""
    from pyspark.sql import functions as F

    where = [F.lit(f"node '{node}': a Kafka record does not parse with the declared json_schema")]
    if {"topic", "partition", "offset"} <= set(columns):
        where += [F.lit(" (topic "), F.col("topic"), F.lit(", partition "),
                  F.col("partition").cast("string"), F.lit(", offset "),
                  F.col("offset").cast("string"), F.lit(")")]
    where += [F.lit(": "), parse_error_text(struct), F.lit("; value starts with: "),
              F.substring(F.col("value").cast("string"), 1, _SAMPLE_CHARS),
              F.lit(". Fix the producer or json_schema, or set on_parse_error: drop or "
                    "dead_letter")]
    return F.concat(*where)


def _check_mode(on_parse_error: str, node_name: str | None) -> None:
    if on_parse_error not in PARSE_ERROR_MODES:
        raise StreamingValidationError(
            f"node '{node_name or '?'}': unknown on_parse_error '{on_parse_error}'",
            context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                         field="input.on_parse_error",
                                         expected=", ".join(PARSE_ERROR_MODES),
                                         actual=on_parse_error),
            hint=did_you_mean(on_parse_error, PARSE_ERROR_MODES),
        )


def _schema_error(schema: Any, node_name: str | None, reason: str) -> StreamingValidationError:
    shown = schema if isinstance(schema, str) else type(schema).__name__
    return StreamingValidationError(
        f"node '{node_name or '?'}': json_schema cannot be used as a Spark schema ({reason})",
        context=create_error_context("parse_kafka_json", "kafka", node_name=node_name,
                                     field="input.json_schema",
                                     expected="a DDL string ('id BIGINT, name STRING') or a "
                                              "StructType",
                                     actual=str(shown)[:120]),
    )


# ----------------------------------------------------------------------------- pre-flight

def check_kafka(spark: SparkSession, options: Mapping[str, str], node_name: str, *,
                role: str = "input", field: str | None = None,
                timeout: float = ADMIN_TIMEOUT_S) -> set[str]:
    """Fail fast, with the node and the servers named, when Kafka cannot serve this node.

    `options` are the resolved Spark options of the input or output. Checks, each bounded in
    time: a connection to the bootstrap servers (any one answering is enough) and the list of
    topics, in which every topic named by `subscribe`, `assign` or (for an output) `topic` must
    be. `subscribePattern` is not checked: matching topics may appear later. Over PLAINTEXT the
    topics come from one Kafka Metadata request sent from Python (milliseconds, no JVM work);
    with SSL or SASL, from Kafka's AdminClient in the driver JVM (the kafka-clients jar Spark
    loads), with the `kafka.*` security options. `field` names the options in errors
    (default `<role>.options`). Returns the topic names the broker listed.
    """
    field = field or f"{role}.options"
    servers = str(options.get("kafka.bootstrap.servers") or "")
    protocol = str(options.get("kafka.security.protocol") or "PLAINTEXT").upper()
    topics = _probe_servers(servers, protocol, node_name, field)
    if topics is None:
        secrets = tuple(v for k, v in options.items() if is_secret_key(k) and v)
        topics = _list_topics(spark, options, node_name, field, timeout, secrets)
    if topics is None:
        return set()
    for wanted, key in wanted_topics(options, role):
        missing = [t for t in wanted if t not in topics]
        if missing:
            shown = sorted(t for t in topics if not t.startswith("__"))
            raise StreamingQueryError(
                f"node '{node_name}': Kafka topic {', '.join(repr(t) for t in missing)} does not "
                f"exist on {servers}",
                context=create_error_context("check_kafka", "kafka", node_name=node_name,
                                             field=f"{field}.{key}", bootstrap_servers=servers,
                                             expected="an existing topic",
                                             actual=", ".join(missing)),
                hint=did_you_mean(missing[0], shown)
                or (f"existing topics: {', '.join(shown[:20])}" if shown else
                    "the broker has no topics yet")
                + "; create the topic first (kafka-topics.sh --create --topic ...)",
            )
    return topics


def wanted_topics(options: Mapping[str, str], role: str) -> list[tuple[list[str], str]]:
    """The topic names the options require to exist, with the option key naming them."""
    out: list[tuple[list[str], str]] = []
    if role == "output":
        if options.get("topic"):
            out.append(([str(options["topic"])], "topic"))
        return out
    if options.get("subscribe"):
        out.append(([t.strip() for t in str(options["subscribe"]).split(",") if t.strip()],
                    "subscribe"))
    if options.get("assign"):
        try:
            assigned = json.loads(str(options["assign"]))
        except ValueError:
            assigned = {}
        if isinstance(assigned, dict):
            out.append((sorted(assigned), "assign"))
    return out


def _probe_servers(servers: str, protocol: str, node_name: str, field: str) -> set[str] | None:
    """Raise unless a bootstrap server answers; over PLAINTEXT, return its topic names.

    Over PLAINTEXT a Metadata request, over SASL_PLAINTEXT an ApiVersions request, checks the
    port is a Kafka listener: a port that is not can answer with bytes the Java client reads
    as a huge size and dies of OutOfMemoryError in the driver. Over SSL only the TCP
    connection is checked (None: the AdminClient lists the topics).
    """
    reasons: list[str] = []
    for server in [s.strip() for s in servers.split(",") if s.strip()]:
        try:
            with socket.create_connection(server_address(server),
                                          timeout=CONNECT_TIMEOUT_S) as sock:
                if protocol == "PLAINTEXT":
                    topics = metadata_topics(sock)
                    if topics is not None:
                        return topics
                elif protocol != "SASL_PLAINTEXT" or speaks_kafka(sock):
                    return None
                reasons.append(f"{server}: answers, but not as a Kafka broker")
        except ValueError:
            reasons.append(f"{server}: not host:port")
        except TimeoutError:
            reasons.append(f"{server}: no answer within {CONNECT_TIMEOUT_S:g} s")
        except OSError as exc:
            reasons.append(f"{server}: {exc.strerror or exc}")
    raise StreamingQueryError(
        f"node '{node_name}': cannot reach the Kafka bootstrap servers {servers or '(none)'} "
        f"({'; '.join(reasons) or 'no server given'})",
        context=create_error_context("check_kafka", "kafka", node_name=node_name,
                                     field=f"{field}.kafka.bootstrap.servers",
                                     bootstrap_servers=servers,
                                     expected="a reachable Kafka broker (host:port)",
                                     actual="; ".join(reasons) or "nothing"),
        hint=broker_hint(),
        cause=ConnectionError("; ".join(reasons)),
    )


def broker_hint() -> str:
    """How to get a broker there: `make kafka` only inside a Tauro checkout, where it exists."""
    from tauro_compile.environment import checkout_dir

    fix = "or fix kafka.bootstrap.servers in the node (or the variable it reads)"
    checkout = checkout_dir()
    if checkout is not None:
        return f"start the broker (in {checkout}: `make kafka` runs one on 127.0.0.1:9092) {fix}"
    return ("start the broker (a local one: `docker run -d -p 9092:9092 apache/kafka:3.9.1`, "
            f"see the kafka-to-delta template's README) {fix}")


def _list_topics(spark: SparkSession, options: Mapping[str, str], node_name: str, field: str,
                 timeout: float, secrets: tuple[str, ...]) -> set[str] | None:
    """Topic names from Kafka's AdminClient in the driver JVM; None when it cannot be used."""
    servers = str(options.get("kafka.bootstrap.servers") or "")
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        log.warning("node %s: over Spark Connect the Kafka topics are not listed before the "
                    "query starts (with SSL or SASL that needs Kafka's AdminClient in a driver "
                    "JVM); a broker at %s answered", node_name, servers)
        return None
    try:
        jvm = spark._jvm  # type: ignore[attr-defined]
        props = jvm.java.util.Properties()
        for key, value in options.items():
            if key.startswith("kafka.") and value is not None:
                props.setProperty(key[len("kafka."):], str(value))
        millis = str(int(timeout * 1000))
        props.setProperty("request.timeout.ms", millis)
        props.setProperty("default.api.timeout.ms", millis)
        props.setProperty("client.id", f"tauro-preflight-{node_name}")
        admin_cls = jvm.org.apache.kafka.clients.admin.AdminClient
    except Exception as exc:  # no JVM access: Spark reports later
        log.warning("node %s: Kafka pre-flight skipped: %s", node_name, type(exc).__name__)
        return None
    admin = None
    try:
        admin = admin_cls.create(props)
        names = admin.listTopics().names().get(int(timeout) + 1,
                                               jvm.java.util.concurrent.TimeUnit.SECONDS)
        return {str(n) for n in names}
    except Exception as exc:
        text = mask_text(_java_message(exc), secrets)
        raise StreamingQueryError(
            f"node '{node_name}': the Kafka brokers at {servers} did not list topics within "
            f"{timeout:g} s: {text}",
            context=create_error_context("check_kafka", "kafka", node_name=node_name,
                                         field=f"{field}.kafka.bootstrap.servers",
                                         bootstrap_servers=servers),
            hint="the port answers but Kafka does not: check kafka.security.protocol, the SASL "
                 "settings and that the port is a Kafka listener",
            cause=RuntimeError(text),
        ) from None
    finally:
        if admin is not None:
            try:
                admin.close(jvm.java.time.Duration.ofSeconds(2))
            except Exception:  # closing a failed client must not hide the real error
                log.debug("node %s: closing the pre-flight AdminClient failed", node_name)


def _java_message(exc: BaseException) -> str:
    """The root cause of a Java exception raised through py4j, in one line."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            cause = java
            while cause.getCause() is not None:
                cause = cause.getCause()
            return f"{cause.getClass().getSimpleName()}: {cause.getMessage()}"
        except Exception:  # a broken py4j object: fall back to the Python text
            log.debug("cannot read the Java cause", exc_info=True)
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
