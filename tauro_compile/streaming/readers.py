"""Streaming readers, one per source format of the registry, and the factory that picks one.

A reader turns an `InputConfig` into a streaming DataFrame. Checks that need Spark (does the
input path exist, is Change Data Feed enabled) run here, before any query starts, and fail
with a `StreamingQueryError` naming the node, the path and what to do.

Watermark: when `input.watermark` is declared, `withWatermark` is applied right after reading,
before any transform, because that is where the user declared it: the event-time column must
be one of the input's columns. (A watermark on a column computed by a transform belongs in
that transform.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from tauro_compile.errors import did_you_mean
from tauro_compile.streaming import file_parse, storage
from tauro_compile.streaming.config import InputConfig, NodeConfig, WatermarkConfig
from tauro_compile.streaming.context import spark_from_context
from tauro_compile.streaming.durations import parse_duration
from tauro_compile.streaming.exceptions import (
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
)
from tauro_compile.streaming.factory import RegistryFactory
from tauro_compile.streaming.kafka import load_kafka_stream
from tauro_compile.streaming.spark_options import is_true, spark_options

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import DataStreamReader


class BaseStreamingReader(ABC):
    """Reads one source format; subclasses implement `load`, `read` adds the watermark."""

    format_name: ClassVar[str] = ""

    def __init__(self, context: Any) -> None:
        self.context = context

    @property
    def spark(self) -> SparkSession:
        return spark_from_context(self.context)

    def read(self, node_config_or_input: NodeConfig | InputConfig | Mapping[str, Any], **kw: Any) -> DataFrame:
        """The input as a streaming DataFrame (watermark applied when declared).

        Accepts a NodeConfig, an InputConfig, or a dict of either; `node_name=` names the node
        in errors when only an input is given.
        """
        inp, node_name = _as_input(node_config_or_input, kw.pop("node_name", None))
        df = self.load(inp, node_name, **kw)
        if inp.watermark is not None:
            df = _with_watermark(df, inp.watermark, node_name)
        return df

    @abstractmethod
    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        """The raw streaming DataFrame of this source."""

    def stream_reader(self, inp: InputConfig, node_name: str) -> DataStreamReader:
        """`spark.readStream` with the input's options (secrets resolved just now)."""
        return self.spark.readStream.options(**spark_options(inp.options, node_name=node_name,
                                                             field="input.options"))


class KafkaStreamingReader(BaseStreamingReader):
    """Kafka topics (brokers and topics checked first); `parse_json` makes JSON fields columns."""

    format_name = "kafka"

    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        return load_kafka_stream(self.spark, self.stream_reader(inp, node_name), inp, node_name)


class DeltaStreamingReader(BaseStreamingReader):
    """A Delta table read as a stream of appended rows (path or catalog table)."""

    format_name = "delta"

    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        self.require_table(inp, node_name)
        reader = self.stream_reader(inp, node_name).format("delta")
        return reader.table(inp.table_name) if inp.table_name else reader.load(inp.path)

    def require_table(self, inp: InputConfig, node_name: str) -> None:
        if storage.is_delta_table(self.spark, path=inp.path, table_name=inp.table_name):
            return
        where = inp.table_name or inp.path
        raise StreamingQueryError(
            f"node '{node_name}': input Delta table {where} does not exist",
            context=create_error_context("read", type(self).__name__, node_name=node_name,
                                         field="input.table_name" if inp.table_name else "input.path",
                                         path=inp.path, table=inp.table_name),
            hint="check the path (or table name); if an upstream node creates this table, run it "
                 "first, or create the table before starting this node",
        )


class DeltaChangeFeedReader(DeltaStreamingReader):
    """A Delta table's Change Data Feed: every insert, update and delete, with `_change_type`.

    `readChangeFeed` is set for the user; `startingVersion` / `startingTimestamp` and other
    options pass through. The rows carry `_change_type` (insert, update_preimage,
    update_postimage, delete), `_commit_version` and `_commit_timestamp`.
    """

    format_name = "delta_stream"

    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        self.require_table(inp, node_name)
        props = storage.delta_properties(self.spark, path=inp.path, table_name=inp.table_name)
        if not is_true(props.get("delta.enableChangeDataFeed", "false")):
            where = inp.table_name or f"delta.`{inp.path}`"
            raise StreamingQueryError(
                f"node '{node_name}': Change Data Feed is not enabled on {inp.table_name or inp.path}",
                context=create_error_context("read", type(self).__name__, node_name=node_name,
                                             field="input.path", path=inp.path, table=inp.table_name,
                                             expected="delta.enableChangeDataFeed = true",
                                             actual=props.get("delta.enableChangeDataFeed")),
                hint=f"run ALTER TABLE {where} SET TBLPROPERTIES (delta.enableChangeDataFeed = "
                     "true); changes are readable from the version after that",
            )
        reader = self.stream_reader(inp, node_name).format("delta").option("readChangeFeed", "true")
        return reader.table(inp.table_name) if inp.table_name else reader.load(inp.path)


