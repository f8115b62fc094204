"""One format registry: the enum, the factories, the JSON schema and the validator derive from it.

Fast (no JVM): this is the guard that used to be a Spark-marked test `make test-fast` skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tauro_compile.streaming import (
    BaseStreamingReader,
    BaseStreamingWriter,
    StreamingFormat,
    StreamingReaderFactory,
    StreamingValidator,
    StreamingWriterFactory,
    formats,
)
from tauro_compile.streaming.batch_writer import (
    register_stage_factory,
    stage_factories,
    unregister_stage_factory,
)
from tauro_compile.tasks.schema import node_file_schema


def test_the_enum_lists_exactly_the_built_in_formats() -> None:
    assert sorted(f.value for f in StreamingFormat) == formats.builtin_names()
    assert set(formats.builtin_names()) == set(formats.sources()) | set(formats.sinks())


@pytest.mark.parametrize(("role", "base"), [("source", BaseStreamingReader),
                                            ("sink", BaseStreamingWriter)])
def test_every_built_in_spec_names_an_implementation_of_its_format(role, base) -> None:
    specs = formats.sources() if role == "source" else formats.sinks()
    for name, spec in specs.items():
        assert isinstance(spec.implementation, str), name  # lazy: compile imports no pyspark
        cls = formats.implementation_of(spec)
        assert issubclass(cls, base) and cls.format_name == name


def test_factories_and_schema_offer_what_the_registry_holds() -> None:
    assert StreamingReaderFactory.supported_formats() == sorted(formats.sources())
    assert StreamingWriterFactory.supported_formats() == sorted(formats.sinks())
    text = json.dumps(node_file_schema())
    for name in formats.builtin_names():
        assert f'"{name}"' in text


def test_registering_feeds_validation_and_unregistering_undoes_it() -> None:
    class RangeReader(BaseStreamingReader):
        format_name = "range_test"

        def load(self, inp, node_name, **kw):  # pragma: no cover - never started here
            raise AssertionError

    node = {"name": "n", "input": {"format": "range_test"}, "output": {"format": "console"}}
    validator = StreamingValidator(format_policy=None)
    with pytest.raises(Exception, match="range_test"):
        validator.validate_streaming_node_config(node)
    StreamingReaderFactory.register("range_test", RangeReader)
    try:
        validator.validate_streaming_node_config(node)
        assert isinstance(StreamingReaderFactory.create("range_test", {"spark": None}),
                          RangeReader)
    finally:
        StreamingReaderFactory.unregister("range_test")
    assert formats.source("range_test") is None
    assert "range_test" not in StreamingReaderFactory.supported_formats()


def test_replacing_a_built_in_and_unregistering_brings_the_built_in_back() -> None:
    builtin = formats.source("rate")

    class MyRate(BaseStreamingReader):
        format_name = "rate"

        def load(self, inp, node_name, **kw):  # pragma: no cover
            raise AssertionError

    StreamingReaderFactory.register("rate", MyRate)
    assert formats.source("rate").implementation is MyRate
    assert formats.source("rate").triggers == builtin.triggers  # the spec is kept
    StreamingReaderFactory.unregister("rate")
    assert formats.source("rate") == builtin


def test_batch_stages_run_in_an_explicit_documented_order() -> None:
    assert stage_factories()[:2] == [("dead_letter", 100), ("contract", 200)]
    register_stage_factory("audit", lambda node, context: [])
    register_stage_factory("early", lambda node, context: [], order=50)
    try:
        assert [name for name, _ in stage_factories()] == ["early", "dead_letter", "contract",
                                                           "audit"]
    finally:
        unregister_stage_factory("audit")
        unregister_stage_factory("early")
    assert [name for name, _ in stage_factories()] == ["dead_letter", "contract"]


def test_importing_the_streaming_api_and_the_registry_imports_no_pyspark() -> None:
    code = ("import sys; from tauro_compile.streaming import StreamingFormat, formats; "
            "from tauro_compile.streaming.batch_writer import stage_factories; "
            "stage_factories(); print('pyspark' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
