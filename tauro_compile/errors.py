"""The error types every layer raises; the CLI maps them to a message and an exit code.

A `Problem` is one user-facing finding (file, line, field, expected, found, hint).
A `ProjectError` carries every problem found in one pass, so a user fixes them all at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

EXIT_OK = 0
EXIT_NODE_FAILED = 1
EXIT_INVALID = 2


@dataclass(frozen=True)
class Problem:
    """One finding about the user's project, with enough context to fix it without guessing."""

    message: str
    file: str | None = None
    line: int | None = None
    field: str | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    code: str = "invalid"
    # "source" when `line` is a line of the file as written, "rendered" when it is a line of
    # the Jinja output (the YAML that was actually parsed).
    line_kind: str = "source"
    node: str | None = None

    def location(self) -> str:
        """`file:line` (or just the file), as editors understand it."""
        if not self.file:
            return "<project>"
        if self.line is None:
            return self.file
        suffix = " (rendered)" if self.line_kind == "rendered" else ""
        return f"{self.file}:{self.line}{suffix}"

    def render(self) -> str:
        """Multi-line human text of this problem."""
        head = f"{self.location()}: {self.message}"
        lines = [head]
        if self.field:
            lines.append(f"  field:    {self.field}")
        if self.expected is not None:
            lines.append(f"  expected: {self.expected}")
        if self.found is not None:
            lines.append(f"  found:    {self.found}")
        if self.hint:
            lines.append(f"  hint:     {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class TauroError(Exception):
    """Base of every error Tauro reports to a user; carries the exit code the CLI uses."""

    exit_code: int = EXIT_NODE_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message + (f"\n  hint: {self.hint}" if self.hint else "")


class UsageError(TauroError):
    """Bad command-line usage or environment (unknown profile, missing project, ...)."""

    exit_code = EXIT_INVALID


@dataclass
class ProblemList:
    """Collects problems during one compile so all of them are reported together."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def extend(self, problems: list[Problem]) -> None:
        for p in problems:
            self.add(p)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ProjectError(self.problems)


class ProjectError(TauroError):
    """The project is invalid: one or more problems, each with its location."""

    exit_code = EXIT_INVALID

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.message))
        n = len(self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} found in the project")

    def render(self) -> str:
        body = "\n\n".join(p.render() for p in self.problems)
        return f"{self.message}:\n\n{body}"


class RunError(TauroError):
    """A run could not complete: a node failed or the runtime refused the plan."""

    exit_code = EXIT_NODE_FAILED


def did_you_mean(word: str, candidates: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """A `did you mean 'x'?` hint for the closest candidate, or None."""
    import difflib

    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f"did you mean '{matches[0]}'?" if matches else None
