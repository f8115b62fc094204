"""Template skeletons: compile each distinct Jinja *structure* once, not each file.

Compiling a Jinja template costs about a millisecond (lex, parse, generate, Python
`compile`), which alone would blow the compile budget of a 1000-node project. Rendering a
compiled template costs tens of microseconds. Node files of one project share a handful of
structures and differ in their literal text and string constants, so a file is split into:

- the skeleton: every tag kept as written except that its string and number constants
  become lookups (`__tauro_const[t][j]`), every run of literal text replaced by
  `{{ __tauro_data[i] }}`;
- the values: the literal texts and each tag's constants, passed to `render()`.

The skeleton renders to exactly the text the original would, and identical skeletons share
one compiled template. Anything the splitter is not sure about (braces inside `{{ }}`,
whitespace control on `raw`, an undecodable string, a skeleton that does not compile)
returns None, and the caller compiles the original text the ordinary way. Line numbers of
the skeleton are meaningless, so callers re-render through the original template whenever
they need to report a problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DATA_NAME = "__tauro_data"
CONSTANTS_NAME = "__tauro_const"
_SLOT = "\x00"  # stands for the tag's index in a cached rewrite

_STRING = r"""'(?:[^'\\]++|\\.)*+'|"(?:[^"\\]++|\\.)*+\""""
# Every alternative starts with `{` (factored out so `re` scans for it fast); runs of plain
# characters are possessive (`++`, `*+`) so an unclosed tag cannot backtrack exponentially.
_TAG = re.compile(
    r"\{(?:"
    r"(?P<comment>\#.*?\#\})"
    r"|(?P<raw>%\s*raw\s*%\}(?P<rawbody>.*?)\{%\s*endraw\s*%\})"
    rf"|(?P<var>\{{(?:[^}}'\"]++|{_STRING}|\}}(?!\}}))*+\}}\}})"
    rf"|(?P<block>%(?:[^%'\"]++|{_STRING}|%(?!\}}))*+%\}})"
    r")",
    re.S,
)
_STRING_RE = re.compile(_STRING, re.S)
# A string constant, or a number constant that is not part of a name or of `x.0` access.
_CONSTANT = re.compile(
    rf"(?P<string>{_STRING})"
    r"|(?<![\w.])(?P<number>\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)(?![\w.])",
    re.S,
)
_NEWLINES = re.compile(r"\r\n|\r|\n")
_OPENERS = ("{{", "{%", "{#")
_OPENER = re.compile(r"\{[{%#]")
_UNSURE = object()
# tag text -> (rewritten tag with _SLOT for its index, its constants), or _UNSURE.
_TAG_CACHE: dict[str, object] = {}


@dataclass(frozen=True)
class Skeleton:
    """A template's structure (`text`) and the values that fill it."""

    text: str
    data: tuple[str, ...]
    constants: tuple[tuple[object, ...], ...] = ()

    def values(self) -> dict[str, tuple[object, ...]]:
        """The render() keyword arguments that turn the skeleton back into the original."""
        return {DATA_NAME: self.data, CONSTANTS_NAME: self.constants}


def has_jinja(text: str) -> bool:
    """True when `text` contains any Jinja delimiter (else it needs no rendering at all)."""
    return any(opener in text for opener in _OPENERS)


def split(source: str) -> Skeleton | None:
    """The skeleton of `source`, or None when the fast path cannot be sure to be exact."""
    parts: list[str] = []
    data: list[str] = []
    constants: list[tuple[object, ...]] = []
    pending = ""          # literal text not yet emitted
    strip_next = False    # the previous tag ended with `-`: drop leading whitespace of the next text
    pos = 0
    for match in _TAG.finditer(source):
        text = source[pos:match.start()]
        pos = match.end()
        if "{" in text and _OPENER.search(text):
            return None  # an opener the splitter did not understand: let Jinja decide
        if strip_next:
            text = text.lstrip()
            strip_next = False
        pending += text
        tag = match.group(0)
        if match.group("raw") is not None:
            pending += match.group("rawbody")
            continue
        if tag[2] == "-":
            pending = pending.rstrip()
        if tag[-3] == "-":
            strip_next = True
        if tag[1] == "#":
            continue
        rewrite = _TAG_CACHE.get(tag)
        if rewrite is None:
            rewrite = _TAG_CACHE[tag] = _rewrite_tag(tag)
        if rewrite is _UNSURE:
            return None
        rewritten, values = rewrite  # type: ignore[misc]
        if pending:
            parts.append("{{ " + DATA_NAME + "[" + str(len(data)) + "] }}")
            data.append(pending)
            pending = ""
        if values:
            parts.append(rewritten.replace(_SLOT, str(len(constants))))
            constants.append(values)
        else:
            parts.append(rewritten)
    tail = source[pos:]
    if "{" in tail and _OPENER.search(tail):
        return None
    if strip_next:
        tail = tail.lstrip()
    pending += tail
    if pending:
        parts.append("{{ " + DATA_NAME + "[" + str(len(data)) + "] }}")
        data.append(pending)
    return Skeleton("".join(parts), tuple(data), tuple(constants))


def _rewrite_tag(tag: str) -> object:
    """(tag with constants replaced by `__tauro_const[<slot>][j]`, the constants) or _UNSURE."""
    inner = tag[2:-2]
    code = _STRING_RE.sub("", inner)
    if tag[1] == "{" and ("{" in code or "}" in code):
        return _UNSURE
    if tag[1] == "%" and (code.strip("-+").split() or [""])[0] in ("raw", "endraw"):
        return _UNSURE
    values: list[object] = []
    failed = False

    def sub(match: re.Match[str]) -> str:
        nonlocal failed
        literal = match.group(0)
        try:
            if match.group("number") is not None:
                text = literal.replace("_", "")
                values.append(int(text) if text.isdigit() else float(text))
            else:
                values.append(
                    _NEWLINES.sub("\n", literal[1:-1])
                    .encode("ascii", "backslashreplace")
                    .decode("unicode-escape")
                )
        except (ValueError, UnicodeDecodeError):
            failed = True
            return literal
        return f"{CONSTANTS_NAME}[{_SLOT}][{len(values) - 1}]"

    rewritten = _CONSTANT.sub(sub, inner)
    if failed:
        return _UNSURE
    return tag[:2] + rewritten + tag[-2:], tuple(values)
