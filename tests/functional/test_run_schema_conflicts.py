"""Run time, real Spark and Delta: a stream that does not fit its table, or its contract.

- a column whose type differs from the existing Delta table's is refused before anything
  is written, naming the column, the table's type and the stream's type (Delta itself
  would cast it silently); `on_type_mismatch: cast` opts into the cast, and the rows then
  count in rows_in/rows_out;
- a required contract column missing from the stream is named in the terminal message.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

PROJECT = {
    "tauro_project.yml": """
        name: conflicts
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
    "nodes/orders.yml": """
        input: {source: landing}
        output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
    """,
}


def land(project: Path, rows: list[dict]) -> None:
    landing = project / "data" / "landing" / "orders"
    landing.mkdir(parents=True, exist_ok=True)
    (landing / "a.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def table(project: Path) -> Path:
    return project / "data" / "warehouse" / "orders"


def results(project: Path) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())["nodes"]["orders"]


def test_a_column_of_another_type_is_refused_before_writing(spark, make_project, tauro):
    project = make_project(PROJECT)
    land(project, [{"order_id": "1", "amount": 2.5}])
    spark.createDataFrame([("7", "1.5")], "order_id STRING, amount STRING") \
        .write.format("delta").save(str(table(project)))

    result = tauro("run", "--project-dir", project)

    assert result.exit_code == 1, result.output
    assert "'amount' (table string, stream double)" in result.stderr
    assert "on_type_mismatch: cast" in result.stderr
    assert "Traceback" not in result.stderr + result.output
    assert spark.sql(f"DESCRIBE HISTORY delta.`{table(project)}`").count() == 1
    assert results(project)["status"] == "failed"


def test_opting_into_the_cast_writes_and_counts_the_rows(spark, make_project, tauro):
    files = dict(PROJECT)
    files["nodes/orders.yml"] = """
        input: {source: landing}
        output:
          format: delta
          path: "{{ target.paths.warehouse }}/orders"
          on_type_mismatch: cast
    """
    project = make_project(files)
    land(project, [{"order_id": "1", "amount": 2.5}, {"order_id": "2", "amount": 4.0}])
    spark.createDataFrame([("7", "1.5")], "order_id STRING, amount STRING") \
        .write.format("delta").save(str(table(project)))

    result = tauro("run", "--project-dir", project)

    assert result.exit_code == 0, result.output + result.stderr
    rows = spark.read.format("delta").load(str(table(project)))
    assert dict(rows.dtypes)["amount"] == "string"
    assert sorted((r.order_id, r.amount) for r in rows.collect()) == [
        ("1", "2.5"), ("2", "4.0"), ("7", "1.5")]
    node = results(project)
    assert (node["rows_in"], node["rows_out"]) == (2, 2)


def test_a_missing_contract_column_is_named_in_the_terminal(spark, make_project, tauro):
    files = dict(PROJECT)
    files["nodes/orders.yml"] = """
        input: {source: landing}
        output: {format: delta, path: "{{ target.paths.warehouse }}/orders"}
        contract: contracts/orders.yaml
    """
    files["contracts/orders.yaml"] = """
        apiVersion: v3.0.2
        kind: DataContract
        id: orders
        version: 1.0.0
        schema:
          - name: orders
            properties:
              - name: order_id
                logicalType: string
              - name: customer_id
                logicalType: string
                required: true
    """
    project = make_project(files)
    land(project, [{"order_id": "1", "amount": 2.5}])

    result = tauro("run", "--project-dir", project)

    assert result.exit_code == 1, result.output
    assert "customer_id" in result.stderr
    assert not table(project).exists()
