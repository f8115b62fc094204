"""A failed query explained in the user's terms: the real cause, the user's code, a true hint.

Spark wraps an error many times (`[STREAM_FAILED]` > `[FOREACH_BATCH_USER_FUNCTION_ERROR]` or
`Job aborted due to stage failure` > `[TASK_WRITE_FAILED]` > `PythonException` > the user's
`ZeroDivisionError`, with hundreds of JVM frames between). `explain` finds the cause, in this
order of trust:

1. the Python exception object behind the failure, when this process has it: an error a
   node's `foreachBatch` raised (`MicroBatchWriter.failure`: a contract block, a strategy's
   decision, a Kafka record Tauro refused, the user's foreach_batch function, ...) or an
   error raised while the query was built (a python transform, a SQL step);
2. a Tauro message raised inside a Spark task (`[USER_RAISED_EXCEPTION]`: a Kafka record
   that does not parse with `on_parse_error: fail`);
3. the Python traceback in the text (a UDF that raised on an executor);
4. a checkpoint Spark cannot read (only then the hint says what resetting it costs);
5. the first line of Spark's own error, without its class names and wrappers.

The user's code is the frames of the traceback in the project's files (`project_dir`), or,
without one, outside Python's, pyspark's and Tauro's own files; the last one is where it
broke. A Tauro error comes out as itself (its message and its own hint).
"""

from __future__ import annotations

import re
import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tauro_compile.errors import TauroError

MAX_LINE = 300
MAX_DETAILS = 8
_HINT_SUFFIX = re.compile(r"\s*\(hint: (.*)\)\s*$")
_USER_RAISED = re.compile(r"\[USER_RAISED_EXCEPTION\]\s*(?P<msg>.*?)(?:\s*SQLSTATE: \w+)?\s*$",
                          re.M)
_FRAME_TEXT = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<fn>.+)$')
_JAVA_CLASS_PREFIX = re.compile(
    r"^(?:(?:[a-z_][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)|py4j\.protocol\.Py4JJavaError"
    r"|pyspark\.errors\.exceptions\.\w+\.\w+)\s*:\s*")
_STREAM_FAILED = re.compile(
    r"^\[STREAM_FAILED\]\s*Query \[id = [^\]]*\] terminated with exception:\s*", re.I)
_QUERY_TERMINATED = re.compile(r"^Query [^\n]*? terminated with exception:\s*", re.I)
_STAGE_FAILURE = re.compile(
    r"^Job aborted due to stage failure:.*?most recent failure:.*?\)\s*:\s*", re.S)
_WRAPPERS = re.compile(r"^\[(?:FOREACH_BATCH_USER_FUNCTION_ERROR|TASK_WRITE_FAILED)\][^\n]*\n?")
_PY_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)\b.*)$")
_JAVA_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")
_SQLSTATE = re.compile(r"\s*SQLSTATE: \w+\s*;?.*$")
_SUGGESTION = re.compile(r"Did you mean one of the following\? \[(?P<names>[^\]]*)\]")
_SQL_POSITION = re.compile(r"line (?P<line>\d+),? pos(?:ition)? (?P<pos>\d+)")
_CHECKPOINT_MARKERS = ("malformed_log_file", "failed to read log file", "invalid_checkpoint",
                       "incompatible_data_for_stream", "state_store_", "cannot read the "
                       "checkpoint", "checkpoint is corrupt", "corrupted checkpoint",
                       "unsupported_log_version", "invalid_log_version")

TRANSFORM_HINT = ("the function raised while Tauro built the node's query, before any data "
                  "was read: fix it and run again (nothing was written; the checkpoint is "
                  "unchanged)")
UDF_HINT = ("a Python function raised on a row while a batch ran on an executor; the batch "
            "was not committed: fix the function (or guard that value) and run again, the "
            "batch is retried from the checkpoint")
FOREACH_BATCH_HINT = ("the function raised while a batch was being written; fix it and run "
                      "again: Spark retries that batch from the checkpoint (anything the "
                      "function itself wrote before it raised is not undone)")
KAFKA_PARSE_HINT = ("fix the producer or input.json_schema, or set input.on_parse_error: drop "
                    "(skip such records) or dead_letter (keep them in a dead-letter sink); "
                    "the batch was not committed, the next run reads it again")
CHECKPOINT_HINT = ("the checkpoint{where} cannot be read. Restore it from a backup if you have "
                   "one; otherwise set streaming.checkpoint_location to a new, empty path (or "
                   "delete the old one): the node then reads its input again from the "
                   "beginning, and an append output gets those rows a second time unless you "
                   "clear it too")


