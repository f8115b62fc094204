"""What a check learnt from the file system, recorded so it can be asked again later.

The compiler's checks of `module:function` references and contract files look at files
beyond the project's node files (a module on `sys.path`, a contract under
`contract_paths`, whether a package is installed). Each look goes through `FileProbes`,
which answers it and remembers the question with its answer. `tauro compile`'s cache (see
`compiler/compile_cache.py`) asks every recorded question again with `evaluate`: any
different answer means the compile must run again. Answers hold no file content, only
sha256 digests, booleans and file names.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

Probe = tuple[str, str]


class FileProbes:
    """Answers file-system questions and records each with its answer."""

    def __init__(self) -> None:
        self.seen: dict[Probe, object] = {}

    def _ask(self, kind: str, subject: str) -> object:
        key = (kind, subject)
        if key not in self.seen:
            self.seen[key] = evaluate(kind, subject)
        return self.seen[key]

    def is_file(self, path: Path | str) -> bool:
        return self._ask("is_file", str(path)) is True

    def is_dir(self, path: Path | str) -> bool:
        return self._ask("is_dir", str(path)) is True

    def exists(self, path: Path | str) -> bool:
        return self._ask("exists", str(path)) is True

    def listdir(self, path: Path | str) -> list[str]:
        """Sorted entry names of a directory (empty when it is not one)."""
        return list(self._ask("listdir", str(path)))  # type: ignore[call-overload]

    def content(self, path: Path | str) -> None:
        """Record the digest of the file's bytes; call it *before* reading the file, so that
        a change made while the check reads it is seen as a change next time."""
        self._ask("content", str(path))

    def find_spec(self, top: str) -> bool:
        """Whether the top-level module `top` is importable (nothing is imported)."""
        return self._ask("find_spec", top) is True

    def records(self) -> list[tuple[str, str, object]]:
        """Every question asked, with its answer, in a stable order."""
        return sorted((kind, subject, answer) for (kind, subject), answer in self.seen.items())


def evaluate(kind: str, subject: str) -> object:
    """The answer to one question now (JSON-friendly: bool, str, None or list of str)."""
    if kind == "is_file":
        return os.path.isfile(subject)
    if kind == "is_dir":
        return os.path.isdir(subject)
    if kind == "exists":
        return os.path.exists(subject)
    if kind == "listdir":
        try:
            return sorted(os.listdir(subject))
        except OSError:
            return []
    if kind == "content":
        try:
            with open(subject, "rb") as handle:
                return _digest(handle.read())
        except OSError:
            return None
    if kind == "find_spec":
        try:
            return importlib.util.find_spec(subject) is not None
        except (ImportError, ValueError):
            return False
    raise ValueError(f"unknown probe kind {kind!r}")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
