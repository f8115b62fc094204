"""Template skeletons: compile each distinct Jinja *structure* once, not each file.

Compiling a Jinja template costs about a millisecond (lex, parse, generate, Python
`compile`), which alone would blow the compile budget of a 1000-node project. Rendering a
compiled template costs tens of microseconds. Node files of one project share a handful of
structures and differ in their literal text and string constants, so a file is split into:

- the skeleton: every tag kept as written, every run of literal text replaced by
  `{{ __tauro_data[i] }}` and every string constant inside a tag by `__tauro_str[j]`;
- the values: the literal texts and string constants, passed to `render()`.

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
STRINGS_NAME = "__tauro_str"

_STRING = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""
_TAG = re.compile(
    r"(?P<comment>\{\#.*?\#\})"
    r"|(?P<raw>\{%\s*raw\s*%\}(?P<rawbody>.*?)\{%\s*endraw\s*%\})"
    rf"|(?P<var>\{{\{{(?:[^}}'\"]|{_STRING}|\}}(?!\}}))*\}}\}})"
    rf"|(?P<block>\{{%(?:[^%'\"]|{_STRING}|%(?!\}}))*%\}})",
    re.S,
)
_STRING_RE = re.compile(_STRING, re.S)
_NEWLINES = re.compile(r"\r\n|\r|\n")
_OPENERS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class Skeleton:
    """A template's structure (`text`) and the values that fill it."""

    text: str
    data: tuple[str, ...]
    strings: tuple[str, ...]

    def values(self) -> dict[str, tuple[str, ...]]:
        """The render() keyword arguments that turn the skeleton back into the original."""
        return {DATA_NAME: self.data, STRINGS_NAME: self.strings}


def has_jinja(text: str) -> bool:
    """True when `text` contains any Jinja delimiter (else it needs no rendering at all)."""
    return any(opener in text for opener in _OPENERS)


def split(source: str) -> Skeleton | None:
    """The skeleton of `source`, or None when the fast path cannot be sure to be exact."""
    parts: list[str] = []
    data: list[str] = []
    strings: list[str] = []
    pending = ""          # literal text not yet emitted
    strip_next = False    # the previous tag ended with `-`: drop leading whitespace of the next text
    pos = 0
    for match in _TAG.finditer(source):
        text = source[pos:match.start()]
        pos = match.end()
        if any(opener in text for opener in _OPENERS):
            return None  # an opener the splitter did not understand: let Jinja decide
        if strip_next:
            text = text.lstrip()
            strip_next = False
        pending += text
        kind = match.lastgroup if match.lastgroup != "rawbody" else "raw"
        tag = match.group(0)
        if kind == "raw":
            pending += match.group("rawbody")
            continue
        if tag[2:3] == "-":
            pending = pending.rstrip()
        if tag[-3:-2] == "-":
            strip_next = True
        if kind == "comment":
            continue
        inner = tag[2:-2]
        code = _STRING_RE.sub("", inner)
        if kind == "var" and ("{" in code or "}" in code):
            return None
        if kind == "block" and (code.strip("-+").split() or [""])[0] in ("raw", "endraw"):
            return None
        rewritten = _replace_strings(inner, strings)
        if rewritten is None:
            return None
        if pending:
            parts.append(_data_slot(len(data)))
            data.append(pending)
            pending = ""
        parts.append(tag[:2] + rewritten + tag[-2:])
    tail = source[pos:]
    if any(opener in tail for opener in _OPENERS):
        return None
    if strip_next:
        tail = tail.lstrip()
    pending += tail
    if pending:
        parts.append(_data_slot(len(data)))
        data.append(pending)
    return Skeleton("".join(parts), tuple(data), tuple(strings))


def _data_slot(index: int) -> str:
    return "{{ " + f"{DATA_NAME}[{index}]" + " }}"


def _replace_strings(inner: str, strings: list[str]) -> str | None:
    """`inner` with each string constant replaced by a lookup into `strings` (appended to)."""
    failed = False

    def sub(match: re.Match[str]) -> str:
        nonlocal failed
        literal = match.group(0)
        try:
            value = (
                _NEWLINES.sub("\n", literal[1:-1])
                .encode("ascii", "backslashreplace")
                .decode("unicode-escape")
            )
        except UnicodeDecodeError:
            failed = True
            return literal
        strings.append(value)
        return f"{STRINGS_NAME}[{len(strings) - 1}]"

    rewritten = _STRING_RE.sub(sub, inner)
    return None if failed else rewritten
