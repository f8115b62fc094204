"""The run lock: one `tauro run` at a time per checkpoint root, held beside the checkpoints.

Where: `<profile paths.checkpoints>/.tauro/run.lock` (without `paths.checkpoints`, the
common parent of the nodes' checkpoint directories). Every process that shares those
checkpoints sees the same lock, whichever project folder or machine it runs from
(DESIGN.md §8). Node names cannot start with a dot, so `.tauro` never clashes with a
node's checkpoint directory. Two profiles or projects sharing one checkpoint root share
the lock too: they would share checkpoints, which is exactly what must not run twice.

How: the lock file is created with `O_CREAT | O_EXCL` (atomic on a local or network POSIX
file system: exactly one creator wins). It holds the holder (pid, host, start time,
command, project, profile, run id) and a heartbeat the holder rewrites every few seconds
(write a temporary file, then rename over the lock). A lock is stale when its holder is
on this host and its pid is gone, or when its heartbeat is older than `STALE_AFTER_SECONDS`
(any host); a new run takes a stale lock over by renaming it away (only one renamer can
succeed) and creating its own, and says so. A holder that finds its lock rewritten by
another run has lost it and stops its queries.

Object stores (`s3a://`, `abfss://`, `gs://`) have no atomic create-if-absent through this
path, so the lock is then kept in `target/.tauro/` of the project folder and protects only
runs started from that folder; `RunLock.shared` is False and the run says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tauro_compile.errors import EXIT_INVALID, TauroError

LOCK_FILE = "run.lock"
STOP_REQUEST_FILE = "stop.request"
STATE_DIR_NAME = ".tauro"
LOCK_VERSION = 1
HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):/")


def iso(ts: float | None) -> str | None:
    """An epoch time as ISO 8601 UTC with milliseconds, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds")


def from_iso(text: str | None) -> float | None:
    """The epoch seconds of an ISO 8601 time written by `iso`, or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class RunLockedError(TauroError):
    """Another run holds the lock of these checkpoints: refused before Spark starts."""

    exit_code = EXIT_INVALID


@dataclass(frozen=True)
class LockHolder:
    """Who holds a run lock, and when it last said it was alive."""

    pid: int
    host: str
    started_at: str
    command: str
    project: str
    profile: str
    run_id: str
    project_dir: str
    heartbeat_at: str
    version: int = LOCK_VERSION
    driver_pid: int | None = None
    metrics_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LockHolder:
        known = {k: data.get(k) for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def describe(self) -> str:
        """`pid 123 on host-a since 2025-01-01T10:00:00Z (tauro run --profile prod)`."""
        return (f"pid {self.pid} on {self.host} since {self.started_at}, project "
                f"'{self.project}' profile '{self.profile}' ({self.command})")

    def heartbeat_age(self, now: float) -> float | None:
        beat = from_iso(self.heartbeat_at)
        return None if beat is None else max(now - beat, 0.0)


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def staleness(holder: LockHolder, now: float, stale_after: float = STALE_AFTER_SECONDS,
              host: str | None = None) -> str | None:
    """Why `holder` no longer holds its lock (pid gone, heartbeat too old), or None if alive."""
    host = host or socket.gethostname()
    if holder.host == host and not pid_alive(holder.pid):
        return f"its process (pid {holder.pid} on {holder.host}) is gone"
    age = holder.heartbeat_age(now)
    if age is None or age > stale_after:
        shown = "never" if age is None else f"{age:.0f}s ago"
        return f"its last heartbeat was {shown} (more than {stale_after:.0f}s)"
    return None


def state_dir_for(checkpoint_root: str | None, checkpoints: list[str],
                  target_dir: Path) -> tuple[Path, bool]:
    """The directory holding run state, and whether it is shared (beside the checkpoints)."""
    root = checkpoint_root
    if not root and checkpoints:
        parents = [c.rstrip("/").rsplit("/", 1)[0] or "/" for c in checkpoints]
        root = parents[0] if len(set(parents)) == 1 else _common_parent(parents)
    if root:
        match = _URI.match(root)
        if match is None:
            return Path(root) / STATE_DIR_NAME, True
        if match.group(1).lower() == "file":
            return Path(re.sub(r"^file:/+", "/", root)) / STATE_DIR_NAME, True
    return Path(target_dir) / STATE_DIR_NAME, False


def _common_parent(paths: list[str]) -> str | None:
    if any(_URI.match(p) for p in paths):
        return paths[0]
    try:
        return os.path.commonpath(paths)
    except ValueError:
        return None


def read_holder(state_dir: Path) -> LockHolder | None:
    """The lock's holder, or None when nobody holds it (or the file is unreadable)."""
    path = Path(state_dir) / LOCK_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        return LockHolder.from_dict(data)
    except TypeError:
        return None


