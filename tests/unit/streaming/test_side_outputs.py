"""MicroBatchWriter's side outputs with fake sinks (no JVM): which are written alongside the
main write (`alongside=True`, as the contract's quarantine), which after it, and how a
failure of either ends the batch."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tauro_compile.streaming import batch_writer
from tauro_compile.streaming.batch_writer import BatchContext, MicroBatchWriter
from tauro_compile.streaming.config import NodeConfig, OutputConfig

NODE = NodeConfig.model_validate({"name": "orders", "input": {"format": "rate"},
                                  "output": {"format": "delta", "path": "/tmp/unused"}})
SIDE = OutputConfig(format="delta", path="/tmp/side")
WAIT = 10.0  # seconds a fake write waits for the other one before it gives up


class FakeSession:
    """A classic (not Connect) session as far as the writer asks."""


class FakeFrame:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sparkSession = FakeSession()


class Sink:
    """A fake sink: records the order of events; `wait_for` makes it wait for an event."""

    def __init__(self, log: list[str], label: str, *, wait_for: threading.Event | None = None,
                 started: threading.Event | None = None, fail: bool = False) -> None:
        self.log, self.label = log, label
        self.wait_for, self.started, self.fail = wait_for, started, fail

    def write(self, df: Any, batch_id: int, txn_app_id: str) -> dict[str, Any]:
        self.log.append(f"{self.label} start {txn_app_id}")
        if self.started is not None:
            self.started.set()
        if self.wait_for is not None and not self.wait_for.wait(WAIT):
            self.log.append(f"{self.label} gave up waiting")
        if self.fail:
            raise RuntimeError(f"{self.label} failed")
        self.log.append(f"{self.label} end")
        return {"target": self.label, "committed": True, "rows": 1}


class AddSide:
    manages_cache = True  # the fake frame cannot be persisted

    def __init__(self, when: Any = None, alongside: bool = True) -> None:
        self.when, self.alongside = when, alongside

    def process(self, batch: BatchContext) -> None:
        batch.add_side_output(SIDE, FakeFrame("side"), "quarantine", when=self.when,
                              alongside=self.alongside)


def run_batch(monkeypatch, main: Sink, side: Sink, stage: AddSide) -> dict[str, Any]:
    monkeypatch.setattr(batch_writer, "side_output_sink", lambda output, mode, node: side)
    seen: dict[str, Any] = {}
    writer = MicroBatchWriter(NODE, main, unique_id="p.orders", stages=[stage],
                              on_batch=lambda name, batch_id, info: seen.update(info))
    writer(FakeFrame("batch"), 3)
    return seen


def test_a_side_output_marked_alongside_is_written_in_parallel_with_the_main_write(monkeypatch):
    log: list[str] = []
    side_started = threading.Event()
    # The main write only ends once the side write has started: written one after the
    # other, the main write would give up waiting first.
    main = Sink(log, "main", wait_for=side_started)
    side = Sink(log, "side", started=side_started)
    info = run_batch(monkeypatch, main, side, AddSide())
    assert "main gave up waiting" not in log
    assert "side start p.orders:quarantine" in log and log[-1] in ("main end", "side end")
    assert info["outputs"]["quarantine"]["target"] == "side"
    assert info["rows_written"] == 2


@pytest.mark.parametrize("alongside", [False, True])
def test_a_side_output_with_a_condition_waits_for_the_main_write(monkeypatch, alongside):
    log: list[str] = []
    asked: list[list[str]] = []
    stage = AddSide(when=lambda: asked.append(list(log)) or True, alongside=alongside)
    run_batch(monkeypatch, Sink(log, "main"), Sink(log, "side"), stage)
    assert asked == [["main start p.orders", "main end"]]
    assert log == ["main start p.orders", "main end", "side start p.orders:quarantine",
                   "side end"]


def test_a_failed_side_write_fails_the_batch_after_the_main_write_ended(monkeypatch):
    log: list[str] = []
    with pytest.raises(RuntimeError, match="side failed"):
        run_batch(monkeypatch, Sink(log, "main"), Sink(log, "side", fail=True), AddSide())
    assert "main end" in log


def test_a_failed_main_write_waits_for_the_side_write_before_it_fails(monkeypatch):
    log: list[str] = []
    main_started = threading.Event()
    main = Sink(log, "main", started=main_started, fail=True)
    side = Sink(log, "side", wait_for=main_started)
    with pytest.raises(RuntimeError, match="main failed"):
        run_batch(monkeypatch, main, side, AddSide())
    assert log[-1] == "side end"  # nothing of the batch still running when it fails


def test_over_spark_connect_side_outputs_follow_the_main_write(monkeypatch):
    monkeypatch.setattr(batch_writer, "is_connect_session", lambda spark: True)
    log: list[str] = []
    run_batch(monkeypatch, Sink(log, "main"), Sink(log, "side"), AddSide())
    assert log == ["main start p.orders", "main end", "side start p.orders:quarantine",
                   "side end"]


def test_a_side_output_not_marked_alongside_follows_the_main_write(monkeypatch):
    """Its rows may read a batch cached but not filled yet: in parallel, that batch would be
    computed twice (a Kafka batch fetched twice)."""
    log: list[str] = []
    run_batch(monkeypatch, Sink(log, "main"), Sink(log, "side"), AddSide(alongside=False))
    assert log == ["main start p.orders", "main end", "side start p.orders:quarantine",
                   "side end"]
