"""Property: whatever happens to the example project's files, `tauro compile` ends cleanly.

Hypothesis mutates the example project's text files (byte flips, truncation, duplicated
lines, swapped indentation, random Jinja) and the compile must end with exit 0 or 2, with
no Python traceback and no `Internal error`. Examples are derandomized (the same cases on
every run: no flaky test) and bounded; the whole test has a pytest timeout rather than a
per-case timed assertion (timings on a shared machine are not a test).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tauro_compile.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
FILES = sorted(
    p.relative_to(EXAMPLE).as_posix() for p in EXAMPLE.rglob("*")
    if p.is_file() and p.suffix in (".yml", ".yaml", ".jinja", ".py") and "data" not in p.parts
)
JINJA = [
    "{{", "}}", "{%", "%}", "{% if %}", "{% endif %}", "{{ ref('nope') }}", "{{ ref('raw_events') }}",
    "{{ source('x') }}", "{% include 'a.yml' %}", "{% import 'm' as m %}", "{% extends 'b' %}",
    "{{ input }}", "{{ ''.__class__.__mro__ }}", "{% for x in y %}", "{{ var('nope') }}",
    "{{ env_var('TAURO_PROPERTY_UNSET') }}", "{{ secret(1) }}", "{{ 1/0 }}", "{% raw %}",
    "{{ target.paths.nope }}", "{% macro m() %}", "{{ revenue() }}", "{# ", "{{ x | nofilter }}",
    "\t", ": :", "- - -", "&a *a", "!!python/object:os.system", "<<: *b", "\ufeff", "\r\n",
]


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, str, int, int, str]:
    """(file, kind, position, length, text)."""
    return (draw(st.sampled_from(FILES)),
            draw(st.sampled_from(["flip", "truncate", "duplicate", "indent", "jinja", "delete"])),
            draw(st.integers(0, 10_000)), draw(st.integers(0, 255)),
            draw(st.sampled_from(JINJA)))


def mutate(data: bytes, kind: str, position: int, number: int, snippet: str) -> bytes:
    at = position % (len(data) + 1)
    if kind == "flip":
        return data[:at] + bytes([number]) + data[at + 1:]
    if kind == "truncate":
        return data[:at]
    lines = data.split(b"\n")
    index = position % len(lines)
    if kind == "duplicate":
        lines.insert(index, lines[index])
    elif kind == "indent":
        stripped = lines[index].lstrip(b" ")
        indent = b"\t" if number % 3 == 0 else b" " * (number % 7)
        lines[index] = indent + stripped
    elif kind == "delete":
        del lines[index]
    else:
        return data[:at] + snippet.encode() + data[at:]
    return b"\n".join(lines)


@pytest.mark.timeout(300)
@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation(), min_size=1, max_size=3))
def test_compile_ends_with_0_or_2_whatever_the_files_hold(mutations):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", "target"))
        for rel, kind, position, number, snippet in mutations:
            path = root / rel
            path.write_bytes(mutate(path.read_bytes(), kind, position, number, snippet))
        result = CliRunner().invoke(main, ["compile", "--project-dir", str(root)],
                                    env={"TAURO_PROFILE": None})
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.exc_info
        assert result.exit_code in (0, 2), result.output
        assert "Traceback" not in result.output
        assert "Internal error" not in result.output
