"""Bad input found at run time: a message naming the node and what to do, exit 1, no traceback,
and nothing written (the output table is untouched or absent).

Covered: missing input path, unreadable checkpoint, a Delta table whose schema conflicts with
the node's output, a transform returning something other than a DataFrame. (An unreachable
Kafka broker is covered with the Kafka tests.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

PROJECT = {
    "tauro_project.yml": """
        name: bad
        version: "1.0"
        profile: dev
        sources:
          landing:
            format: file_stream
            path: "{{ target.paths.landing }}/orders"
            file_format: json
            schema: "order_id STRING, amount DOUBLE"
    """,
    "profiles.yml": """
        profiles:
          dev:
            paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}
            nodes:
              "*": {streaming: {trigger: {type: available_now}}}
    """,
    "transforms/__init__.py": "",
    "transforms/broken.py": """
        def forgets_return(df):
            df.filter("amount > 0")
    """,
    "nodes/orders.yml": """
        input: {source: landing}
        output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
    """,
}


def land(project: Path, name: str, rows: list[dict]) -> None:
    landing = project / "data" / "landing" / "orders"
    landing.mkdir(parents=True, exist_ok=True)
    tmp = landing.parent / f".{name}"
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.rename(landing / name)


def output(project: Path) -> Path:
    return project / "data" / "warehouse" / "orders"


def assert_clean_failure(result, *needles: str) -> dict:
    """Exit 1, the node and each needle in the message, no traceback; returns the node result."""
    assert result.exit_code == 1, result.output + result.stderr
    assert "Node 'orders' failed: " in result.stderr
    for needle in needles:
        assert needle in result.stderr
    assert "Traceback" not in result.stderr + result.output
    assert "--select orders+" in result.stderr
    return result


def node_result(project: Path) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())["nodes"]["orders"]


def test_missing_input_path(spark, make_project, tauro) -> None:
    project = make_project(PROJECT)  # no data/landing/orders directory
    result = tauro("run", "--project-dir", project)
    assert_clean_failure(result, "input directory", "does not exist", "hint: create the directory")
    assert node_result(project)["status"] == "failed"
    assert not output(project).exists()


def test_unreadable_checkpoint(spark, make_project, tauro) -> None:
    project = make_project(PROJECT)
    land(project, "a.json", [{"order_id": "1", "amount": 2.0}])
    assert tauro("run", "--project-dir", project).exit_code == 0
    offsets = project / "data" / "chk" / "orders" / "offsets" / "0"
    offsets.write_text("this is not a Spark offset log\n")
    land(project, "b.json", [{"order_id": "2", "amount": 3.0}])

    result = tauro("run", "--project-dir", project)

    assert_clean_failure(result, "checkpoint", str(project / "data" / "chk" / "orders"),
                         "hint: remove the checkpoint directory")
    rows = spark.read.format("delta").load(str(output(project))).collect()
    assert [r.order_id for r in rows] == ["1"]  # the new file was not written


def test_delta_table_with_conflicting_schema(spark, make_project, tauro) -> None:
    project = make_project(PROJECT)
    land(project, "a.json", [{"order_id": "1", "amount": 2.0}])
    # the table was made by someone else, without the stream's `amount` column
    spark.createDataFrame([("7", 1.5)], "order_id STRING, total DOUBLE") \
        .write.format("delta").save(str(output(project)))

    result = tauro("run", "--project-dir", project)

    assert_clean_failure(result, "does not fit the",
                         "columns amount are not in the table", "mergeSchema")
    assert [tuple(r) for r in spark.read.format("delta").load(str(output(project))).collect()] \
        == [("7", 1.5)]
    assert spark.sql(f"DESCRIBE HISTORY delta.`{output(project)}`").count() == 1


def test_transform_returning_no_dataframe(spark, make_project, tauro) -> None:
    files = dict(PROJECT)
    files["nodes/orders.yml"] = """
        input: {source: landing}
        transforms:
          - python: transforms.broken:forgets_return
        output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
    """
    project = make_project(files)
    land(project, "a.json", [{"order_id": "1", "amount": 2.0}])

    result = tauro("run", "--project-dir", project)

    assert_clean_failure(result, "returned NoneType, not a DataFrame", "missing `return`")
    assert not output(project).exists()
    assert node_result(project)["attempts"] == 1