@dataclass(frozen=True)
class CodeFrame:
    """One frame of the user's code in a traceback."""

    file: str
    line: int
    function: str
    code: str | None = None

    def render(self) -> str:
        text = f"{self.file}:{self.line}, in {self.function}"
        return text + (f": {self.code}" if self.code else "")


@dataclass(frozen=True)
class FailureExplanation:
    """A failure as the user reads it; `kind` says which rule found the cause."""

    kind: str
    summary: str
    details: tuple[str, ...] = ()
    hint: str | None = None
    frames: tuple[CodeFrame, ...] = ()     # the user's frames, innermost last
    field: str | None = None               # the node field the failure is about
    sql_fragment: str | None = None        # the part of a SQL step Spark points at

    @property
    def location(self) -> CodeFrame | None:
        return self.frames[-1] if self.frames else None


class FailureText(str):
    """The full text of an error that also carries the Python exception behind it, if any."""

    exception: BaseException | None

    def __new__(cls, text: str, exception: BaseException | None = None) -> FailureText:
        obj = super().__new__(cls, text)
        obj.exception = exception
        return obj


def explain(error: BaseException | str | None, *, python_error: BaseException | None = None,
            project_dir: str | Path | None = None,
            checkpoint: str | None = None) -> FailureExplanation:
    """The cause of a failure, the user's frames and a hint (see the module docstring)."""
    if python_error is None:
        if isinstance(error, BaseException):
            python_error, error = error, None
        else:
            python_error = getattr(error, "exception", None)
    text = str(error) if error is not None else ""
    if python_error is not None:
        found = explain_exception(python_error, project_dir)
        if found is not None:
            return found
        text = text or _exception_text(python_error)
    return explain_text(text, project_dir=project_dir, checkpoint=checkpoint)


def explain_exception(exc: BaseException, project_dir: str | Path | None = None,
                      ) -> FailureExplanation | None:
    """The explanation of a Python exception object (None: only its text says anything)."""
    from tauro_compile.streaming.exceptions import StreamingError

    if isinstance(exc, StreamingError):
        return _explain_streaming_error(exc, project_dir)
    if isinstance(exc, TauroError):
        message, hint = _split_hint(exc.message)
        return FailureExplanation("tauro", _clip(message), hint=exc.hint or hint)
    frames = user_frames_of(exc, project_dir)
    text = _exception_text(exc)
    if _is_spark_error(exc):
        # The user's code called Spark, and Spark failed: Spark's cause, the user's line.
        inner = explain_text(text, project_dir=project_dir)
        return FailureExplanation(inner.kind, inner.summary, inner.details,
                                  inner.hint or FOREACH_BATCH_HINT, frames or inner.frames)
    summary = _clip(f"{type(exc).__name__}: {exc}".strip().splitlines()[0])
    return FailureExplanation("python", summary, hint=FOREACH_BATCH_HINT, frames=frames)


def _explain_streaming_error(exc: Any, project_dir: str | Path | None) -> FailureExplanation:
    context = exc.context
    operation = context.get("operation")
    field = context.get("field")
    message = _strip_node(exc.message, context.get("node_name"))
    cause = exc.__cause__
    if operation == "call_python_step" and cause is not None:
        summary = _clip(f"{type(cause).__name__}: {cause}".strip().splitlines()[0])
        return FailureExplanation("python_transform", summary, (), TRANSFORM_HINT,
                                  user_frames_of(cause, project_dir), field)
    if operation == "run_sql_step" and cause is not None:
        return _explain_sql(exc, cause, field)
    if operation == "write_batch":
        return FailureExplanation("contract_block", _clip(message), hint=exc.hint, field=field)
    frames = user_frames_of(cause, project_dir) if cause is not None else ()
    if cause is not None and not isinstance(cause, TauroError) and not frames and \
            not exc.hint:
        inner = explain_text(_exception_text(cause), project_dir=project_dir)
        return FailureExplanation(inner.kind, inner.summary, inner.details, inner.hint,
                                  inner.frames, field)
    summary, hint = _split_hint(message)
    return FailureExplanation("tauro", _clip(summary), hint=exc.hint or hint, frames=frames,
                              field=field)


