"""Enums and defaults of the streaming layer (public names kept from tauro.streaming)."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tauro_compile.streaming import formats

StreamingFormat = StrEnum(  # type: ignore[misc]
    "StreamingFormat", {name.upper(): name for name in formats.builtin_names()}, module=__name__
)
StreamingFormat.__doc__ = (
    "Built-in source and sink formats, derived from the format registry (`formats`)."
)


class StreamingTrigger(StrEnum):
    """How often a query runs a micro-batch."""

    PROCESSING_TIME = "processing_time"
    ONCE = "once"
    AVAILABLE_NOW = "available_now"
    CONTINUOUS = "continuous"

    @property
    def bounded(self) -> bool:
        """True when a query with this trigger ends by itself once the input is consumed."""
        return self in (StreamingTrigger.ONCE, StreamingTrigger.AVAILABLE_NOW)


class StreamingOutputMode(StrEnum):
    """Which rows of the result table a micro-batch writes."""

    APPEND = "append"
    COMPLETE = "complete"
    UPDATE = "update"


class PipelineType(StrEnum):
    STREAMING = "streaming"
    HYBRID = "hybrid"


DEFAULT_TRIGGER: dict[str, Any] = {"type": "processing_time", "interval": "10 seconds"}

DEFAULT_STREAMING_CONFIG: MappingProxyType[str, Any] = MappingProxyType(
    {
        "trigger": DEFAULT_TRIGGER,
        "output_mode": StreamingOutputMode.APPEND.value,
        "query_name": None,
        "checkpoint_location": None,
        "options": {},
    }
)