def current_command() -> str:
    """The command line of this process, as the user typed it (program name shortened)."""
    args = list(sys.argv)
    if args and args[0].endswith(("tauro", "__main__.py")):
        args[0] = "tauro"
    return " ".join(args)


class RunLock:
    """The lock of one run: acquire (or refuse), heartbeat, release."""

    def __init__(self, state_dir: Path, *, shared: bool, project: str, profile: str,
                 project_dir: str, run_id: str | None = None, command: str | None = None,
                 stale_after: float = STALE_AFTER_SECONDS) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LOCK_FILE
        self.shared = shared
        self.stale_after = stale_after
        now = time.time()
        self.holder = LockHolder(
            pid=os.getpid(), host=socket.gethostname(), started_at=iso(now) or "",
            command=command or current_command(), project=project, profile=profile,
            run_id=run_id or uuid.uuid4().hex, project_dir=project_dir,
            heartbeat_at=iso(now) or "")
        self.taken_over: tuple[LockHolder, str] | None = None
        self.held = False

    def acquire(self) -> None:
        """Take the lock, taking a stale one over; RunLockedError when a live run holds it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            if self._create():
                self.held = True
                self.clear_stop_request()
                return
            holder = read_holder(self.state_dir)
            if holder is None:
                # Being written right now, or unreadable garbage: look again, then treat
                # garbage older than the stale bound as stale.
                time.sleep(0.2)
                if read_holder(self.state_dir) is None and self._older_than_bound():
                    self._move_aside()
                continue
            why = staleness(holder, time.time(), self.stale_after)
            if why is None:
                raise RunLockedError(
                    f"another run of these checkpoints is in progress: {holder.describe()}",
                    hint=f"lock {self.path}; see it with `tauro status`, stop it with "
                         "`tauro stop`, or wait for it to end")
            if self._move_aside():
                self.taken_over = (holder, why)
        raise RunLockedError(f"could not take the run lock {self.path}: it keeps changing",
                             hint="another run is starting right now; try again")

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.holder.to_dict(), fh, indent=2)
            fh.write("\n")
        return True

    def _older_than_bound(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime > self.stale_after
        except OSError:
            return False

    def _move_aside(self) -> bool:
        """Rename the lock away (one process wins), then delete the moved copy."""
        aside = self.state_dir / f".{LOCK_FILE}.stale-{uuid.uuid4().hex}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False
        aside.unlink(missing_ok=True)
        return True

    def update(self, **changes: Any) -> None:
        """Record more about the holder (driver pid, metrics URL); written at the next beat."""
        self.holder = LockHolder(**{**self.holder.to_dict(), **changes})

    def heartbeat(self) -> bool:
        """Rewrite the heartbeat; False when the lock now belongs to someone else (lost)."""
        if not self.held:
            return False
        current = read_holder(self.state_dir)
        if current is not None and current.run_id != self.holder.run_id:
            self.held = False
            return False
        self.update(heartbeat_at=iso(time.time()))
        fd, tmp = tempfile.mkstemp(prefix=".run.lock.", dir=self.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.holder.to_dict(), fh, indent=2)
                fh.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if not self.held:
            return
        self.held = False
        current = read_holder(self.state_dir)
        if current is None or current.run_id == self.holder.run_id:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.clear_stop_request()

    # -- stop requests (`tauro stop`) ------------------------------------------------------
    def stop_requested(self) -> dict[str, Any] | None:
        """The pending stop request for this run, if `tauro stop` wrote one."""
        request = read_stop_request(self.state_dir)
        if request is None or request.get("run_id") not in (None, self.holder.run_id):
            return None
        return request

    def clear_stop_request(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.state_dir / STOP_REQUEST_FILE).unlink()


def write_stop_request(state_dir: Path, run_id: str, *, by: str) -> Path:
    """Ask the run `run_id` to stop cleanly (the holder checks every second)."""
    path = Path(state_dir) / STOP_REQUEST_FILE
    doc = {"run_id": run_id, "requested_at": iso(time.time()), "by": by}
    fd, tmp = tempfile.mkstemp(prefix=".stop.", dir=state_dir)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, path)
    return path


def read_stop_request(state_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(state_dir) / STOP_REQUEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
