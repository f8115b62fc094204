"""`tauro run --log-format json`: every line Tauro prints is one JSON object (real Spark)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.spark

PROJECT = {
    "tauro_project.yml": """
        name: shop
        version: "1.0"
        profile: dev
    """,
    "profiles.yml": """
        profiles:
          dev:
            spark: {master: "local[2]"}
            paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}
    """,
    "nodes/peek.yml": """
        input:
          format: file_stream
          path: "{{ target.paths.landing }}/orders"
          file_format: json
          schema: "order_id STRING, amount DOUBLE"
        output: {format: console}
        streaming: {trigger: {type: available_now}}
    """,
    "data/landing/orders/a.json": '{"order_id": "o1", "amount": 2.5}\n',
}


def test_json_lines_with_plan_log_states_batches_and_console_rows(
        spark, make_project, tauro) -> None:
    project = make_project(PROJECT)
    result = tauro("run", "--project-dir", project, "--log-format", "json")
    assert result.exit_code == 0, result.output + result.stderr
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert all({"ts", "level", "msg"} <= set(d) for d in docs)
    events = [d.get("event") for d in docs]
    assert events[:2] == ["plan", "log"] and docs[0]["nodes"] == ["peek"]
    states = [d["state"] for d in docs if d.get("event") == "node"]
    assert states == ["starting", "running", "succeeded"]
    batch = next(d for d in docs if d.get("event") == "batch")
    assert (batch["node"], batch["batch_id"], batch["input_rows"]) == ("peek", 0, 1)
    assert any("|      o1|   2.5|" in d["msg"] for d in docs), [d["msg"] for d in docs]
    assert any(d["msg"].startswith("Run succeeded in") for d in docs)
    text = (project / docs[1]["path"]).read_text()  # an absolute path stays itself
    assert "INFO tauro.run: node peek: running -> succeeded" in text

    # Nothing new: told before Spark starts, as its own event, each line still one object.
    again = tauro("run", "--project-dir", project, "--log-format", "json")
    assert again.exit_code == 0, again.output + again.stderr
    docs = [json.loads(line) for line in again.output.splitlines()]
    nothing = next(d for d in docs if d.get("event") == "nothing_new")
    assert nothing["nodes"] == ["peek"] and "Spark not started" in nothing["msg"]
    assert "spark_ready" not in [d.get("event") for d in docs]
    assert [d["state"] for d in docs if d.get("event") == "node"] == ["succeeded"]
