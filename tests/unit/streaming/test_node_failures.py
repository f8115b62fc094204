"""One readable line out of Spark/Python failure texts, and hints for common run-time errors."""

from __future__ import annotations

from tauro_compile.streaming.node_failures import explain_failure, hint_for, summarize_error

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
    unreadable = hint_for("[MALFORMED_LOG_FILE] Log file was malformed: failed to read correct "
                          "log version from file:/ck/a/offsets/0", checkpoint="/ck/a")
    assert "checkpoint at /ck/a cannot be read" in unreadable
    assert "reads its input again from the beginning" in unreadable  # what deleting costs
    # A failure that merely mentions a checkpoint file is not a broken checkpoint.
    assert hint_for("java.io.IOException: bad file /ck/a/offsets/0", checkpoint="/ck/a") is None
    assert "bootstrap" in hint_for("Timed out waiting for a node assignment. kafka")
    assert hint_for("ValueError: poison value 3") is None


FOREACH_BATCH = (
    "org.apache.spark.sql.streaming.StreamingQueryException: [FOREACH_BATCH_USER_FUNCTION_ERROR]"
    " An error occurred in the user provided function in foreach batch sink. Reason: An exception"
    " was raised by the Python Proxy. Return Message: Traceback (most recent call last):\n"
    '  File "/venv/py4j/clientserver.py", line 644, in _call_proxy\n'
    "    return_value = getattr(self.pool[obj_id], method)(*params)\n"
    "                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
    '  File "/work/tauro_compile/streaming/batch_writer.py", line 258, in __call__\n'
    "    raise StreamingQueryError(\n"
    "tauro_compile.streaming.exceptions.StreamingQueryError: node 'clean': batch 0 was blocked "
    "before writing: node 'clean': the stream's schema breaks contract 'c', nothing was written:\n"
    "  - column 'event_time': incompatible type (expected date, found timestamp)\n"
    "  - column 'x': incompatible type (expected date, found timestamp) (hint: nothing of this "
    "batch was written; restart the node: the batch is retried from the checkpoint)\n"
    " SQLSTATE: 39000\n"
    "Caused by: py4j.Py4JException: An exception was raised by the Python Proxy.\n"
    "\tat org.apache.spark.X.y(X.scala:1)\n"
)


def test_tauro_error_in_foreach_batch_keeps_its_lines_and_its_own_hint() -> None:
    found = explain_failure(FOREACH_BATCH, checkpoint="/ck/clean")
    assert found.summary == ("batch 0 was blocked before writing: node 'clean': "
                             "the stream's schema breaks contract 'c', nothing was written:")
    assert found.kind == "tauro"
    assert found.details == (
        "- column 'event_time': incompatible type (expected date, found timestamp)",
        "- column 'x': incompatible type (expected date, found timestamp)")
    assert found.hint == ("nothing of this batch was written; restart the node: the batch is "
                          "retried from the checkpoint")
    assert found.render().splitlines()[-1].startswith("  hint: nothing of this batch")


def test_third_party_exception_classes_lose_their_module_path() -> None:
    text = ("Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
            "pyspark.errors.exceptions.base.PySparkValueError: [X] bad value\n")
    assert explain_failure(text).summary == "PySparkValueError: [X] bad value"