class FileStreamReader(BaseStreamingReader):
    """New files in a directory (json, csv, parquet, text, orc), with a declared schema."""

    format_name = "file_stream"

    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        path = inp.path or ""
        if not storage.path_exists(self.spark, path):
            raise StreamingQueryError(
                f"node '{node_name}': input directory {path} does not exist",
                context=create_error_context("read", type(self).__name__, node_name=node_name,
                                             field="input.path", path=path),
                hint="create the directory (it may start empty: new files are picked up as they "
                     "arrive) or fix input.path",
            )
        reader = self.stream_reader(inp, node_name).format(inp.file_format or "")
        if file_parse.handles(inp):
            return file_parse.load_parsed_files(reader, inp, node_name, path)
        if inp.schema_:
            reader = reader.schema(inp.schema_)
        elif inp.file_format in ("parquet", "orc"):
            reader = reader.schema(self._stored_schema(inp, node_name))
        return reader.load(path)

    def _stored_schema(self, inp: InputConfig, node_name: str) -> Any:
        """The schema parquet/orc files carry, read from the files already there."""
        try:
            schema = self.spark.read.format(inp.file_format or "").load(inp.path).schema
        except Exception as exc:
            schema, error = None, exc
        else:
            error = None
        if schema is None or not schema.fields:
            raise StreamingQueryError(
                f"node '{node_name}': cannot take the schema of {inp.file_format} files from "
                f"{inp.path}: {str(error).splitlines()[0] if error else 'no files yet'}",
                context=create_error_context("read", type(self).__name__, node_name=node_name,
                                             field="input.schema", path=inp.path),
                hint="declare input.schema (a DDL string) when the directory may start empty",
            )
        return schema


class RateStreamReader(BaseStreamingReader):
    """Generated `timestamp, value` rows (tests and demos)."""

    format_name = "rate"

    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        return self.stream_reader(inp, node_name).format("rate").load()


class SocketStreamReader(BaseStreamingReader):
    """Lines of text from a TCP socket (development only)."""

    format_name = "socket"

    def load(self, inp: InputConfig, node_name: str, **kw: Any) -> DataFrame:
        return self.stream_reader(inp, node_name).format("socket").load()


class StreamingReaderFactory(RegistryFactory):
    """Creates readers by format name from the format registry; `register` adds one to it."""

    role = "source"
    kind = "reader"
    field = "input.format"


def _as_input(value: Any, node_name: str | None) -> tuple[InputConfig, str]:
    if isinstance(value, NodeConfig):
        return value.input, node_name or value.name
    if isinstance(value, InputConfig):
        return value, node_name or "?"
    if isinstance(value, Mapping):
        if "input" in value:
            node = NodeConfig.model_validate(dict(value))
            return node.input, node_name or node.name
        return InputConfig.model_validate(dict(value)), node_name or "?"
    raise StreamingValidationError(
        f"cannot read from a {type(value).__name__}",
        context=create_error_context("read", "BaseStreamingReader", field="input",
                                     expected="a NodeConfig, InputConfig or dict",
                                     actual=type(value).__name__),
    )


def _with_watermark(df: DataFrame, watermark: WatermarkConfig, node_name: str) -> DataFrame:
    if watermark.column not in df.columns:
        raise StreamingValidationError(
            f"node '{node_name}': watermark column '{watermark.column}' is not a column of the input",
            context=create_error_context("read", "BaseStreamingReader", node_name=node_name,
                                         field="input.watermark.column",
                                         expected=f"one of: {', '.join(df.columns)}",
                                         actual=watermark.column),
            hint=did_you_mean(watermark.column, df.columns)
            or "declare the watermark on an input column (a computed column needs its own "
               "withWatermark in a transform)",
        )
    delay = parse_duration(watermark.delay, maximum=None).spark()
    return df.withWatermark(watermark.column, delay)
