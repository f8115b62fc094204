"""The run lock beside the checkpoints: refuse a live holder, take a stale one over, heartbeat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tauro_compile.errors import EXIT_INVALID
from tauro_compile.runner.lock import (
    LOCK_FILE,
    RunLock,
    RunLockedError,
    iso,
    read_holder,
    state_dir_for,
    write_stop_request,
)


def _lock(state: Path, **kw) -> RunLock:
    return RunLock(state, shared=True, project="p", profile="dev", project_dir="/proj",
                   command="tauro run", **kw)


def test_lock_lives_beside_the_checkpoints(tmp_path: Path) -> None:
    target = tmp_path / "target"
    assert state_dir_for(str(tmp_path / "chk"), [], target) == (tmp_path / "chk" / ".tauro", True)
    assert state_dir_for("file:///data/chk", [], target) == (Path("/data/chk/.tauro"), True)
    # without paths.checkpoints: the common parent of the nodes' checkpoints
    assert state_dir_for(None, ["/d/chk/a", "/d/chk/b"], target) == (Path("/d/chk/.tauro"), True)
    # an object store: kept in target/, and said to be unshared
    assert state_dir_for("s3a://bucket/chk", [], target) == (target / ".tauro", False)


def test_a_live_holder_refuses_a_second_run_naming_it(tmp_path: Path) -> None:
    first = _lock(tmp_path)
    first.acquire()
    with pytest.raises(RunLockedError) as err:
        _lock(tmp_path).acquire()
    assert err.value.exit_code == EXIT_INVALID == 2
    text = err.value.render()
    assert f"pid {os.getpid()}" in text and "project 'p' profile 'dev'" in text
    assert "(tauro run)" in text and "tauro stop" in text
    first.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_a_lock_whose_pid_is_gone_is_taken_over(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = _lock(tmp_path)
    stale.holder = type(stale.holder)(**{**stale.holder.to_dict(), "pid": int(dead.stdout)})
    stale.acquire()
    new = _lock(tmp_path)
    new.acquire()
    assert new.taken_over is not None
    assert new.taken_over[0].pid == int(dead.stdout)
    assert "is gone" in new.taken_over[1]
    assert read_holder(tmp_path).run_id == new.holder.run_id
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_FILE]   # the stale copy is removed


def test_a_lock_on_another_host_is_stale_only_after_its_heartbeat_bound(tmp_path: Path) -> None:
    other = _lock(tmp_path)
    data = {**other.holder.to_dict(), "host": "elsewhere", "heartbeat_at": iso(time.time() - 30)}
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps(data))
    with pytest.raises(RunLockedError):
        _lock(tmp_path, stale_after=60).acquire()
    taker = _lock(tmp_path, stale_after=10)
    taker.acquire()
    assert "last heartbeat was 30s ago" in taker.taken_over[1]


def test_heartbeat_rewrites_and_detects_a_lost_lock(tmp_path: Path) -> None:
    mine = _lock(tmp_path)
    mine.acquire()
    before = read_holder(tmp_path).heartbeat_at
    time.sleep(0.01)
    mine.update(driver_pid=4321)
    assert mine.heartbeat() is True
    holder = read_holder(tmp_path)
    assert holder.heartbeat_at > before and holder.driver_pid == 4321
    # another run took it over (e.g. after a long pause of this one)
    tmp_path.joinpath(LOCK_FILE).write_text(json.dumps({**holder.to_dict(), "run_id": "other"}))
    assert mine.heartbeat() is False
    mine.release()                                   # never removes another run's lock
    assert read_holder(tmp_path).run_id == "other"


def test_stop_requests_are_for_one_run(tmp_path: Path) -> None:
    mine = _lock(tmp_path)
    mine.acquire()
    write_stop_request(tmp_path, "someone-else", by="me")
    assert mine.stop_requested() is None
    write_stop_request(tmp_path, mine.holder.run_id, by="pid 1 on h")
    assert mine.stop_requested()["by"] == "pid 1 on h"
    mine.release()
    assert mine.stop_requested() is None
