"""The suite's background start of its services (tests/support/prestart.py)."""

from __future__ import annotations

import threading

import pytest
from support.prestart import Prestarts


class Service:
    def __init__(self) -> None:
        self.stopped = False
        self.thread = threading.current_thread().name

    def stop(self) -> None:
        self.stopped = True


def test_a_claimed_service_started_in_another_thread_and_is_claimed_once() -> None:
    prestarts = Prestarts()
    prestarts.start("svc", Service)
    service = prestarts.claim("svc")
    assert isinstance(service, Service) and service.thread == "prestart-svc"
    assert prestarts.claim("svc") is None  # the fixture starts its own if asked again
    prestarts.stop_unclaimed()
    assert not service.stopped  # its fixture owns it now


def test_a_failed_start_raises_its_own_error_where_it_is_claimed() -> None:
    def broken() -> Service:
        raise RuntimeError("broker exited with 1 while starting")

    prestarts = Prestarts()
    prestarts.start("svc", broken)
    with pytest.raises(RuntimeError, match="exited with 1 while starting"):
        prestarts.claim("svc")


def test_what_no_test_claimed_is_stopped_at_the_end_and_a_failed_one_is_skipped() -> None:
    started: list[Service] = []

    def start() -> Service:
        started.append(Service())
        return started[-1]

    def broken() -> Service:
        raise RuntimeError("no")

    prestarts = Prestarts()
    prestarts.start("a", start)
    prestarts.start("b", broken)
    prestarts.stop_unclaimed()
    assert [s.stopped for s in started] == [True]
    assert prestarts.claim("a") is None


@pytest.mark.parametrize(("value", "enabled"), [(None, True), ("off", False), ("0", False),
                                                ("on", True)])
def test_prestart_can_be_turned_off(monkeypatch, value, enabled) -> None:
    if value is None:
        monkeypatch.delenv("TAURO_TEST_PRESTART", raising=False)
    else:
        monkeypatch.setenv("TAURO_TEST_PRESTART", value)
    assert Prestarts.enabled() is enabled
