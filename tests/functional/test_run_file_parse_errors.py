"""Run time, real Spark and Delta: a JSON file stream's bad lines are never silent null rows.

One landing file holds two good lines, a truncated line and a line whose field does not fit
its type. `on_parse_error` decides: `fail` (default) stops the node naming the file and the
record, writing nothing; `drop` writes the good rows and counts the dropped ones;
`dead_letter` writes the bad lines to the dead-letter table in the same batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

LINES = '{"id": 1, "amount": 2.5}\n{"id": 2, "amount": 3.0}\n{"id": 3, "amou\n' \
        '{"id": "four", "amount": 1.0}\n'


def project_files(input_extra: str) -> dict[str, str]:
    return {
        "tauro_project.yml": "name: parse\nprofile: dev\n",
        "profiles.yml": """
            profiles:
              dev:
                paths: {landing: data/landing, warehouse: data/wh, checkpoints: data/chk}
                nodes:
                  "*": {streaming: {trigger: {type: available_now}}}
        """,
        "nodes/orders.yml": f"""
            input:
              format: file_stream
              path: "{{{{ target.paths.landing }}}}"
              file_format: json
              schema: "id BIGINT, amount DOUBLE"
            {input_extra}
            output: {{format: delta, path: "{{{{ target.paths.warehouse }}}}/orders"}}
        """,
    }


def setup(make_project, extra: str = "") -> Path:
    project = make_project(project_files(extra))
    landing = project / "data" / "landing"
    landing.mkdir(parents=True)
    (landing / "orders-1.json").write_text(LINES)
    return project


def node(project: Path) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())["nodes"]["orders"]


def test_fail_is_the_default_and_names_the_file_and_record(spark, make_project, tauro):
    project = setup(make_project)
    result = tauro("run", "--project-dir", project)
    assert result.exit_code == 1, result.output
    assert "orders-1.json" in result.stderr
    assert "does not parse with the declared json schema" in result.stderr
    assert "Traceback" not in result.stderr + result.output
    assert not (project / "data" / "wh" / "orders" / "_delta_log").exists() or \
        spark.read.format("delta").load(str(project / "data" / "wh" / "orders")).count() == 0


def test_drop_writes_the_good_rows_and_counts_the_bad(spark, make_project, tauro):
    project = setup(make_project, "  on_parse_error: drop")
    result = tauro("run", "--project-dir", project)
    assert result.exit_code == 0, result.output + result.stderr
    rows = spark.read.format("delta").load(str(project / "data" / "wh" / "orders")).collect()
    assert sorted((r.id, r.amount) for r in rows) == [(1, 2.5), (2, 3.0)]
    found = node(project)
    assert found["counts"]["parse_dropped"] == 2 and found["rows_in"] == 4


def test_dead_letter_keeps_the_bad_lines_with_their_file(spark, make_project, tauro):
    project = setup(make_project, "  on_parse_error: dead_letter\n"
                                  "              dead_letter: {format: delta, path: data/dl}")
    result = tauro("run", "--project-dir", project)
    assert result.exit_code == 0, result.output + result.stderr
    rows = spark.read.format("delta").load(str(project / "data" / "wh" / "orders")).collect()
    assert sorted(r.id for r in rows) == [1, 2]
    letters = spark.read.format("delta").load(str(project / "data" / "dl")).collect()
    assert sorted(r.record for r in letters) == ['{"id": "four", "amount": 1.0}',
                                                 '{"id": 3, "amou']
    assert all(r.file.endswith("orders-1.json") and r.node == "orders" for r in letters)
    assert node(project)["counts"]["dead_letters"] == 2
