"""Manifest reading, versions, atomic writes."""

from __future__ import annotations

import json

import pytest

from tauro_compile.compiler.manifest import (
    MANIFEST_VERSION,
    ManifestError,
    load_manifest,
    write_atomically,
    write_manifest,
)


def test_round_trip_and_directory_form(tmp_path):
    document = {"metadata": {"manifest_version": MANIFEST_VERSION}, "nodes": {}}
    path = write_manifest(document, tmp_path)
    assert path == tmp_path / "manifest.json"
    assert load_manifest(path) == document == load_manifest(tmp_path)


@pytest.mark.parametrize("content, message", [
    (None, "no manifest"),
    ("{not json", "cannot read"),
    (json.dumps({"metadata": {"manifest_version": 99}}), "version 99"),
    (json.dumps([1]), "version None"),
])
def test_unreadable_manifests(tmp_path, content, message):
    if content is not None:
        (tmp_path / "manifest.json").write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_manifest(tmp_path)


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("old")

    with pytest.raises(TypeError):
        write_atomically(path, 123)  # type: ignore[arg-type]
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
    write_atomically(path, "new")
    assert path.read_text() == "new"
