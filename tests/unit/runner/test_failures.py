"""One readable line out of Spark/Python failure texts, and hints for common run-time errors."""

from __future__ import annotations

from tauro_compile.runner.failures import hint_for, summarize_error

PYTHON_UDF = (
    "[STREAM_FAILED] Query [id = 1f, runId = 2e] terminated with exception: Job aborted due to "
    "stage failure: Task 0 in stage 1.0 failed 1 times, most recent failure: Lost task 0.0 in "
    "stage 1.0 (TID 1) (192.0.2.2 executor driver): org.apache.spark.api.python.PythonException: "
    "Traceback (most recent call last):\n"
    '  File "/p/transforms/x.py", line 19, in boom\n'
    '    raise ValueError("poison value 3")\n'
    "ValueError: poison value 3\n\n"
    "\tat org.apache.spark.api.python.BasePythonRunner.handle(PythonRunner.scala:581)\n"
    "\tat org.apache.spark.scheduler.Task.run(Task.scala:147)\n"
)
JVM = (
    "org.apache.spark.sql.streaming.StreamingQueryException: [STREAM_FAILED] Query [id = a, "
    "runId = b] terminated with exception: org.apache.spark.sql.AnalysisException: "
    "[DELTA_FAILED_TO_MERGE_FIELDS] Failed to merge fields 'amount' and 'amount'.\n"
    "\tat org.apache.spark.sql.delta.X.y(X.scala:1)\n"
    "Caused by: something else\n"
)


def test_python_error_inside_a_task_gives_its_last_traceback_line() -> None:
    assert summarize_error(PYTHON_UDF) == "ValueError: poison value 3"


def test_jvm_error_loses_class_names_and_stream_wrapper_but_keeps_error_class() -> None:
    assert summarize_error(JVM) == (
        "[DELTA_FAILED_TO_MERGE_FIELDS] Failed to merge fields 'amount' and 'amount'.")


def test_plain_and_empty_texts() -> None:
    assert summarize_error("just a message\nmore") == "just a message"
    assert summarize_error(None) == "unknown error"
    assert summarize_error("x" * 1000).endswith("...") and len(summarize_error("x" * 1000)) == 300


def test_hints_for_common_run_time_errors() -> None:
    assert "input.path" in hint_for("[PATH_NOT_FOUND] Path does not exist: file:/data/in")
    assert "mergeSchema" in hint_for(JVM)
    assert "checkpoint at /ck/a" in hint_for("java.io.IOException: bad file /ck/a/offsets/0",
                                             checkpoint="/ck/a")
    assert "bootstrap" in hint_for("Timed out waiting for a node assignment. kafka")
    assert hint_for("ValueError: poison value 3") is None
