"""A failing node's summary points at the user's code, in Tauro's words, with a true hint.

Every kind of failure inside a node, on the real shared Spark (`tauro run` in-process):
a python transform raising while the query is built, a UDF raising on an executor, a SQL
step Spark cannot analyse, the user's foreach_batch function raising, a contract blocking
a batch, a strategy deciding to block. Each summary names the node, the cause's first line,
the user's file:line (or the node file's line) and a hint for that cause; none advises
deleting a checkpoint, and a Tauro error raised inside foreachBatch is shown as itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tauro_compile.streaming.failures import (
    FOREACH_BATCH_HINT,
    TRANSFORM_HINT,
    UDF_HINT,
)

pytestmark = pytest.mark.spark

BASE = {
    "tauro_project.yml": """
        name: shop
        version: "1.0"
        profile: dev
        sources:
          landing:
            format: file_stream
            path: "{{ target.paths.landing }}/orders"
            file_format: json
            schema: "order_id STRING, amount DOUBLE, qty INT"
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
    "data/landing/orders/a.json": (
        '{"order_id": "o1", "amount": 10.0, "qty": 2}\n'
        '{"order_id": "o2", "amount": 3.0, "qty": 0}\n'
        '{"order_id": "o3", "amount": -1.0, "qty": 1}\n'),
}
NO_DELETE = re.compile(r"delet|remove the checkpoint|FOREACH_BATCH_USER_FUNCTION_ERROR|"
                       r"TASK_WRITE_FAILED|Traceback|\tat ", re.I)


def run_failing(make_project, tauro, files: dict[str, str], *extra: str):
    project = make_project({**BASE, **files})
    result = tauro("run", "--project-dir", project, *extra)
    assert result.exit_code == 1, result.output + result.stderr
    return project, result


def line_of(project: Path, rel: str, text: str) -> int:
    lines = (project / rel).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def failure_block(stderr: str, node: str) -> str:
    start = stderr.index(f"Node '{node}' failed: ")
    end = stderr.index("Full errors are in", start)
    return stderr[start:end]


def test_python_transform_raising_names_its_file_line_and_node_line(
        spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "transforms/orders.py": """
            LOOKUPS = {}


            def enrich(df):
                rates = LOOKUPS["rates.csv"]
                return df.withColumn("rate", rates)
        """,
        "nodes/enriched.yml": """
            description: orders with their rate
            input: {source: landing}
            transforms:
              - python: transforms.orders:enrich
            output: {format: delta, path: "{{ target.paths.warehouse }}/enriched"}
        """,
    })
    block = failure_block(result.stderr, "enriched")
    code_line = line_of(project, "transforms/orders.py", 'LOOKUPS["rates.csv"]')
    node_line = line_of(project, "nodes/enriched.yml", "python: transforms.orders:enrich")
    assert block.splitlines()[0] == "Node 'enriched' failed: KeyError: 'rates.csv'"
    assert (f"  at transforms/orders.py:{code_line}, in enrich: "
            'rates = LOOKUPS["rates.csv"]') in block
    assert f"  node file: nodes/enriched.yml:{node_line} (transforms[0].python)" in block, block
    assert f"  hint: {TRANSFORM_HINT}" in block
    assert not NO_DELETE.search(result.stderr)
    assert re.search(r"^Log: .*run-\d{8}-\d{6}(-\d+)?\.log$", result.stderr, re.M)


def test_udf_raising_on_an_executor_names_its_file_and_line(spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "transforms/udfs.py": """
            from pyspark.sql import functions as F
            from pyspark.sql.types import DoubleType


            def per_item(amount, qty):
                return amount / qty


            def price_per_item(df):
                udf = F.udf(per_item, DoubleType())
                return df.withColumn("per_item", udf("amount", "qty"))
        """,
        "nodes/priced.yml": """
            input: {source: landing}
            transforms:
              - python: transforms.udfs:price_per_item
            output: {format: delta, path: "{{ target.paths.warehouse }}/priced"}
        """,
    })
    block = failure_block(result.stderr, "priced")
    line = line_of(project, "transforms/udfs.py", "return amount / qty")
    assert block.splitlines()[0] == (
        "Node 'priced' failed: ZeroDivisionError: float division by zero")

    assert f"  at transforms/udfs.py:{line}, in per_item: return amount / qty" in block
    assert f"  hint: {UDF_HINT}" in block
    assert not NO_DELETE.search(result.stderr)


def test_sql_error_points_at_the_line_of_the_node_file(spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "nodes/big_orders.yml": """
            input: {source: landing}
            transforms:
              - sql: >
                  SELECT order_id, amount
                  FROM {{ input }}
                  WHERE amont > 5
            output: {format: delta, path: "{{ target.paths.warehouse }}/big_orders"}
        """,
    })
    block = failure_block(result.stderr, "big_orders")
    line = line_of(project, "nodes/big_orders.yml", "WHERE amont > 5")
    first = block.splitlines()[0]
    assert first.startswith("Node 'big_orders' failed: [UNRESOLVED_COLUMN.WITH_SUGGESTION] ")
    assert "`amont`" in first and "SQLSTATE" not in first
    assert f"  node file: nodes/big_orders.yml:{line} (transforms[0].sql)" in block
    assert "  hint: did you mean `amount`?; the input's columns are: order_id, amount, qty" in block
    assert not NO_DELETE.search(result.stderr)


