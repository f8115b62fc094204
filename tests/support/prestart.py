"""Start the session's services (Kafka broker, standalone cluster, Connect server) in the
background as soon as collection shows a test will need them.

Each is a JVM that takes 5-30 s to come up, mostly CPU-bound on one core. Started by its
fixture, it would start when the first test that needs it runs, with the suite waiting; the
suite's first minutes are in-process compile tests that keep one core busy and leave the
other idle. Started from `pytest_collection_finish`, the start overlaps them and the fixture
only picks up the result. A start that fails fails every test that requests the fixture,
with the service's own error, exactly as a start inside the fixture would.

`TAURO_TEST_PRESTART=off` starts each service in its fixture instead (to time one alone).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any


class Prestart:
    """One service starting in a daemon thread; `result()` waits for it and returns it."""

    def __init__(self, name: str, start: Callable[[], Any]) -> None:
        self.name = name
        self._start = start
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"prestart-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._start()
        except BaseException as error:  # noqa: BLE001 - re-raised in the fixture by result()
            self._error = error

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class Prestarts:
    """The services started ahead of their fixtures, claimed once each."""

    def __init__(self) -> None:
        self._started: dict[str, Prestart] = {}

    @staticmethod
    def enabled() -> bool:
        return os.environ.get("TAURO_TEST_PRESTART", "on").lower() not in ("off", "0", "no")

    def start(self, name: str, start: Callable[[], Any]) -> None:
        self._started[name] = Prestart(name, start)

    def claim(self, name: str) -> Any | None:
        """The started service (waiting for its start to end), or None when none was started."""
        started = self._started.pop(name, None)
        return None if started is None else started.result()

    def stop_unclaimed(self) -> None:
        """Stop what was started but never claimed (every test needing it was skipped)."""
        while self._started:
            _, started = self._started.popitem()
            try:
                service = started.result()
            except BaseException:  # noqa: BLE001 - it never started: nothing to stop
                continue
            service.stop()
