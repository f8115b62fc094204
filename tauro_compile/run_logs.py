"""Where a run's logs go: one file per `tauro run` under `target/logs/` (or `--log-path`).

The terminal is Tauro's; the log file is Spark's (DESIGN.md section 8). One file per run,
`run-<YYYYmmdd-HHMMSS>.log`, holds:

- everything the driver JVM writes (log4j through the configuration shipped in
  `tauro_compile/resources/log4j2.properties`, root level WARN, and anything the JVM prints
  itself, e.g. `WARNING: Using incubator modules`): `launch_jvm` appends its stdout and stderr;
- the Python side's logging (pyspark, py4j, Tauro's own `tauro.*` loggers: the plan, every
  node state change and batch, and each failure's whole trace), at INFO and above.

The newest `KEEP_RUN_LOGS` run logs are kept; older `run-*.log` files are removed when a new
run starts. `-v/--verbose` also shows the file's WARN and ERROR records (Spark's and
pyspark's, not Tauro's own) on the terminal, read back from the file as they are written.

pyspark's structured loggers (`DataFrameQueryContextLogger`, `SQLQueryContextLogger`) print
JSON to stderr by themselves; while a run's logging is installed they write to the file only.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

KEEP_RUN_LOGS = 20
RUN_LOG_GLOB = "run-*.log"
DATE_FORMAT = "%y/%m/%d %H:%M:%S"
# The same shape as the log4j2 pattern (`%d{yy/MM/dd HH:mm:ss} %p %c{1}: %m`), so the
# follower reads Java and Python records alike.
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RECORD = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (?P<level>[A-Z]+) (?P<name>[^:\s]+): ")
_SHOWN_LEVELS = frozenset({"WARN", "WARNING", "ERROR", "FATAL", "CRITICAL"})
# pyspark loggers that add their own JSON handler on stderr.
PYSPARK_JSON_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")

log = logging.getLogger("tauro.run")


def new_run_log(directory: Path, clock: Callable[[], float] = time.time) -> Path:
    """Create (empty) this run's log file in `directory`; prune the oldest run logs."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(clock()))
    path = directory / f"run-{stamp}.log"
    suffix = 1
    while path.exists():
        suffix += 1
        path = directory / f"run-{stamp}-{suffix}.log"
    path.touch()
    prune_run_logs(directory, keep=KEEP_RUN_LOGS, current=path)
    return path


def prune_run_logs(directory: Path, *, keep: int, current: Path | None = None) -> list[Path]:
    """Remove all but the newest `keep` run logs (never `current`); the removed paths."""
    logs = sorted(directory.glob(RUN_LOG_GLOB), key=lambda p: (p.stat().st_mtime, p.name))
    removed = []
    for old in logs[: max(len(logs) - keep, 0)]:
        if current is not None and old == current:
            continue
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old)
    return removed


def is_shown_record(line: str) -> bool:
    """True for a WARN/ERROR record of Spark or pyspark (not Tauro's own) in a run log."""
    match = _RECORD.match(line)
    if not match:
        return False
    return match["level"] in _SHOWN_LEVELS and not match["name"].startswith("tauro")


class LogFollower:
    """Reads a log file as it grows and hands every WARN/ERROR record line to `emit`."""

    def __init__(self, path: Path, emit: Callable[[str], None], *, interval: float = 0.25,
                 from_start: bool = True) -> None:
        self.path = path
        self.emit = emit
        self.interval = interval
        self._offset = 0 if from_start else (path.stat().st_size if path.exists() else 0)
        self._partial = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tauro-log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop following, after a last read of what is already written."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                handle.seek(self._offset)
                chunk = handle.read()
                self._offset = handle.tell()
        except OSError:
            return
        if not chunk:
            return
        text = self._partial + chunk
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            if is_shown_record(line):
                with contextlib.suppress(Exception):  # a closed terminal must not kill the run
                    self.emit(line)


class SecretMask(logging.Filter):
    """Masks known secret values in every record the run log receives."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        from tauro_compile.streaming.secrets import mask_text

        if self.secrets:
            record.msg = mask_text(record.getMessage(), self.secrets)
            record.args = ()
            if record.exc_info:
                record.exc_text = mask_text(logging.Formatter().formatException(
                    record.exc_info), self.secrets)
                record.exc_info = None
        return True


@contextlib.contextmanager
def python_logging_to(path: Path, secrets: tuple[str, ...] = ()) -> Iterator[logging.Handler]:
    """While active: Python logging (root, INFO+) goes to `path`, none of it to the terminal.

    pyspark's JSON loggers lose their stderr handlers (they write to the file instead);
    py4j's chatty INFO is kept out; `secrets` are masked in every record. Everything is put
    back on exit.
    """
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LINE_FORMAT, DATE_FORMAT))
    handler.setLevel(logging.INFO)
    handler.addFilter(SecretMask(secrets))
    root = logging.getLogger()
    saved_root = (root.level, list(root.handlers))
    root.setLevel(logging.INFO)
    for existing in list(root.handlers):
        if _is_terminal_handler(existing):
            root.removeHandler(existing)
    root.addHandler(handler)
    py4j = logging.getLogger("py4j")
    saved_py4j = py4j.level
    py4j.setLevel(logging.WARNING)
    restored = _quiet_pyspark_json_loggers(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for existing in saved_root[1]:
            if existing not in root.handlers:
                root.addHandler(existing)
        root.setLevel(saved_root[0])
        py4j.setLevel(saved_py4j)
        for logger, handlers in restored:
            for h in list(logger.handlers):
                logger.removeHandler(h)
            for h in handlers:
                logging.Logger.addHandler(logger, h)
        handler.close()


def _is_terminal_handler(handler: logging.Handler) -> bool:
    stream = getattr(handler, "stream", None)
    return not isinstance(handler, logging.FileHandler) and stream is not None and bool(
        getattr(stream, "isatty", lambda: False)())


def _quiet_pyspark_json_loggers(
        handler: logging.Handler) -> list[tuple[logging.Logger, list[logging.Handler]]]:
    """Create pyspark's JSON loggers now (as pyspark would) and point them at the file."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pyspark missing: nothing of it can print
        return []
    restored = []
    for name in PYSPARK_JSON_LOGGERS:
        logger = PySparkLogger.getLogger(name)
        saved = list(logger.handlers)
        for h in saved:
            logger.removeHandler(h)
        # Logger.addHandler, not PySparkLogger's: keep the file's plain line format.
        logging.Logger.addHandler(logger, handler)
        logger.propagate = False
        restored.append((logger, saved))
    return restored


@dataclass(frozen=True)
class LogOptions:
    """How a command logs: `-v/--verbose`, `--log-format`, `--log-path` (default target/logs)."""

    verbose: bool = False
    log_format: str = "text"
    log_path: Path | None = None

    def directory(self, target_dir: Path) -> Path:
        return self.log_path if self.log_path is not None else target_dir / "logs"
