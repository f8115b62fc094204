"""MicroBatchWriter's batch cache with fakes (no JVM): uncompressed while the batch runs, the
session's setting back as it was after it, and a setting of the user's left alone."""

from __future__ import annotations

from typing import Any

import pytest

from tauro_compile.streaming.batch_writer import (
    CACHE_COMPRESSED_CONF,
    BatchContext,
    MicroBatchWriter,
)
from tauro_compile.streaming.config import NodeConfig

NODE = NodeConfig.model_validate({"name": "orders", "input": {"format": "rate"},
                                  "output": {"format": "delta", "path": "/tmp/unused"}})


class FakeConf:
    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    def get(self, key: str, default: Any = None) -> str | None:
        return self.settings.get(key, default)

    def set(self, key: str, value: str) -> None:
        self.settings[key] = value

    def unset(self, key: str) -> None:
        self.settings.pop(key, None)


class FakeSession:
    def __init__(self, settings: dict[str, str]) -> None:
        self.conf = FakeConf(settings)


class FakeFrame:
    """A batch whose cache records the compression setting it was built under."""

    def __init__(self, session: FakeSession) -> None:
        self.sparkSession = session
        self.events: list[str] = []

    def persist(self) -> None:
        self.events.append(f"persist compressed={self.sparkSession.conf.get(CACHE_COMPRESSED_CONF)}")

    def unpersist(self) -> None:
        self.events.append("unpersist")


class Sink:
    def __init__(self) -> None:
        self.seen: list[str | None] = []

    def write(self, df: Any, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        self.seen.append(df.sparkSession.conf.get(CACHE_COMPRESSED_CONF))
        return {"committed": True, "rows": 1}


class ReadsTwice:
    """A stage that reads the batch before the write (so the writer caches it)."""

    def process(self, batch: BatchContext) -> None:
        pass


class Fails:
    def process(self, batch: BatchContext) -> None:
        raise RuntimeError("stage failed")


def run(settings: dict[str, str], stage: Any = None) -> tuple[FakeFrame, Sink]:
    sink = Sink()
    writer = MicroBatchWriter(NODE, sink, unique_id="p.orders", stages=[stage or ReadsTwice()])
    frame = FakeFrame(FakeSession(settings))
    writer(frame, 0)
    return frame, sink


def test_the_cached_batch_is_uncompressed_and_the_setting_is_unset_after_the_batch():
    settings: dict[str, str] = {}
    frame, sink = run(settings)
    assert frame.events == ["persist compressed=false", "unpersist"]
    assert sink.seen == ["false"]
    assert CACHE_COMPRESSED_CONF not in settings


def test_a_compression_setting_of_the_user_is_left_alone():
    settings = {CACHE_COMPRESSED_CONF: "true"}
    frame, _ = run(settings)
    assert frame.events == ["persist compressed=true", "unpersist"]
    assert settings == {CACHE_COMPRESSED_CONF: "true"}


def test_the_setting_comes_back_when_the_batch_fails():
    settings: dict[str, str] = {}
    with pytest.raises(RuntimeError, match="stage failed"):
        run(settings, Fails())
    assert CACHE_COMPRESSED_CONF not in settings
