"""A driver JVM Tauro starts maps the class archive set-up built (streaming/jvm_archive.py).

The shared test session is built by `build_spark_session`, as a `tauro run` driver is; the
archive's pages in its memory map prove the JVM took it (a JVM that rejects an archive, for
another JDK or classpath, runs without it and says so only in its log)."""

from __future__ import annotations

from pathlib import Path

from tauro_compile.streaming.jvm_archive import archive_path, is_complete


def test_the_shared_driver_jvm_maps_the_class_archive_setup_built(spark):
    path = archive_path()
    assert path is not None and is_complete(path), (
        f"no class archive at {path}: `make setup` builds it "
        "(python -m tauro_compile.streaming.jvm_archive)")
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
                     .getInputArguments())
    assert f"-XX:SharedArchiveFile={path}" in arguments
    pid = jvm.ProcessHandle.current().pid()
    maps = Path(f"/proc/{pid}/maps").read_text()
    assert str(path) in maps, "the JVM was given the archive but did not map it"
