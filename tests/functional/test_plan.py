"""`tauro plan` and the run-time checkpoint guard of `tauro run`, end to end (CliRunner,
in-process on the shared SparkSession, real Delta tables and checkpoints).

One project goes through what a user does: plan a fresh project (every node new, the
downstream ones analysed against stand-ins, nothing written), run it, change the GROUP BY
of the gold node and plan (text and json: incompatible with the remedy, exit 1), run anyway
(the guard refuses that node before Spark fails on it, naming the change and the remedy,
while its upstream nodes run), and a SQL typo in another node (reported
with the node file and line, with every other node's verdict).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from test_run import PROJECT, add_orders, results, table

pytestmark = pytest.mark.spark

REGROUPED = """
    input: {ref: clean_orders}
    transforms:
      - sql: >
          SELECT order_id, sum(amount) AS total, count(*) AS orders
          FROM {{ input }} GROUP BY order_id
    output: {format: delta, path: "{{ target.paths.warehouse }}/customer_totals"}
    streaming: {output_mode: complete}
"""

TYPO = """
    input: {ref: raw_orders}
    transforms:
      - sql: >
          SELECT * FROM {{ input }}
          WHERE amont > 0
    output: {format: delta, path: "{{ target.paths.warehouse }}/clean_orders"}
"""


def write_node(project: Path, name: str, text: str) -> None:
    (project / "nodes" / f"{name}.yml").write_text(textwrap.dedent(text).lstrip("\n"))


def verdicts(output: str) -> dict[str, str]:
    doc = json.loads(output)
    return {n["node"]: n["verdict"] for n in doc["nodes"]}


def test_plan_then_guard_on_a_changed_group_by(spark, make_project, tauro) -> None:
    project = make_project(PROJECT)
    add_orders(project, "a.json", [("1", "ann", "10"), ("2", "bob", "-1"), ("3", "ann", "5")])

    fresh = tauro("plan", "--project-dir", project)
    assert fresh.exit_code == 0, fresh.output + fresh.stderr

    assert "Starting Spark locally (local[2])" in fresh.stderr
    lines = fresh.output.splitlines()
    assert [ln.split()[:2] for ln in lines if ln.startswith("  ") and not ln.startswith("     ")] == [
        ["raw_orders", "new"], ["clean_orders", "new"], ["customer_totals", "new"]]
    assert "empty stand-in for raw_orders's output" in fresh.output
    assert "3 node(s): 3 new." in fresh.output
    assert not (project / "data" / "chk").exists()            # plan wrote nothing
    assert not (project / "data" / "warehouse").exists()

    first = tauro("run", "--project-dir", project)
    assert first.exit_code == 0, first.output + first.stderr
    shape = json.loads((project / "data" / "chk" / "customer_totals" / ".tauro" /
                        "shape.json").read_text())
    assert shape["stateful"][0]["keys"] == ["customer_id string"]

    same = tauro("plan", "--project-dir", project, "--output", "json")
    assert same.exit_code == 0, same.output + same.stderr
    assert same.stdout.startswith("{")                         # the document alone

    assert set(verdicts(same.stdout).values()) == {"unchanged"}

    write_node(project, "customer_totals", REGROUPED)
    changed = tauro("plan", "--project-dir", project)
    assert changed.exit_code == 1, changed.output + changed.stderr
    assert "customer_totals  incompatible with its checkpoint" in changed.output
    assert ("! grouping keys of aggregate #0 changed: (customer_id string) -> "
            "(order_id string)") in changed.output
    assert "remedy: tauro run --full-refresh -s customer_totals+" in changed.output
    as_json = tauro("plan", "--project-dir", project, "-o", "json")
    assert as_json.exit_code == 1
    doc = json.loads(as_json.stdout)
    assert verdicts(as_json.stdout) == {"raw_orders": "unchanged", "clean_orders": "unchanged",
                                        "customer_totals": "incompatible with its checkpoint"}
    gold = doc["nodes"][2]
    assert gold["remedy"] == "tauro run --full-refresh -s customer_totals+"
    assert gold["changes"][0]["compatible"] is False
    assert doc["nodes"][0]["downstream"] == ["clean_orders", "customer_totals"]
    assert doc["exit_code"] == 1 and doc["seconds"]["spark_start"] >= 0

    # The guard: the changed node is refused before Spark starts it; the others run.
    add_orders(project, "b.json", [("4", "bob", "7")])
    guarded = tauro("run", "--project-dir", project)
    assert guarded.exit_code == 1, guarded.output + guarded.stderr
    nodes = results(project)["nodes"]
    assert {n: v["status"] for n, v in nodes.items()} == {
        "raw_orders": "succeeded", "clean_orders": "succeeded", "customer_totals": "failed"}
    assert nodes["raw_orders"]["rows_in"] == 1
    said = guarded.output + guarded.stderr
    assert "grouping keys of aggregate #0 changed" in said
    assert "tauro run --full-refresh -s customer_totals+" in said
    error = nodes["customer_totals"]["error"]
    assert "its checkpoint cannot take the query as it is now" in error
    assert "terminated with exception" not in error            # refused, not failed mid-run
    assert table(spark, project, "customer_totals") == [("ann", 15.0, 2)]  # untouched

    # A SQL typo: its node file and line, and every other node's verdict as well.
    write_node(project, "clean_orders", TYPO)
    typo = tauro("plan", "--project-dir", project)
    assert typo.exit_code == 1
    assert "clean_orders     error" in typo.output
    assert "amont" in typo.output
    assert "node file: nodes/clean_orders.yml:5 (transforms[0].sql)" in typo.output
    assert "customer_totals  incompatible with its checkpoint" in typo.output


def test_plan_of_an_invalid_project_exits_2(make_project, tauro) -> None:
    project = make_project({**PROJECT, "nodes/clean_orders.yml": """
        input: {ref: raw_ordrs}
        output: {format: delta, path: "{{ target.paths.warehouse }}/clean_orders"}
    """})
    result = tauro("plan", "--project-dir", project)
    assert result.exit_code == 2
    assert "raw_ordrs" in result.stderr and "Starting Spark" not in result.stderr


def test_plan_is_documented_in_help(tauro) -> None:
    result = tauro("plan", "--help")
    assert result.exit_code == 0
    assert "incompatible with its checkpoint" in result.output


def test_moved_project_file_source_fails_at_start_naming_the_checkpoint(
        spark, make_project, tauro, tmp_path: Path) -> None:
    import shutil

    old = make_project(PROJECT, name="old")
    add_orders(old, "a.json", [("1", "ann", "10"), ("3", "ann", "5")])
    assert tauro("run", "--project-dir", old).exit_code == 0
    new = tmp_path / "new"
    shutil.copytree(old, new)
    add_orders(new, "b.json", [("4", "bob", "7")])

    moved = tauro("run", "--project-dir", new)
    assert moved.exit_code == 1, moved.output + moved.stderr
    nodes = results(new)["nodes"]
    assert {n: v["status"] for n, v in nodes.items()} == {
        "raw_orders": "failed", "clean_orders": "skipped", "customer_totals": "skipped"}
    said = " ".join((moved.output + moved.stderr).split())
    holder = new / "data" / "chk" / "raw_orders" / "sources" / "0" / "0"
    assert f"{holder} holds the absolute path {old}/data/landing/orders, not {new}/data/" in nodes[
        "raw_orders"]["error"]
    assert "choices: move the project back" in nodes["raw_orders"]["error"]
    assert "set the profile's paths" in nodes["raw_orders"]["error"]
    assert "tauro run --full-refresh -s raw_orders+" in said

    # Spark itself refuses that checkpoint in the new folder (the message Tauro replaces).
    df = spark.readStream.format("json").schema("order_id STRING, customer_id STRING, "
                                                "amount STRING").load(
        str(new / "data" / "landing" / "orders"))
    query = (df.writeStream.format("noop").option("checkpointLocation",
                                                  str(tmp_path / "probe"))
             .trigger(availableNow=True))
    shutil.copytree(new / "data" / "chk" / "raw_orders", tmp_path / "probe",
                    ignore=shutil.ignore_patterns(".tauro"))
    with pytest.raises(Exception, match="Wrong basePath"):
        query.start().awaitTermination()

    # Delta-to-Delta nodes hold no path of the old folder: they run from the copy.
    plan = tauro("plan", "--project-dir", new, "-o", "json")
    assert verdicts(plan.stdout) == {"raw_orders": "incompatible with its checkpoint",
                                     "clean_orders": "compatible change",
                                     "customer_totals": "compatible change"}
    notes = json.loads(plan.stdout)["nodes"][1]["notes"]
    assert notes == [f"the project moved from {old} to {new}"]
    rest = tauro("run", "--project-dir", new, "-s", "clean_orders+")
    assert rest.exit_code == 0, rest.output + rest.stderr