def _explain_sql(exc: Any, cause: BaseException, field: str | None) -> FailureExplanation:
    text = str(getattr(cause, "_desc", None) or cause).strip()
    first = _SQLSTATE.sub("", text.splitlines()[0]) if text else type(cause).__name__
    fragment = sql_fragment(cause)
    hints = []
    suggestion = _SUGGESTION.search(text)
    if suggestion:
        names = [n.strip() for n in suggestion["names"].split(",") if n.strip()]
        if names:
            hints.append(f"did you mean {names[0]}?")
    if exc.hint:
        hints.append(exc.hint)
    return FailureExplanation("sql", _clip(first), hint="; ".join(hints) or None, field=field,
                              sql_fragment=fragment)


def sql_fragment(error: BaseException) -> str | None:
    """The piece of SQL a Spark error points at (its query context), or None."""
    getter = getattr(error, "getQueryContext", None)
    if callable(getter):
        try:
            contexts = getter()
        except Exception:  # no JVM behind the error any more
            contexts = []
        for context in contexts or ():
            try:
                fragment = context.fragment()
            except Exception:  # a context without fragment
                continue
            if fragment:
                return str(fragment)
    return None


def explain_text(text: str | None, *, project_dir: str | Path | None = None,
                 checkpoint: str | None = None) -> FailureExplanation:
    """The explanation of an error known only by its text (a JVM stack trace, say)."""
    if not text or not text.strip():
        return FailureExplanation("unknown", "unknown error")
    raised = _USER_RAISED.search(text)
    if raised:
        message, hint = _split_hint(raised["msg"].strip())
        if "a Kafka record does not parse" in message:
            message = re.sub(r"\.\s*Fix the producer or json_schema, or set on_parse_error: "
                             r"drop or dead_letter\.?$", "", message)
            return FailureExplanation("kafka_parse", _clip(_strip_node(message)),
                                      hint=KAFKA_PARSE_HINT, field="input.on_parse_error")
        return FailureExplanation("raised", _clip(_strip_node(message)), hint=hint)
    python_error = _python_error(text)
    if python_error is not None:
        message, details, frames = python_error
        message, hint = _split_hint(message)
        if details:
            details[-1], last_hint = _split_hint(details[-1])
            hint = hint or last_hint
        user = tuple(f for f in frames if is_user_file(f.file, project_dir))
        shown = tuple(_shown_frame(f, project_dir) for f in user)
        on_executor = any(marker in text for marker in (
            "PythonException", "stage failure", "TASK_WRITE_FAILED", "Task failed while"))
        if message.startswith("node '") or hint:  # a Tauro message, in Tauro's words
            kind = "tauro"
        elif on_executor:
            kind, hint = "udf", UDF_HINT
        else:
            kind, hint = "python", FOREACH_BATCH_HINT
        return FailureExplanation(kind, _clip(_strip_node(message)),
                                  tuple(_clip(d) for d in details[:MAX_DETAILS] if d), hint,
                                  shown)
    if checkpoint_unreadable(text, checkpoint):
        where = f" at {checkpoint}" if checkpoint else ""
        lines = _candidate_lines(text) or [text.strip().splitlines()[0]]
        return FailureExplanation("checkpoint", _clip(lines[0]),
                                  hint=CHECKPOINT_HINT.format(where=where))
    lines = _candidate_lines(text) or [text.strip().splitlines()[0]]
    message, hint = _split_hint(lines[0])
    return FailureExplanation("spark", _clip(_strip_node(message)),
                              hint=hint or spark_hint(text))


def checkpoint_unreadable(text: str, checkpoint: str | None = None) -> bool:
    """True when Spark says the checkpoint itself cannot be used (not just mentions it)."""
    low = text.lower()
    if not any(marker in low for marker in _CHECKPOINT_MARKERS):
        return False
    return checkpoint is None or checkpoint.rstrip("/").lower() in low or "checkpoint" in low


def spark_hint(text: str) -> str | None:
    """What to do about common Spark errors found only as text."""
    low = text.lower()
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


# -- the user's frames ------------------------------------------------------------------
def _excluded_dirs() -> tuple[str, ...]:
    paths = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    package = str(Path(__file__).resolve().parent.parent)
    return tuple(sorted({str(Path(p).resolve()) for p in paths if p} | {package}))


_EXCLUDED = _excluded_dirs()


def is_user_file(path: str, project_dir: str | Path | None = None) -> bool:
    """True for a file of the user's project (or, without one, of no library)."""
    if not path or path.startswith("<"):
        return False
    resolved = str(Path(path).resolve()) if Path(path).is_absolute() else path
    if any(part in resolved for part in ("site-packages", "dist-packages", "/pyspark/",
                                         "/py4j/")):
        return False
    if any(resolved == d or resolved.startswith(d + "/") for d in _EXCLUDED):
        return False
    if project_dir is not None:
        root = str(Path(project_dir).resolve())
        return resolved.startswith(root + "/")
    return True


