"""Where user-facing output goes: rich on a terminal, plain lines in pipes/CI, captured in tests.

Library code never prints; it is handed a Console. `JsonConsole` (`--log-format json`) writes
each of Tauro's lines as one JSON object (`ts`, `level`, `msg`, and for run events `event`
and its fields), so a log shipper reads the terminal without parsing text.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, TextIO


def shown_path(path: Path | str) -> str:
    """`path` as a message shows it: relative to the working directory when below it (shorter
    to read; also when only its resolved form is, the working directory being a symlink's
    target), else as given."""
    for candidate in (path, os.path.realpath(path)):
        try:
            relative = os.path.relpath(candidate)
        except ValueError:  # another drive (Windows)
            continue
        if not relative.startswith(".."):
            return relative
    return str(path)


class Console(Protocol):
    """What tasks and the runner may use to talk to the user."""

    is_terminal: bool

    def out(self, text: str = "") -> None: ...
    def err(self, text: str) -> None: ...
    def json(self, data: Any) -> None: ...
    def renderable(self, obj: Any, fallback: str) -> None: ...
    def event(self, name: str, text: str, **fields: Any) -> None: ...
    def status(self, text: str) -> contextlib.AbstractContextManager[None]: ...


class PlainConsole:
    """Plain text to stdout/stderr: for pipes, CI logs and `--output json`."""

    is_terminal = False

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self._stdout = stdout
        self._stderr = stderr

    @property
    def stdout(self) -> TextIO:
        return self._stdout or sys.stdout

    @property
    def stderr(self) -> TextIO:
        return self._stderr or sys.stderr

    def out(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def err(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def json(self, data: Any) -> None:
        self.out(json.dumps(data, indent=2, sort_keys=False, default=str))

    def renderable(self, obj: Any, fallback: str) -> None:
        self.out(fallback)

    def event(self, name: str, text: str, **fields: Any) -> None:
        """A run event (state change, batch, ...): its text here; JSON consoles add fields."""
        self.out(text)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        """Something slow is happening (a spinner on a terminal, one line elsewhere)."""
        self.out(text)
        yield


class JsonConsole(PlainConsole):
    """One JSON object per line (`--log-format json`): Tauro's lines for machines."""

    def _record(self, stream: TextIO, level: str, text: str, **fields: Any) -> None:
        doc = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "level": level, "msg": text, **fields}
        stream.write(json.dumps(doc, default=str) + "\n")
        stream.flush()

    def out(self, text: str = "") -> None:
        if text.strip():
            self._record(self.stdout, "info", text)

    def err(self, text: str) -> None:
        self._record(self.stderr, "error", text)

    def json(self, data: Any) -> None:
        self._record(self.stdout, "info", "", data=data)

    def event(self, name: str, text: str, **fields: Any) -> None:
        self._record(self.stdout, "info", text, event=name, **fields)


class RichConsole(PlainConsole):
    """Colours, tables and live displays when stdout is a terminal."""

    is_terminal = True

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console as _Rich

        self.rich = _Rich(highlight=False, soft_wrap=True)
        self.rich_err = _Rich(stderr=True, highlight=False, soft_wrap=True)

    def out(self, text: str = "") -> None:
        self.rich.print(text, markup=False)

    def err(self, text: str) -> None:
        self.rich_err.print(text, style="red", markup=False)

    def renderable(self, obj: Any, fallback: str) -> None:
        self.rich.print(obj)

    @contextlib.contextmanager
    def status(self, text: str) -> Iterator[None]:
        with self.rich.status(text):
            yield


class CaptureConsole(PlainConsole):
    """Keeps everything in memory; for tests."""

    def __init__(self) -> None:
        import io

        self.out_buffer = io.StringIO()
        self.err_buffer = io.StringIO()
        super().__init__(self.out_buffer, self.err_buffer)

    @property
    def output(self) -> str:
        return self.out_buffer.getvalue()

    @property
    def errors(self) -> str:
        return self.err_buffer.getvalue()


def default_console(*, plain: bool = False) -> Console:
    """Rich when stdout is a TTY (and not forced plain), else plain."""
    if not plain and sys.stdout.isatty():
        return RichConsole()
    return PlainConsole()


class MaskingConsole:
    """A console that masks known secret values (and placeholders) in every text it prints.

    Run-time errors can carry a value that came from a secret (a path or a server built from
    a secret-named `env_var()`); the run prints through this wrapper. Rich renderables (the
    live table on a terminal) are drawn by their owner, which masks its free text with `mask`;
    their plain fallback is masked here.
    """

    def __init__(self, inner: Any, secrets: tuple[str, ...]) -> None:
        from tauro_compile.streaming.secrets import mask_text

        self._inner = inner
        self._mask = lambda text: _mask_cut_prefixes(mask_text(text, secrets), secrets)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def mask(self, text: str) -> str:
        """`text` as this console would print it (for what is drawn around it: the live table)."""
        return self._mask(text)

    def out(self, text: str = "") -> None:
        self._inner.out(self._mask(text))

    def err(self, text: str) -> None:
        self._inner.err(self._mask(text))

    def json(self, data: Any) -> None:
        from tauro_compile.streaming.secrets import mask_structure

        self._inner.json(mask_structure(data))

    def renderable(self, obj: Any, fallback: str) -> None:
        self._inner.renderable(obj, self._mask(fallback))

    def event(self, name: str, text: str, **fields: Any) -> None:
        masked = {k: self._mask(v) if isinstance(v, str) else v for k, v in fields.items()}
        self._inner.event(name, self._mask(text), **masked)


def _mask_cut_prefixes(text: str, secrets: tuple[str, ...], shortest: int = 10) -> str:
    """Mask the start of a secret that a table cell or an excerpt cut off (`runtime-pl...`).

    A prefix counts only where the text stops there (end, whitespace, `.` or `…`), so a
    secret's first letters inside ordinary words are left alone; at least `shortest` of them.
    """
    for secret in secrets:
        if len(secret) < shortest + 2:
            continue
        start = text.find(secret[:shortest])
        while start >= 0:
            end = start + shortest
            while end < len(text) and end - start < len(secret) and \
                    text[end] == secret[end - start]:
                end += 1
            if end == len(text) or text[end] in " \t\n.\u2026":
                text = text[:start] + "***" + text[end:]
                end = start + 3
            start = text.find(secret[:shortest], end)
    return text