def test_foreach_batch_function_raising_names_its_file_line(spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "transforms/sinks.py": """
            def send(batch_df, batch_id):
                rows = batch_df.count()
                raise ConnectionError(f"webhook refused {rows} rows of batch {batch_id}")
        """,
        "nodes/notify.yml": """
            input: {source: landing}
            output: {format: foreach_batch, function: transforms.sinks:send}
        """,
    })
    block = failure_block(result.stderr, "notify")
    line = line_of(project, "transforms/sinks.py", "raise ConnectionError")
    assert block.splitlines()[0] == (
        "Node 'notify' failed: ConnectionError: webhook refused 3 rows of batch 0")
    assert f"  at transforms/sinks.py:{line}, in send" in block
    assert f"  hint: {FOREACH_BATCH_HINT}" in block
    assert not NO_DELETE.search(result.stderr)


CONTRACT = """
    apiVersion: v3.0.2
    kind: DataContract
    id: urn:shop:orders
    version: 1.0.0
    schema:
      - name: orders
        properties:
          - name: order_id
            logicalType: string
            required: true
          - name: amount
            logicalType: number
            quality:
              - mustBeGreaterOrEqualTo: 0
"""


def test_contract_block_is_shown_as_itself_with_its_own_hint(spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "contracts/orders.yaml": CONTRACT,
        "nodes/checked.yml": """
            input: {source: landing}
            output: {format: delta, path: "{{ target.paths.warehouse }}/checked"}
            contract: {path: contracts/orders.yaml, policy: block}
        """,
    })
    block = failure_block(result.stderr, "checked")
    assert block.splitlines()[0].startswith(
        "Node 'checked' failed: batch 0 was blocked before writing: contract "
        "'urn:shop:orders' v1.0.0 (policy block): ")
    assert "amount" in block.splitlines()[0]
    assert ("  hint: nothing of batch 0 was written. The next run retries it from the "
            "checkpoint: to let it through, fix the data upstream or change the node's "
            "contract or contract.policy (e.g. quarantine)") in block
    assert not NO_DELETE.search(result.stderr)
    assert not (project / "data" / "warehouse" / "checked" / "_delta_log").exists() or \
        spark.read.format("delta").load(str(project / "data/warehouse/checked")).count() == 0


def test_strategy_decision_is_shown_as_itself(spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "contracts/orders.yaml": CONTRACT,
        "transforms/policies.py": """
            from tauro_compile.contracts.result import Decision


            class NoNegativeAmounts:
                def decide(self, context):
                    if context.validation.status == "fail":
                        return Decision("block", "finance forbids negative amounts")
                    return None
        """,
        "nodes/guarded.yml": """
            input: {source: landing}
            output: {format: delta, path: "{{ target.paths.warehouse }}/guarded"}
            contract:
              path: contracts/orders.yaml
              policy: warn
              strategy: transforms.policies:NoNegativeAmounts
        """,
    })
    block = failure_block(result.stderr, "guarded")
    assert block.splitlines()[0].startswith("Node 'guarded' failed: batch 0 was blocked before "
                                            "writing: ")
    assert "finance forbids negative amounts" in block.splitlines()[0]
    assert "hint: nothing of batch 0 was written" in block
    assert not NO_DELETE.search(result.stderr)


def test_debug_prints_the_whole_trace_and_the_log_file_has_it(spark, make_project, tauro) -> None:
    project, result = run_failing(make_project, tauro, {
        "transforms/sinks.py": """
            def send(batch_df, batch_id):
                raise ConnectionError("webhook refused")
        """,
        "nodes/notify.yml": """
            input: {source: landing}
            output: {format: foreach_batch, function: transforms.sinks:send}
        """,
    }, "--debug")
    assert "Full error of node 'notify':" in result.stderr
    full = result.stderr.split("Full error of node 'notify':", 1)[1]
    assert "=== Streaming Query ===" in full and "\tat org.apache.spark" in full  # whole trace
    log_path = next(line for line in result.stderr.splitlines() if line.startswith("Log: "))
    log_text = Path(log_path.removeprefix("Log: ")).read_text()  # absolute: not under cwd
    assert "=== Streaming Query ===" in log_text and "\tat org.apache.spark" in log_text
    assert "ConnectionError: webhook refused" in log_text
    doc = json.loads((project / "target" / "run_results.json").read_text())
    assert "ConnectionError: webhook refused" in doc["nodes"]["notify"]["error_summary"]
