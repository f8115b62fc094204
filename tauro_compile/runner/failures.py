"""Turn a Spark/Python failure into one readable line and a hint saying what to do.

Spark wraps a Python error raised inside a task several times ("Job aborted due to stage
failure: ... PythonException: Traceback ... ValueError: bad value" followed by hundreds of
JVM frames). The user needs the last line of the Python traceback, or the first line of
the JVM message without its class names; the full text still goes to run_results.json.
"""

from __future__ import annotations

import re

_JAVA_CLASS_PREFIX = re.compile(
    r"^(?:(?:[a-z_][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)|py4j\.protocol\.Py4JJavaError"
    r"|pyspark\.errors\.exceptions\.\w+\.\w+)\s*:\s*")
_STREAM_FAILED = re.compile(
    r"^\[STREAM_FAILED\]\s*Query \[id = [^\]]*\] terminated with exception:\s*", re.I)
_QUERY_TERMINATED = re.compile(r"^Query [^\n]*? terminated with exception:\s*", re.I)
_STAGE_FAILURE = re.compile(
    r"^Job aborted due to stage failure:.*?most recent failure:.*?\)\s*:\s*", re.S)
_PY_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b.*)$")
_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")
_ERROR_CLASS = re.compile(r"^\[[A-Z][A-Z0-9_.]+\]\s*")
MAX_SUMMARY = 300


def summarize_error(text: str | None) -> str:
    """One line naming the cause of a failure, without JVM noise."""
    if not text:
        return "unknown error"
    python_line = _last_python_error(text)
    if python_line:
        return _clip(python_line)
    for line in _candidate_lines(text):
        return _clip(line)
    return _clip(text.strip().splitlines()[0])


def _candidate_lines(text: str) -> list[str]:
    body = text.strip()
    for _ in range(6):
        before = body
        body = _STREAM_FAILED.sub("", body)
        body = _QUERY_TERMINATED.sub("", body)
        body = _STAGE_FAILURE.sub("", body)
        body = _JAVA_CLASS_PREFIX.sub("", body)
        if body == before:
            break
    lines = []
    for raw in body.splitlines():
        line = raw.strip()
        if not line or _FRAME.match(raw) or line.startswith(("at ", "Caused by:", "JVM stacktrace")):
            continue
        lines.append(line)
    return lines


def _last_python_error(text: str) -> str | None:
    """The `Type: message` line ending the first Python traceback in `text`, if any."""
    start = text.find("Traceback (most recent call last):")
    if start < 0:
        return None
    found = None
    for raw in text[start:].splitlines()[1:]:
        if _FRAME.match(raw) or raw.startswith("\tat "):
            break
        if raw.startswith(" ") or not raw.strip():
            if found:
                break
            continue
        match = _PY_ERROR_LINE.match(raw.strip())
        if match:
            found = match.group(1)
    return found


def _clip(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 3] + "..."


def hint_for(text: str | None, *, checkpoint: str | None = None) -> str | None:
    """What the user can do about a failure, for the errors a runner commonly meets."""
    if not text:
        return None
    low = text.lower()
    mentions_checkpoint = bool(checkpoint) and checkpoint.rstrip("/").lower() in low
    if mentions_checkpoint or ("checkpoint" in low and any(
            word in low for word in ("corrupt", "malformed", "unreadable", "incompatible",
                                     "failed to read", "cannot read", "invalid"))):
        where = f" at {checkpoint}" if checkpoint else ""
        return (f"the checkpoint{where} cannot be used: restore it, or delete it (and the "
                "node's output) to reprocess the input from the start")
    if "path does not exist" in low or "path_not_found" in low:
        return "create the input directory or fix `input.path`, then run again"
    if "delta_failed_to_merge_fields" in low or "schema mismatch" in low or (
            "delta" in low and "schema" in low and ("merge" in low or "mismatch" in low)):
        return ("the Delta table's schema conflicts with the node's output: set "
                "`output.options.mergeSchema: 'true'` to evolve it, or write to a new path")
    if "kafka" in low and any(word in low for word in ("timeout", "timed out", "broker",
                                                       "bootstrap", "connection")):
        return "check `kafka.bootstrap.servers` and that the broker is reachable from Spark"
    return None
