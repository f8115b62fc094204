"""The two small helpers the tasks share: how a path is shown, and SIGINT/SIGTERM for a block."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from tauro_compile.console import shown_path
from tauro_compile.signals import handled_stop_signals


def test_a_path_below_the_working_directory_is_shown_relative(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "target" / "manifest.json") == os.path.join("target",
                                                                             "manifest.json")
    assert shown_path(str(tmp_path / "run.log")) == "run.log"


def test_a_path_outside_the_working_directory_is_shown_as_given(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    outside = tmp_path / "elsewhere" / "run.log"
    assert shown_path(outside) == str(outside)


def test_a_path_through_a_symlink_to_the_working_directory_is_shown_relative(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.chdir(real)
    assert shown_path(tmp_path / "link" / "logs" / "run.log") == os.path.join("logs", "run.log")


def test_stop_signals_reach_the_handler_inside_the_block_only():
    seen: list[int] = []
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with handled_stop_signals(lambda signum, frame: seen.append(signum)):
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert seen == [signal.SIGTERM, signal.SIGINT]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_stop_signals_are_left_alone_from_another_thread():
    errors: list[BaseException] = []
    before = signal.getsignal(signal.SIGTERM)

    def body() -> None:
        try:
            with handled_stop_signals(lambda signum, frame: None):
                assert signal.getsignal(signal.SIGTERM) == before
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert errors == []
