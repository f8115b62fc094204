"""`tauro run` end to end on the shared local Spark with real Delta tables.

A three-node available_now chain ends by itself with exact counts; a second run after new
files processes only those; a transform failing on some value fails its node, skips its
descendants and exits 1 naming node and cause. The CLI runs in-process (click's CliRunner)
and reuses the suite's SparkSession.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

PROJECT = {
    "tauro_project.yml": """
        name: shop
        version: "1.0"
        profile: dev
        sources:
          landing_orders:
            format: file_stream
            path: "{{ target.paths.landing }}/orders"
            file_format: json
            schema: "order_id STRING, customer_id STRING, amount STRING"
    """,
    "profiles.yml": """
        profiles:
          dev:
            spark: {master: "local[2]"}
            paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}
            nodes:
              "*": {streaming: {trigger: {type: available_now}}}
    """,
    "transforms/__init__.py": "",
    "transforms/orders.py": """
        from pyspark.sql import DataFrame, functions as F


        def cast_amount(df: DataFrame) -> DataFrame:
            return df.withColumn("amount", F.col("amount").cast("double"))
    """,
    "nodes/raw_orders.yml": """
        input: {source: landing_orders}
        transforms:
          - python: transforms.orders:cast_amount
        output: {format: delta, path: "{{ target.paths.warehouse }}/raw_orders"}
    """,
    "nodes/clean_orders.yml": """
        input: {ref: raw_orders}
        transforms:
          - sql: "SELECT * FROM {{ input }} WHERE amount > 0"
        output: {format: delta, path: "{{ target.paths.warehouse }}/clean_orders"}
    """,
    "nodes/customer_totals.yml": """
        input: {ref: clean_orders}
        transforms:
          - sql: >
              SELECT customer_id, sum(amount) AS total, count(*) AS orders
              FROM {{ input }} GROUP BY customer_id
        output: {format: delta, path: "{{ target.paths.warehouse }}/customer_totals"}
        streaming: {output_mode: complete}
    """,
}


def add_orders(project: Path, name: str, rows: list[tuple[str, str, str]]) -> None:
    """A JSON-lines file of orders, renamed into place (a stream never sees half a file)."""
    landing = project / "data" / "landing" / "orders"
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing.parent / f".{name}.tmp"
    tmp.write_text("".join(json.dumps({"order_id": o, "customer_id": c, "amount": a}) + "\n"
                           for o, c, a in rows))
    tmp.rename(landing / name)


def results(project: Path) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())


def table(spark, project: Path, name: str) -> list[tuple]:
    df = spark.read.format("delta").load(str(project / "data" / "warehouse" / name))
    return sorted(tuple(r) for r in df.collect())


def test_chain_ends_by_itself_with_exact_counts_then_resumes_with_new_files_only(
        spark, make_project, tauro) -> None:
    project = make_project(PROJECT)
    add_orders(project, "a.json", [("1", "ann", "10"), ("2", "bob", "-1"), ("3", "ann", "5")])

    first = tauro("run", "--project-dir", project, "--preview", "3")
    assert first.exit_code == 0, first.output + first.stderr
    assert table(spark, project, "customer_totals") == [("ann", 15.0, 2)]
    doc = results(project)
    assert doc["metadata"]["status"] == "succeeded"
    nodes = doc["nodes"]
    assert {n: (v["status"], v["batches"], v["rows_in"], v["rows_out"]) for n, v in nodes.items()} == {
        "raw_orders": ("succeeded", 1, 3, 3),
        "clean_orders": ("succeeded", 1, 3, 2),
        "customer_totals": ("succeeded", 1, 2, 1),
    }
    assert nodes["raw_orders"]["checkpoint_location"] == str(project / "data" / "chk" / "raw_orders")
    # plain progress (not a terminal): one line per state change and per batch, nothing more
    progress = [line.split("  ", 1)[1] for line in first.output.splitlines()
                if re.match(r"^\d\d:\d\d:\d\d  ", line)]
    raw_lines = [line for line in progress if line.startswith("raw_orders: ")]
    assert [line.split(" · ")[0] for line in raw_lines] == [
        "raw_orders: starting", "raw_orders: running", "raw_orders: batch 0",
        "raw_orders: succeeded"]
    assert len(progress) == 12
    # the summary, and the rows asked for (--preview) of the final table read back
    assert "Run succeeded" in first.output
    assert "customer_totals -> " in first.output and "(first 1 rows)" in first.output
    assert "ann" in first.output

    add_orders(project, "b.json", [("4", "bob", "7"), ("5", "cid", "1")])
    second = tauro("run", "--project-dir", project)
    assert second.exit_code == 0, second.output + second.stderr
    assert "customer_totals -> " not in second.output  # no preview by default off a terminal
    # only the two new rows went through, once; the totals cover all rows
    assert table(spark, project, "raw_orders") == sorted([
        ("1", "ann", 10.0), ("2", "bob", -1.0), ("3", "ann", 5.0), ("4", "bob", 7.0),
        ("5", "cid", 1.0)])
    assert table(spark, project, "customer_totals") == [("ann", 15.0, 2), ("bob", 7.0, 1),
                                                       ("cid", 1.0, 1)]
    again = results(project)["nodes"]
    assert (again["raw_orders"]["batches"], again["raw_orders"]["rows_in"]) == (1, 2)
    assert (again["clean_orders"]["batches"], again["clean_orders"]["rows_in"]) == (1, 2)
    assert again["raw_orders"]["last_progress"]["batch_id"] == 1  # resumed, not restarted

    third = tauro("run", "--project-dir", project)  # nothing new: no batch anywhere
    assert third.exit_code == 0
    nodes = results(project)["nodes"]
    assert {v["batches"] for v in nodes.values()} == {0}
    # no query is even started: the source's checkpoint has logged every file of its
    # directory, the Delta readers downstream have read every commit
    for name in ("raw_orders", "clean_orders", "customer_totals"):
        assert nodes[name]["status"] == "succeeded" and nodes[name]["started_at"] is None
        assert nodes[name]["reason"].startswith("up to date: its checkpoint has read ")
    assert "read every file in" in nodes["raw_orders"]["reason"]
    # told from the checkpoint files before Spark starts: no driver, no JVM
    assert "Nothing new to read: every node's checkpoint has read all its input " \
        "(Spark not started)" in third.output
    assert "Spark ready" not in third.output and "up to date" in third.output
    assert results(project)["metadata"].get("driver") is None
    assert len(table(spark, project, "raw_orders")) == 5


FAILING = {
    **PROJECT,
    "transforms/checks.py": """
        from pyspark.sql import DataFrame, functions as F
        from pyspark.sql.types import StringType


        def _refuse(order_id):
            if order_id == "poison":
                raise ValueError(f"poison order {order_id} reached the checks")
            return order_id


        def refuse_poison(df: DataFrame) -> DataFrame:
            return df.withColumn("order_id", F.udf(_refuse, StringType())("order_id"))
    """,
    "nodes/clean_orders.yml": """
        input: {ref: raw_orders}
        transforms:
          - python: transforms.checks:refuse_poison
        output: {format: delta, path: "{{ target.paths.warehouse }}/clean_orders"}
        on_failure: {action: restart, max_restarts: 1, backoff: "1 second"}
    """,
    "nodes/audit.yml": """
        input: {ref: raw_orders}
        output: {format: delta, path: "{{ target.paths.warehouse }}/audit"}
    """,
}


def test_failing_transform_restarts_then_fails_its_node_skips_descendants_and_exits_1(
        spark, make_project, tauro) -> None:
    project = make_project(FAILING)
    add_orders(project, "a.json", [("1", "ann", "10"), ("poison", "bob", "3")])

    result = tauro("run", "--project-dir", project)

    assert result.exit_code == 1
    assert "Node 'clean_orders' failed: ValueError: poison order poison reached the checks" \
        in result.stderr
    assert "Skipped: customer_totals" in result.stderr
    assert f"tauro run --project-dir {project} --select clean_orders+" in result.stderr
    assert "Traceback" not in result.stderr + result.output
    nodes = results(project)["nodes"]
    assert results(project)["metadata"]["status"] == "failed"
    assert nodes["raw_orders"]["status"] == "succeeded"
    assert nodes["audit"]["status"] == "succeeded"          # unrelated branch went on
    assert nodes["clean_orders"]["status"] == "failed"
    assert nodes["clean_orders"]["attempts"] == 2  # restarted once from its checkpoint
    assert "PythonException" in nodes["clean_orders"]["error"]  # full error kept here
    assert nodes["customer_totals"] == {**nodes["customer_totals"], "status": "skipped",
                                        "reason": "upstream 'clean_orders' failed"}
    assert not (project / "data" / "warehouse" / "clean_orders" / "_delta_log").exists() or \
        table(spark, project, "clean_orders") == []


def test_reusing_an_active_session_says_which_profile_settings_are_not_applied(
        spark, make_project, tauro) -> None:
    """In-process (a notebook, these tests) the active session wins: the user is told so."""
    files = dict(PROJECT)
    files["profiles.yml"] = PROJECT["profiles.yml"].replace(
        'spark: {master: "local[2]"}',
        'spark: {master: "local[2]", conf: {spark.sql.shuffle.partitions: "7"}}')
    project = make_project(files)
    add_orders(project, "a.json", [("o1", "c1", "5")])
    result = tauro("run", "--project-dir", project, "--select", "raw_orders")
    assert result.exit_code == 0, result.output
    assert ("profile 'dev' settings not applied: spark.sql.shuffle.partitions: wanted 7, "
            "session has 2") in result.stderr
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
