"""The streaming exception tree, create_error_context and handle_streaming_error (no Spark)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tauro_compile.errors import TauroError
from tauro_compile.streaming import (
    StreamingError,
    StreamingFormatNotSupportedError,
    StreamingPipelineError,
    StreamingQueryError,
    StreamingValidationError,
    create_error_context,
    handle_streaming_error,
)


def test_tree_and_exit_codes() -> None:
    for cls in (StreamingValidationError, StreamingFormatNotSupportedError,
                StreamingQueryError, StreamingPipelineError):
        assert issubclass(cls, StreamingError)
    assert issubclass(StreamingError, TauroError)
    assert StreamingError("x").exit_code == 1
    assert StreamingQueryError("x").exit_code == 1
    assert StreamingValidationError("x").exit_code == 2


def test_create_error_context_drops_none() -> None:
    ctx = create_error_context("read", "KafkaReader", node_name="n", path=None, extra=3)
    assert ctx == {"operation": "read", "component": "KafkaReader", "node_name": "n", "extra": 3}


class Reader:
    @handle_streaming_error
    def read(self, node_config: dict, pipeline_name: str | None = None) -> None:
        raise ValueError("disk on fire")

    @handle_streaming_error(StreamingQueryError)
    def start(self, node_config: dict) -> None:
        raise KeyError("k")

    @handle_streaming_error(StreamingQueryError)
    def validate(self, node_config: dict) -> None:
        raise StreamingValidationError("bad", context={"field": "input.format"})


def test_wraps_unexpected_errors_with_context_and_cause() -> None:
    with pytest.raises(StreamingError) as info:
        Reader().read({"name": "clicks"}, pipeline_name="p1")
    err = info.value
    assert type(err) is StreamingError
    assert isinstance(err.__cause__, ValueError)
    assert err.context["operation"] == "read"
    assert err.context["component"] == "Reader"
    assert err.context["node_name"] == "clicks"
    assert err.context["pipeline_name"] == "p1"
    assert err.context["error_type"] == "ValueError"
    assert "node 'clicks'" in err.message and "disk on fire" in err.message
    assert "ValueError: disk on fire" in err.get_full_traceback()


def test_wraps_into_the_chosen_kind() -> None:
    with pytest.raises(StreamingQueryError) as info:
        Reader().start({"name": "n"})
    assert isinstance(info.value.__cause__, KeyError)


def test_streaming_errors_pass_through_unchanged() -> None:
    with pytest.raises(StreamingValidationError) as info:
        Reader().validate({"name": "n"})
    assert info.value.context == {"field": "input.format"}
    assert info.value.__cause__ is None


def test_render_lists_context_and_hint() -> None:
    err = StreamingQueryError("node 'a' failed", context={"node_name": "a", "path": "/x"},
                              hint="create it")
    text = err.render()
    assert "path: /x" in text and "hint: create it" in text
    assert err.context["hint"] == "create it"


def test_importing_the_package_does_not_import_pyspark() -> None:
    code = ("import sys, tauro_compile.streaming as s; from tauro_compile.streaming import *; "
            "import tauro_compile.streaming.query_manager, tauro_compile.streaming.pipeline_manager; "
            "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'spark' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)
