"""A class-data-sharing (AppCDS) archive for the Spark driver JVM: faster starts and first batches.

A fresh driver JVM spends most of its first seconds loading, verifying and linking the
classes of Spark and Delta (tens of thousands). A dynamic CDS archive (JDK 13+,
``-XX:ArchiveClassesAtExit`` / ``-XX:SharedArchiveFile``) keeps those classes parsed and
verified in a file the JVM maps at start. Measured on the 2-core box
(bench/results/jvm_archive.md, medians of 5): session start 7.0 -> 3.9 s, the first Delta
write 6.0 -> 3.8 s, the driver's CPU for start + 3 writes + 1 read 22.3 -> 15.1 s.

The archive is built once, by ``make setup`` or ``python -m tauro_compile.streaming.jvm_archive``,
into ``<sys.prefix>/share/tauro/jvm/`` (beside the pinned jars), under a name derived from
what it depends on: the ``java`` executable, pyspark's version and jars, and the pinned jars.
A driver JVM that Tauro starts uses it when one of that name exists whole (the size its build
recorded: a JVM given a truncated archive crashes rather than ignoring it); anything that changed
(another JDK, another pyspark, other jars) changes the name, so a stale archive is never
used, and without an archive nothing changes but the speed. The JVM itself checks the
archive again (classpath, JDK build) and ignores it on any mismatch, logging a warning to
the run's log file. ``TAURO_JVM_ARCHIVE=off`` turns it off; driver options of the user that
already name an archive (``-XX:SharedArchiveFile``, ``-Xshare``) win.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ARCHIVE_ENV = "TAURO_JVM_ARCHIVE"  # "off": never use one; a path: use that file
_USER_CHOICE = ("-XX:SharedArchiveFile", "-Xshare", "-XX:ArchiveClassesAtExit")


def archive_dir() -> Path:
    return Path(sys.prefix) / "share" / "tauro" / "jvm"


def fingerprint() -> dict[str, object] | None:
    """What the archive depends on, or None when there is no java (or pyspark) to run."""
    from importlib.util import find_spec

    from tauro_compile.environment import java_executable, package_version
    from tauro_compile.streaming.session import pinned_jars

    executable = java_executable()  # the java Spark's launcher runs
    spec = find_spec("pyspark")  # not imported: a settings lookup stays cheap
    if executable is None or spec is None or spec.origin is None:
        return None
    java = Path(executable).resolve()
    stat = java.stat()
    spark_jars = sorted(p.name for p in (Path(spec.origin).parent / "jars").glob("*.jar"))
    return {"java": str(java), "java_size": stat.st_size, "java_mtime": int(stat.st_mtime),
            "pyspark": package_version("pyspark"), "pyspark_jars": spark_jars,
            "pinned_jars": [Path(j).name for j in pinned_jars()]}


def archive_path() -> Path | None:
    """Where the archive for this JDK + jars lives (whether it exists or not)."""
    setting = os.environ.get(ARCHIVE_ENV, "")
    if setting.lower() == "off":
        return None
    if setting:
        return Path(setting)
    key = fingerprint()
    if key is None:
        return None
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return archive_dir() / f"spark-{digest}.jsa"


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".done")


def mark_complete(path: Path) -> None:
    """Record the size of a whole archive beside it: only such an archive is ever used."""
    _marker(path).write_text(json.dumps({"size": path.stat().st_size}) + "\n")


def is_complete(path: Path) -> bool:
    """The archive exists and has the size its build recorded. A JVM given a truncated
    archive dies (SIGBUS) instead of ignoring it, so a file that lost its end is never used."""
    try:
        recorded = json.loads(_marker(path).read_text())["size"]
        return bool(path.stat().st_size == recorded)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def driver_java_option(options: str) -> str | None:
    """The option that makes a driver JVM use the archive, or None (no whole archive, turned
    off, or the user's `options` already choose)."""
    if any(choice in options for choice in _USER_CHOICE):
        return None
    path = archive_path()
    if path is None or not is_complete(path):
        return None
    return f"-XX:SharedArchiveFile={path}"


# What the archive is made of: the classes a bounded file -> Delta run loads (session,
# Delta writes, reads, a streaming query with foreachBatch, an aggregation).
_WORKLOAD = textwrap.dedent("""
    import shutil, sys, tempfile
    from pathlib import Path
    from tauro_compile.streaming.session import build_spark_session
    work = Path(tempfile.mkdtemp(prefix="tauro-jvm-archive-"))
    spark = build_spark_session("local[2]", conf={
        "spark.sql.shuffle.partitions": "2", "spark.ui.enabled": "false",
        "spark.driver.extraJavaOptions": sys.argv[1]}, short_run=True)
    (work / "in").mkdir()
    (work / "in" / "a.json").write_text("".join(
        '{"id": %d, "user": "u%d", "price": %d.5}\\n' % (i, i % 7, i % 5) for i in range(2000)))
    df = spark.range(1000).selectExpr("id", "cast(id as string) AS s", "id * 1.5 AS d")
    for _ in range(2):
        df.write.format("delta").mode("append").save(str(work / "t"))
    spark.read.format("delta").load(str(work / "t")).groupBy("s").count().collect()
    def batch(frame, batch_id):
        frame.write.format("delta").mode("append").save(str(work / "s"))
    query = (spark.readStream.schema("id BIGINT, user STRING, price DOUBLE")
             .json(str(work / "in")).filter("price > 0")
             .writeStream.foreachBatch(batch).trigger(availableNow=True)
             .option("checkpointLocation", str(work / "chk")).start())
    query.awaitTermination()
    agg = (spark.readStream.format("delta").load(str(work / "s")).groupBy("user").count()
           .writeStream.format("delta").outputMode("complete").trigger(availableNow=True)
           .option("checkpointLocation", str(work / "chk2")).start(str(work / "g")))
    agg.awaitTermination()
    from pyspark import SparkContext
    jvm = SparkContext._gateway.proc
    spark.stop()
    jvm.stdin.close()  # the JVM exits when its stdin closes, and dumps the archive then
    code = jvm.wait(600)
    shutil.rmtree(work, ignore_errors=True)
    sys.exit(code)
""")


def build(path: Path | None = None, *, log: Path | None = None) -> Path:
    """Write the archive (a JVM running `_WORKLOAD` dumps its classes at exit) and return it.
    The file appears whole (written beside it, then renamed)."""
    path = path or archive_path()
    if path is None:
        raise RuntimeError("no java found (or TAURO_JVM_ARCHIVE=off): nothing to archive")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # the JVM creates it at exit
    env = {**os.environ, ARCHIVE_ENV: "off"}
    log_path = log or path.with_suffix(".log")
    try:
        with open(log_path, "wb") as out:
            done = subprocess.run([sys.executable, "-c", _WORKLOAD,
                                   f"-XX:ArchiveClassesAtExit={tmp}"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
            raise RuntimeError(f"the JVM did not write a class archive (exit {done.returncode}); "
                               f"its output is in {log_path}")
        _marker(path).unlink(missing_ok=True)
        tmp.replace(path)
        mark_complete(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tauro_compile.streaming.jvm_archive",
        description="Build the Spark driver's class archive for this JDK and these jars "
                    "(once; quick when it exists).")
    parser.add_argument("--force", action="store_true", help="build it even if it exists")
    args = parser.parse_args(argv)
    path = archive_path()
    if path is None:
        print("no class archive: no java found, or TAURO_JVM_ARCHIVE=off")
        return 0
    if is_complete(path) and not args.force:
        print(f"class archive up to date: {path}")
        return 0
    for stale in path.parent.glob("spark-*.jsa*"):  # other JDKs or jars: never used again
        if stale.name.split(".")[0] != path.name.split(".")[0]:
            stale.unlink(missing_ok=True)  # a JVM that maps one keeps its pages
    print(f"building the class archive {path} (a Spark run of ~30 s, once)", flush=True)
    try:
        build(path)
    except RuntimeError as exc:
        print(f"class archive not built: {exc}", file=sys.stderr)
        return 1
    print(f"class archive: {path} ({path.stat().st_size // 2**20} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