def user_frames_of(exc: BaseException | None, project_dir: str | Path | None = None,
                   ) -> tuple[CodeFrame, ...]:
    """The user's frames of `exc`'s traceback (and its causes'), innermost last."""
    frames: list[CodeFrame] = []
    seen: set[int] = set()
    current = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for summary in traceback.extract_tb(current.__traceback__):
            if is_user_file(summary.filename, project_dir):
                frames.append(_shown_frame(CodeFrame(summary.filename, summary.lineno or 0,
                                                     summary.name, summary.line or None),
                                           project_dir))
        if frames:
            break
        current = current.__cause__ or current.__context__
    return tuple(frames)


def _shown_frame(frame: CodeFrame, project_dir: str | Path | None) -> CodeFrame:
    if project_dir is None:
        return frame
    try:
        rel = Path(frame.file).resolve().relative_to(Path(project_dir).resolve())
    except ValueError:
        return frame
    return CodeFrame(rel.as_posix(), frame.line, frame.function, frame.code)


# -- text ---------------------------------------------------------------------------------
def _python_error(text: str) -> tuple[str, list[str], list[CodeFrame]] | None:
    """(`Type: message`, continuation lines, frames) of the first Python traceback in `text`."""
    start = text.find("Traceback (most recent call last):")
    if start < 0:
        return None
    message: str | None = None
    details: list[str] = []
    frames: list[CodeFrame] = []
    lines = text[start:].splitlines()[1:]
    for index, raw in enumerate(lines):
        if message is None:
            if _JAVA_FRAME.match(raw) or raw.startswith("\tat "):
                return None
            frame = _FRAME_TEXT.match(raw)
            if frame:
                code = lines[index + 1].strip() if index + 1 < len(lines) else None
                if code and (_FRAME_TEXT.match(lines[index + 1]) or code.startswith("^")):
                    code = None
                frames.append(CodeFrame(frame["file"], int(frame["line"]), frame["fn"].strip(),
                                        code))
                continue
            match = _PY_ERROR_LINE.match(raw.strip()) if not raw.startswith(" ") else None
            if match:
                message = _short_class(match.group(1))
            continue
        if (not raw.strip() or raw.startswith(("\tat ", "Caused by", " SQLSTATE"))
                or _JAVA_FRAME.match(raw)):
            break
        details.append(raw.strip())
    return None if message is None else (message, details, frames)


def _candidate_lines(text: str) -> list[str]:
    body = text.strip()
    for _ in range(8):
        before = body
        body = _STREAM_FAILED.sub("", body)
        body = _QUERY_TERMINATED.sub("", body)
        body = _STAGE_FAILURE.sub("", body)
        body = _JAVA_CLASS_PREFIX.sub("", body)
        body = _WRAPPERS.sub("", body)
        if body == before:
            break
    lines = []
    for raw in body.split("\n=== Streaming Query ===")[0].splitlines():
        line = raw.strip()
        if not line or _JAVA_FRAME.match(raw) or line.startswith(("at ", "Caused by:",
                                                                   "JVM stacktrace", "===")):
            continue
        lines.append(_SQLSTATE.sub("", line) or line)
    return lines


def _short_class(line: str) -> str:
    """Drop the module path of the exception class; drop Tauro's own class names entirely."""
    name, sep, rest = line.partition(":")
    if name.startswith("tauro_compile."):
        return rest.strip() if sep else line
    return name.rsplit(".", 1)[-1] + sep + rest


def _split_hint(line: str) -> tuple[str, str | None]:
    """`message (hint: do this)` -> (`message`, `do this`); Tauro's errors end like that."""
    match = _HINT_SUFFIX.search(line)
    if not match:
        return line, None
    return line[: match.start()].rstrip(), match.group(1).strip()


def _strip_node(message: str, node: str | None = None) -> str:
    """Tauro's messages start with `node 'x': `; the node is named wherever they are shown."""
    if node:
        return message.replace(f"node '{node}': ", "", 1)
    return re.sub(r"^node '[^']+': ", "", message)


def _clip(line: str) -> str:
    line = line.strip()
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 3] + "..."


def _is_spark_error(exc: BaseException) -> bool:
    module = type(exc).__module__ or ""
    return module.startswith(("pyspark.", "py4j."))


def _exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


__all__ = ["CodeFrame", "FailureExplanation", "FailureText", "explain", "explain_exception",
           "explain_text", "is_user_file", "user_frames_of"]
