"""Parse human intervals such as "30 seconds" or "5 min" for triggers, watermarks and backoff."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_UNITS: dict[str, float] = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}
_PATTERN = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$")
MAX_TRIGGER_SECONDS = 365 * 86400
EXPECTED_FORMAT = "'<positive number> <unit>', e.g. '30 seconds', '5 minutes', '500 ms'"


class DurationError(ValueError):
    """An interval that cannot be used; `expected` says what would be accepted."""

    def __init__(self, message: str, expected: str = EXPECTED_FORMAT) -> None:
        super().__init__(message)
        self.expected = expected


@dataclass(frozen=True)
class Duration:
    """A positive time span, kept with the text the user wrote."""

    seconds: float
    text: str

    def spark(self) -> str:
        """The interval in the form Spark's trigger and watermark APIs accept."""
        if self.seconds < 1:
            return f"{round(self.seconds * 1000)} milliseconds"
        if float(self.seconds).is_integer():
            return f"{int(self.seconds)} seconds"
        return f"{round(self.seconds * 1000)} milliseconds"


def parse_duration(text: object, *, maximum: float | None = MAX_TRIGGER_SECONDS) -> Duration:
    """Parse `text` into a Duration; raise DurationError saying what is wrong."""
    if type(text) is str:
        return _parse_text(text, maximum)
    return _parse(text, maximum)


# A compile validates a handful of distinct intervals thousands of times (every node's
# trigger, backoff, watermark): parsed once each. Safe to share: a Duration is frozen, and
# an error is not cached (lru_cache stores only returned values), so it is raised anew.
@lru_cache(maxsize=1024)
def _parse_text(text: str, maximum: float | None) -> Duration:
    return _parse(text, maximum)


def _parse(text: object, maximum: float | None) -> Duration:
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise DurationError(f"an interval must be a string, found {type(text).__name__}")
    if isinstance(text, int | float):
        raise DurationError(f"the interval {text!r} has no unit")
    match = _PATTERN.match(text)
    if not match:
        raise DurationError(f"'{text}' is not an interval")
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit not in _UNITS:
        raise DurationError(
            f"unknown time unit '{match.group(2)}' in '{text}'",
            expected="one of: ms, seconds, minutes, hours, days",
        )
    seconds = value * _UNITS[unit]
    if seconds <= 0:
        raise DurationError(f"the interval '{text}' must be positive", expected="a positive interval")
    if maximum is not None and seconds > maximum:
        raise DurationError(
            f"the interval '{text}' is longer than {int(maximum // 86400)} days",
            expected=f"at most {int(maximum // 86400)} days",
        )
    return Duration(seconds=seconds, text=text.strip())
