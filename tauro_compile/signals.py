"""SIGINT and SIGTERM handled for the length of a block, the old handlers restored after it.

`tauro run` stops its queries on them and `tauro docs --serve` stops its server: both go
through `handled_stop_signals`, so both also work when the process was started with SIGINT
ignored (a background job of a script, nohup), where Python's own Ctrl-C handling is off.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def handled_stop_signals(handler: Callable[[int, Any], None]) -> Iterator[None]:
    """While active, SIGINT and SIGTERM call `handler(signum, frame)`. Only the main thread
    can set signal handlers: from another thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
