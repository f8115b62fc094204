"""Tauro's streaming layer: the public API for running streaming nodes on Spark.

    from tauro_compile.streaming import StreamingQueryManager
    query = StreamingQueryManager({"spark": spark, "checkpoint_root": "/chk"}) \\
        .create_and_start_query(node_config, execution_id, pipeline_name)

Names are exported lazily: importing this package imports neither pyspark nor the Spark-facing
modules, so the compiler can use `tauro_compile.streaming.config` without starting a JVM.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "StreamingQueryManager": "query_manager",
    "StreamingPipelineManager": "pipeline_manager",
    "StreamingValidator": "validators",
    "StreamingReaderFactory": "readers",
    "StreamingWriterFactory": "writers",
    "BaseStreamingReader": "readers",
    "BaseStreamingWriter": "writers",
    "MicroBatchWriter": "batch_writer",
    "BatchContext": "batch_writer",
    "BatchStage": "batch_writer",
    "register_stage_factory": "batch_writer",
    "StreamingError": "exceptions",
    "StreamingValidationError": "exceptions",
    "StreamingFormatNotSupportedError": "exceptions",
    "StreamingQueryError": "exceptions",
    "StreamingPipelineError": "exceptions",
    "handle_streaming_error": "exceptions",
    "create_error_context": "exceptions",
    "StreamingFormat": "constants",
    "StreamingTrigger": "constants",
    "StreamingOutputMode": "constants",
    "PipelineType": "constants",
    "DEFAULT_STREAMING_CONFIG": "constants",
    "NodeConfig": "config",
}

__all__ = [
    "BaseStreamingReader",
    "BaseStreamingWriter",
    "BatchContext",
    "BatchStage",
    "DEFAULT_STREAMING_CONFIG",
    "MicroBatchWriter",
    "NodeConfig",
    "PipelineType",
    "StreamingError",
    "StreamingFormat",
    "StreamingFormatNotSupportedError",
    "StreamingOutputMode",
    "StreamingPipelineError",
    "StreamingPipelineManager",
    "StreamingQueryError",
    "StreamingQueryManager",
    "StreamingReaderFactory",
    "StreamingTrigger",
    "StreamingValidationError",
    "StreamingValidator",
    "StreamingWriterFactory",
    "create_error_context",
    "handle_streaming_error",
    "register_stage_factory",
]

if TYPE_CHECKING:
    from tauro_compile.streaming.batch_writer import (
        BatchContext,
        BatchStage,
        MicroBatchWriter,
        register_stage_factory,
    )
    from tauro_compile.streaming.config import NodeConfig
    from tauro_compile.streaming.constants import (
        DEFAULT_STREAMING_CONFIG,
        PipelineType,
        StreamingFormat,
        StreamingOutputMode,
        StreamingTrigger,
    )
    from tauro_compile.streaming.exceptions import (
        StreamingError,
        StreamingFormatNotSupportedError,
        StreamingPipelineError,
        StreamingQueryError,
        StreamingValidationError,
        create_error_context,
        handle_streaming_error,
    )
    from tauro_compile.streaming.pipeline_manager import StreamingPipelineManager
    from tauro_compile.streaming.query_manager import StreamingQueryManager
    from tauro_compile.streaming.readers import BaseStreamingReader, StreamingReaderFactory
    from tauro_compile.streaming.validators import StreamingValidator
    from tauro_compile.streaming.writers import BaseStreamingWriter, StreamingWriterFactory


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
