"""Turn a Spark/Python failure into one readable line and a hint saying what to do.

Spark wraps a Python error raised inside a task several times ("Job aborted due to stage
failure: ... PythonException: Traceback ... ValueError: bad value" followed by hundreds of
JVM frames). The user needs the last line of the Python traceback, or the first line of
the JVM message without its class names; the full text still goes to run_results.json.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
_USER_RAISED = re.compile(r"\[USER_RAISED_EXCEPTION\]\s*(.+?)(?:\s+SQLSTATE: \w+)?$", re.M)
MAX_SUMMARY = 300
MAX_DETAILS = 8
_HINT_SUFFIX = re.compile(r"\s*\(hint: (.*)\)\s*$")


@dataclass(frozen=True)
class Explanation:
    """A failure as a user reads it: one line, a few detail lines, and what to do."""

    summary: str
    details: tuple[str, ...] = ()
    hint: str | None = None

    def render(self) -> str:
        lines = [self.summary, *(f"  {d}" for d in self.details)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


def explain_failure(text: str | None, *, checkpoint: str | None = None) -> Explanation:
    """The cause of a failure without JVM noise, its detail lines, and a hint when one is known."""
    if not text:
        return Explanation("unknown error")
    raised = _USER_RAISED.search(text)  # Tauro's own raise_error() inside a task
    python_error = _python_error(text) if raised is None else (raised.group(1).strip(), [])
    if python_error is not None:
        message, details = python_error
    else:
        lines = _candidate_lines(text) or [text.strip().splitlines()[0]]
        message, details = lines[0], []
    message, embedded_hint = _split_hint(message)
    if details:
        details[-1], last_hint = _split_hint(details[-1])
        embedded_hint = embedded_hint or last_hint
    return Explanation(_clip(message), tuple(_clip(d) for d in details[:MAX_DETAILS] if d),
                       embedded_hint or hint_for(text, checkpoint=checkpoint))


def summarize_error(text: str | None) -> str:
    """One line naming the cause of a failure, without JVM noise."""
    return explain_failure(text).summary


def _split_hint(line: str) -> tuple[str, str | None]:
    """`message (hint: do this)` -> (`message`, `do this`); Tauro's errors end like that."""
    match = _HINT_SUFFIX.search(line)
    if not match:
        return line, None
    return line[: match.start()].rstrip(), match.group(1).strip()


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


def _python_error(text: str) -> tuple[str, list[str]] | None:
    """The `Type: message` (and its continuation lines) ending the first Python traceback."""
    start = text.find("Traceback (most recent call last):")
    if start < 0:
        return None
    message: str | None = None
    details: list[str] = []
    for raw in text[start:].splitlines()[1:]:
        if message is None:
            if _FRAME.match(raw) or raw.startswith("\tat "):
                return None
            match = _PY_ERROR_LINE.match(raw.strip()) if not raw.startswith(" ") else None
            if match:
                message = _short_class(match.group(1))
            continue
        if (not raw.strip() or raw.startswith(("\tat ", "Caused by", " SQLSTATE"))
                or _FRAME.match(raw)):
            break
        details.append(raw.strip())
    return None if message is None else (message, details)


def _short_class(line: str) -> str:
    """Drop the module path of the exception class; drop Tauro's own class names entirely."""
    name, sep, rest = line.partition(":")
    if name.startswith("tauro_compile."):
        return rest.strip() if sep else line
    return name.rsplit(".", 1)[-1] + sep + rest


def _clip(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_SUMMARY else line[: MAX_SUMMARY - 3] + "..."


def hint_for(text: str | None, *, checkpoint: str | None = None) -> str | None:
    """What the user can do about a failure, for the errors a runner commonly meets."""
    if not text:
        return None
    low = text.lower()
    about_checkpoint = bool(checkpoint) and checkpoint.rstrip("/").lower() in low and any(
        part in low for part in ("/offsets", "/commits", "/metadata", "/state", "/sources"))
    if about_checkpoint or ("checkpoint" in low and any(
            word in low for word in ("corrupt", "malformed", "unreadable", "incompatible",
                                     "failed to read", "cannot read"))):
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
