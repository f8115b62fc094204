"""The same projects on a Spark standalone cluster (master + one worker, client mode).

`tauro run` runs in its own process (its driver JVM registers with the session's cluster);
the data it wrote is read back on the suite's shared local session. The cluster is one per
test session (`standalone_cluster`, tests/support/spark_cluster.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from support.jvm_options import C1_ONLY, spark_jvm_options

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
RUN_TIMEOUT = 600
# One `tauro run` on a cluster costs a driver JVM plus an executor JVM; on a loaded 2-core box
# that exceeds the suite-wide 600 s limit.
pytestmark = pytest.mark.timeout(1500)


def cluster_spark(master_url: str) -> dict:
    """The spark section of a profile on the session's standalone cluster."""
    return {"master": master_url, "conf": {
        "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2",
        "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
        "spark.executor.memory": "512m", "spark.cores.max": "2",
        # Short test runs: the suite's JIT options for the driver and the executors too, and
        # for the executors the driver's class archive (a local worker has the same jars;
        # the driver gets it from Tauro).
        "spark.driver.extraJavaOptions": C1_ONLY,
        "spark.executor.extraJavaOptions": spark_jvm_options(),
        # as session.LOCAL_DEFAULTS: Delta's default 50 snapshot tasks cost minutes here
        "spark.databricks.delta.snapshotPartitions": "2"}}


def cluster_profiles(master_url: str) -> str:
    return yaml.safe_dump({"profiles": {"cluster": {
        "spark": cluster_spark(master_url),
        "paths": {"landing": "data/landing", "warehouse": "data/warehouse",
                  "checkpoints": "data/chk"}}}})


def tauro_run(project: Path, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                           str(project), "--plain", *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_example_project_on_a_standalone_cluster_matches_local(tmp_path, standalone_cluster,
                                                                spark, example_local_counts,
                                                                copy_example):
    # The project as shipped; only a profile added beside it (--profiles-dir).
    cluster = copy_example(tmp_path / "cluster")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    doc = yaml.safe_load((EXAMPLE / "profiles.yml").read_text())
    doc["profiles"]["dev"]["paths"] = {k: str(cluster / v) for k, v in
                                       doc["profiles"]["dev"]["paths"].items()}
    doc["profiles"]["cluster"] = {"extends": "dev",
                                  "spark": cluster_spark(standalone_cluster.master_url)}
    (profiles / "profiles.yml").write_text(yaml.safe_dump(doc))
    proc = tauro_run(cluster, "--profile", "cluster", "--profiles-dir", str(profiles))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warehouse = cluster / "data" / "warehouse"
    got = {t: spark.read.format("delta").load(str(warehouse / t)).count()
           for t in example_local_counts}
    assert got == example_local_counts
    # It ran on the cluster: the application registered with the standalone master.
    master_log = standalone_cluster.master.log.read_text()
    assert "Registered app clickstream-dev" in master_log


# A Python UDF defined in transforms/ that imports another project module at call time, on
# the executor: only the project code Tauro ships (a zip added to the context) provides it.
UDF_FILES = {
    "transforms/__init__.py": "",
    "transforms/labels.py": """
        def label(kind: str) -> str:
            return f"kind:{kind.upper()}"
    """,
    "transforms/udfs.py": """
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType


        def _label(kind):
            from transforms.labels import label
            return label(kind)


        def add_label(df):
            return df.withColumn("label", F.udf(_label, StringType())(F.col("kind")))
    """,
}


FILES = 6
ROWS_PER_FILE = 500


def test_a_udf_runs_on_the_executors_and_a_worker_killed_mid_run_gives_exact_counts(
        make_project, standalone_cluster, spark):
    files = {
        **UDF_FILES,
        "tauro_project.yml": 'name: resilient\nversion: "1.0"\nprofile: cluster\n',
        "profiles.yml": cluster_profiles(standalone_cluster.master_url),
        "nodes/events.yml": """
            input:
              format: file_stream
              path: "{{ target.paths.landing }}/events"
              file_format: json
              schema: "id BIGINT, kind STRING"
              options: {maxFilesPerTrigger: 1}
            transforms:
              - python: transforms.udfs:add_label
            output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
            streaming: {trigger: {type: available_now}}
        """,
        "nodes/clicks.yml": """
            input: {ref: events}
            transforms:
              - sql: "SELECT id FROM {{ input }} WHERE kind = 'click'"
            output: {format: delta, path: "{{ target.paths.warehouse }}/clicks"}
            streaming: {trigger: {type: available_now}}
        """,
    }
    for f in range(FILES):
        files[f"data/landing/events/part-{f:02d}.json"] = "\n".join(
            json.dumps({"id": f * ROWS_PER_FILE + i, "kind": "click" if i % 2 else "view"})
            for i in range(ROWS_PER_FILE))
    project = make_project(files, "resilient")
    proc = subprocess.Popen([sys.executable, "-m", "tauro_compile", "run", "--project-dir",
                             str(project), "--plain"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        results = project / "target" / "run_results.json"
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            if _batches(results, "events") >= 1:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before the worker could be killed"
        assert _batches(results, "events") < FILES
        standalone_cluster.kill_worker()
        time.sleep(3)  # the master notices the lost worker; the driver its lost executor
        standalone_cluster.start_worker()
        out, err = proc.communicate(timeout=2 * RUN_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    events = spark.read.format("delta").load(str(project / "data/warehouse/events"))
    assert events.count() == FILES * ROWS_PER_FILE
    assert events.select("id").distinct().count() == FILES * ROWS_PER_FILE
    labels = {(r["kind"], r["label"]) for r in events.select("kind", "label").distinct().collect()}
    assert labels == {("click", "kind:CLICK"), ("view", "kind:VIEW")}
    assert (project / "target" / "python" / "resilient_code.zip").is_file()
    clicks = spark.read.format("delta").load(str(project / "data/warehouse/clicks"))
    assert clicks.count() == FILES * ROWS_PER_FILE // 2
    assert "Removing executor" in standalone_cluster.master.log.read_text() or \
        "lost" in standalone_cluster.master.log.read_text().lower()


def _batches(results: Path, node: str) -> int:
    try:
        doc = json.loads(results.read_text())
    except (OSError, ValueError):
        return 0
    return int((doc.get("nodes", {}).get(node) or {}).get("batches") or 0)


@pytest.fixture(autouse=True)
def _clear_profile_env(monkeypatch):
    monkeypatch.delenv("TAURO_PROFILE", raising=False)
