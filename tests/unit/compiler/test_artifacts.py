"""Masking of compiled (rendered) YAML."""

from __future__ import annotations

import pytest

from tauro_compile.compiler import artifacts
from tauro_compile.compiler.artifacts import Precreator, mask_rendered, write_compiled


def test_mask_rendered_keeps_lines_and_masks_secrets():
    text = (
        "output:\n"
        "  options:\n"
        "    kafka.sasl.jaas.config: 'module required password=abc;'\n"
        "    kafka.bootstrap.servers: host:9092\n"
        "    password: ${secret:PW}\n"
        "    inline: {token: tok-123, user: bob, 'api_key': \"k1\"}\n"
        "    plain: uses env-secret-value here\n"
    )
    masked = mask_rendered(text, ("env-secret-value",))
    lines = masked.splitlines()
    assert len(lines) == len(text.splitlines())
    assert lines[2] == '    kafka.sasl.jaas.config: "***"'
    assert lines[3] == "    kafka.bootstrap.servers: host:9092"
    assert lines[4] == "    password: ***"
    assert "tok-123" not in lines[5] and "k1" not in lines[5] and "user: bob" in lines[5]
    assert lines[6] == "    plain: uses *** here"


def test_write_compiled_cleans_only_on_request(tmp_path):
    write_compiled(tmp_path, {"a": "x: 1\n", "b": "y: 2\n"}, clean=True)
    write_compiled(tmp_path, {"a": "x: 3\n"}, clean=False)
    assert sorted(p.name for p in (tmp_path / "compiled").iterdir()) == ["a.yml", "b.yml"]
    assert (tmp_path / "compiled" / "a.yml").read_text() == "x: 3\n"
    write_compiled(tmp_path, {"a": "x: 3\n"}, clean=True)
    assert sorted(p.name for p in (tmp_path / "compiled").iterdir()) == ["a.yml"]


def test_background_write_waits_and_reraises(tmp_path):
    wait = write_compiled(tmp_path, {"a": "x: 1\n"}, clean=True, background=True)
    assert wait() == tmp_path / "compiled"
    assert (tmp_path / "compiled" / "a.yml").read_text() == "x: 1\n"
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    wait = write_compiled(blocked, {"a": "x: 1\n"}, clean=True, background=True)
    with pytest.raises(OSError):
        wait()


def test_precreated_files_are_written_or_removed(tmp_path):
    compiled = tmp_path / "compiled"
    compiled.mkdir()
    (compiled / "mine.yml").write_text("")       # existed before: never touched
    early = Precreator(tmp_path, ["a", "list_file", "mine", "broken"])
    wait = write_compiled(tmp_path, {"a": "x: 1\n", "b": "y: 2\n"}, clean=False,
                          background=True, precreated=early)
    wait()
    early.discard_unused(["a", "b"])
    assert sorted(p.name for p in compiled.iterdir()) == ["a.yml", "b.yml", "mine.yml"]
    assert (compiled / "a.yml").read_text() == "x: 1\n"
    assert early.created == {"a", "list_file", "broken"}


def test_precreated_files_are_removed_when_nothing_was_written(tmp_path):
    early = Precreator(tmp_path, ["a", "b"])
    early.discard_unused(["a"])                  # handed to a writer that never wrote it
    assert list((tmp_path / "compiled").iterdir()) == []


def test_precreation_runs_in_a_helper_process_not_a_thread(tmp_path, monkeypatch):
    """A thread would win the GIL back from the compile after each system call."""
    started = []
    monkeypatch.setattr(artifacts.threading, "Thread",
                        lambda *a, **k: started.append(k) or pytest.fail("a thread"))
    early = Precreator(tmp_path, ["a", "b"])
    early.join()
    assert early.created == {"a", "b"} and not started
    assert sorted(p.name for p in (tmp_path / "compiled").iterdir()) == ["a.yml", "b.yml"]


def test_without_a_helper_the_writer_creates_every_file(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts.sys, "executable", "")     # embedded: no interpreter
    early = Precreator(tmp_path, ["a", "b"])
    assert early.created == set() and list((tmp_path / "compiled").iterdir()) == []
    write_compiled(tmp_path, {"a": "x: 1\n", "b": "y: 2\n"}, clean=False,
                   precreated=early)()
    early.discard_unused(["a", "b"])
    assert (tmp_path / "compiled" / "b.yml").read_text() == "y: 2\n"


def test_a_helper_that_fails_still_has_its_files_removed(tmp_path, monkeypatch):
    compiled = tmp_path / "compiled"
    compiled.mkdir()
    (compiled / "mine.yml").write_text("")       # existed before: never claimed
    script = ("import os, sys; base = sys.stdin.buffer.read().split(b'\\n')[0]; "
              "open(os.path.join(base, b'a.yml'), 'wb').close(); sys.exit(3)")
    monkeypatch.setattr(artifacts, "_PRECREATE_HELPER", script)
    early = Precreator(tmp_path, ["a", "b", "mine"])
    early.join()
    assert early.created == {"a"}               # made before it failed, never reported
    early.discard_unused([])
    assert [p.name for p in compiled.iterdir()] == ["mine.yml"]


def test_written_files_match_text_mode_open(tmp_path):
    """The writer's os-level writes give the bytes and mode `open(path, "w")` would."""
    text = "name: ä\nsql: |\n  SELECT 1\n" + "x" * 100_000 + "\n"
    write_compiled(tmp_path, {"a": text, "b": "y: 2\n"}, clean=True)
    reference = tmp_path / "reference.yml"
    with open(reference, "w", encoding="utf-8") as handle:
        handle.write(text)
    written = tmp_path / "compiled" / "a.yml"
    assert written.read_bytes() == reference.read_bytes()
    assert written.stat().st_mode == reference.stat().st_mode
    write_compiled(tmp_path, {"a": "short: 1\n"}, clean=False)   # truncated, not appended
    assert written.read_text(encoding="utf-8") == "short: 1\n"
