"""The library API explains failures by the same rules as `tauro run` (on real Spark).

`StreamingQueryManager.await_query` raises a Tauro error raised inside foreachBatch as
itself (a blocked batch), and for the user's own code a StreamingQueryError whose message
is the real cause and whose context has the user's file:line and a hint for that cause.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streaming_helpers import bounded_node, write_json_lines, write_user_module

from tauro_compile.streaming import StreamingQueryError, StreamingQueryManager
from tauro_compile.streaming.failures import FOREACH_BATCH_HINT, UDF_HINT

pytestmark = pytest.mark.spark

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:lib:orders
version: 1.0.0
schema:
  - name: orders
    properties:
      - name: amount
        logicalType: number
        quality:
          - mustBeGreaterOrEqualTo: 0
"""


def _input(source: Path) -> dict:
    return {"format": "file_stream", "path": str(source), "file_format": "json",
            "schema": "id BIGINT, amount DOUBLE"}


def test_a_blocked_batch_comes_out_of_await_query_as_itself(spark, tmp_path: Path) -> None:
    source = tmp_path / "in"
    write_json_lines(source, "a.json", [{"id": 1, "amount": 2.0}, {"id": 2, "amount": -1.0}])
    (tmp_path / "orders.yaml").write_text(CONTRACT)
    node = bounded_node("lib_blocked", _input(source),
                        {"format": "delta", "path": str(tmp_path / "out")},
                        contract={"path": str(tmp_path / "orders.yaml"), "policy": "block"},
                        streaming={"checkpoint_location": str(tmp_path / "chk")})
    manager = StreamingQueryManager({"spark": spark})
    manager.create_and_start_query(node)
    with pytest.raises(StreamingQueryError) as info:
        manager.await_query("lib_blocked", timeout=300)
    error = info.value
    assert error is manager.failure_of("lib_blocked")  # the error foreachBatch raised
    assert error.message.startswith("node 'lib_blocked': batch 0 was blocked before writing")
    assert "nothing of batch 0 was written" in error.hint
    assert "FOREACH_BATCH_USER_FUNCTION_ERROR" not in str(error)


def test_foreach_batch_and_udf_errors_carry_the_users_file_and_line(
        spark, tmp_path: Path, monkeypatch) -> None:
    module = write_user_module(tmp_path, monkeypatch, "lib_user_code", """
        from pyspark.sql import functions as F
        from pyspark.sql.types import DoubleType


        def send(batch_df, batch_id):
            raise TimeoutError("the webhook did not answer")


        def inverse(value):
            return 1 / value


        def with_inverse(df):
            return df.withColumn("inv", F.udf(inverse, DoubleType())("amount"))
    """)
    code = (tmp_path / "user_code" / f"{module}.py").read_text().splitlines()
    source = tmp_path / "in"
    write_json_lines(source, "a.json", [{"id": 1, "amount": 0.0}])
    manager = StreamingQueryManager({"spark": spark, "project_dir": str(tmp_path)})

    sink = bounded_node("lib_sink", _input(source),
                        {"format": "foreach_batch", "function": f"{module}:send"},
                        streaming={"checkpoint_location": str(tmp_path / "chk1")})
    manager.create_and_start_query(sink)
    with pytest.raises(StreamingQueryError) as info:
        manager.await_query("lib_sink", timeout=300)
    line = next(i for i, text in enumerate(code, 1) if "raise TimeoutError" in text)
    error = info.value
    assert error.message == "node 'lib_sink': query failed: TimeoutError: the webhook did not answer"
    assert error.context["location"].startswith(f"user_code/{module}.py:{line}, in send")
    assert error.hint == FOREACH_BATCH_HINT and isinstance(error.__cause__, TimeoutError)

    # The executor's Python worker cannot import the test's module: ship its code by value
    # (file names and line numbers travel with it).
    import importlib

    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(importlib.import_module(module))
    udf = bounded_node("lib_udf", _input(source),
                       {"format": "delta", "path": str(tmp_path / "out2")},
                       transforms=[{"python": f"{module}:with_inverse"}],
                       streaming={"checkpoint_location": str(tmp_path / "chk2")})
    manager.create_and_start_query(udf)
    with pytest.raises(StreamingQueryError) as info:
        manager.await_query("lib_udf", timeout=300)
    line = next(i for i, text in enumerate(code, 1) if "return 1 / value" in text)
    error = info.value
    assert error.message == "node 'lib_udf': query failed: ZeroDivisionError: float division by zero"
    assert error.context["location"] == f"user_code/{module}.py:{line}, in inverse: return 1 / value"
    assert error.context["kind"] == "udf" and error.hint == UDF_HINT
