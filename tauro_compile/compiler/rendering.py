"""Jinja rendering of node files: one sandboxed, strict environment with the Tauro context.

Context of a node file: `ref(name)`, `source(name)`, `var(name, default)`,
`env_var(name, default)`, `secret(name)`, `target` (name, paths, spark, vars of the profile),
`project` (name, version, vars), every macro of the project's macro files, and `input`,
which renders to the literal text `{{ input }}` so that `sql: "SELECT * FROM {{ input }}"`
survives compilation (the streaming layer substitutes the stream's temp view at run time).

`ref()` works in two phases, as in dbt. While rendering, the upstream's output may not be
known yet, so `ref(name)` records the edge and renders a placeholder token
(see `ref_token`); once every node is loaded, the compiler replaces the tokens
with the upstream's real output identifier (path, table name or topic). A ref used in Jinja
*logic* (`{% if ref('x').startswith(...) %}`) therefore sees the token, not the path.

The environment is `ImmutableSandboxedEnvironment` with `StrictUndefined`: a template that
reaches for Python internals (`''.__class__`), mutates a value, or names something undefined
is reported as a problem with its line, never a crash. Rendering goes through template
skeletons (see `skeleton.py`) for speed; whenever a render fails or records a problem, the
file is rendered again through its own template so that every line reported is exact.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tauro_compile.compiler import skeleton
from tauro_compile.errors import Problem, did_you_mean
from tauro_compile.streaming.secrets import placeholder

TOKEN_START = "\ue000"
TOKEN_END = "\ue001"
# ref('x') / source('s') render to these tokens until resolution replaces them.
TOKEN = re.compile(TOKEN_START + r"(ref|source):([^" + TOKEN_END + r"]*)" + TOKEN_END)
INPUT_TEXT = "{{ input }}"
SANDBOX_HINT = (
    "node templates may use only the Tauro context (ref, source, var, env_var, secret, "
    "target, project, macros) and plain values; Python internals are not reachable"
)
_MISSING: Any = object()
_LOADER_TAG = re.compile(r"\{%-?\s*(include|import|from|extends)\b")
_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")  # what a placeholder can carry


def ref_token(name: str) -> str:
    """The placeholder `ref(name)` renders until the upstream's output is known."""
    return f"{TOKEN_START}ref:{name}{TOKEN_END}"


def source_token(name: str) -> str:
    """The placeholder `source(name)` renders until resolution."""
    return f"{TOKEN_START}source:{name}{TOKEN_END}"


def has_token(value: Any) -> bool:
    """True when any string inside `value` holds a ref/source token."""
    if isinstance(value, str):
        return TOKEN_START in value
    if isinstance(value, dict):
        return any(has_token(v) for v in value.values())
    if isinstance(value, list):
        return any(has_token(v) for v in value)
    return False


@dataclass
class RenderResult:
    """What rendering one file produced: its text (None on failure) and what it used."""

    text: str | None
    refs: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    env_values: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class _State:
    """The file being rendered: what its template calls record land here."""

    file: str
    exact: bool = False
    allow_ref: bool = True
    result: RenderResult = field(default_factory=lambda: RenderResult(None))

    def problem(self, message: str, **kw: Any) -> None:
        file, line = _template_position() if self.exact else (None, None)
        self.result.problems.append(
            Problem(message, file=file or self.file, line=line, **kw)
        )


class Renderer:
    """Renders node files and template strings with the project's context (one per compile)."""

    def __init__(
        self,
        *,
        variables: Mapping[str, Any],
        project: Mapping[str, Any] | None = None,
        target: Mapping[str, Any] | None = None,
        sources: Collection[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.variables = dict(variables)
        self.sources = set(sources)
        self.environ = os.environ if environ is None else environ
        self.env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False
        )
        context: dict[str, Any] = {
            "ref": self._ref, "source": self._source, "var": self._var,
            "env_var": self._env_var, "secret": self._secret, "input": INPUT_TEXT,
        }
        if project is not None:
            context["project"] = project
        if target is not None:
            context["target"] = target
        self.env.globals.update(context)
        self._skeletons: dict[str, Any] = {}
        self._texts: dict[str, str] = {}   # file -> text, kept only for files that failed
        self._state = _State("<project>")

    # -- the context ---------------------------------------------------------------------

    def _ref(self, name: Any) -> str:
        state = self._state
        if not state.allow_ref:
            state.problem("ref() cannot be used here", found=f"ref({name!r})",
                          hint="declared sources and profiles are rendered before nodes exist")
            return ""
        if not isinstance(name, str) or not name:
            state.problem("ref() needs a node name", expected="ref('node_name')", found=repr(name))
            return ""
        if name not in state.result.refs:
            state.result.refs.append(name)
        return ref_token(name)

    def _source(self, name: Any) -> str:
        state = self._state
        if not isinstance(name, str) or name not in self.sources:
            state.problem(
                f"unknown source '{name}'", code="unknown_source",
                expected=f"one of the sources declared in tauro_project.yml: "
                f"{', '.join(sorted(self.sources)) or '(none declared)'}",
                found=str(name), hint=did_you_mean(str(name), list(self.sources)),
            )
            return ""
        if name not in state.result.sources:
            state.result.sources.append(name)
        return source_token(name)

    def _var(self, name: Any, default: Any = _MISSING) -> Any:
        if isinstance(name, str) and name in self.variables:
            return self.variables[name]
        if default is not _MISSING:
            return default
        self._state.problem(
            f"var '{name}' is not defined", code="undefined_var",
            expected="a value in --vars, the profile's vars or the project's vars, "
            f"or a default: var('{name}', <default>)",
            found="nothing", hint=did_you_mean(str(name), list(self.variables)),
        )
        return ""

    def _env_var(self, name: Any, default: Any = _MISSING) -> Any:
        state = self._state
        if isinstance(name, str) and name in self.environ:
            value = self.environ[name]
            state.result.env_values[name] = value
            return value
        if default is not _MISSING:
            return default
        state.problem(
            f"environment variable '{name}' is not set", code="undefined_env_var",
            expected=f"export {name}=..., or a default: env_var('{name}', <default>)",
            found="not set",
        )
        return ""

    def _secret(self, name: Any) -> str:
        if not isinstance(name, str) or not _SECRET_NAME.match(name):
            self._state.problem(
                "secret() needs the name of an environment variable",
                expected="secret('KAFKA_PASSWORD')", found=repr(name),
            )
            return ""
        return placeholder(name)

    # -- rendering -----------------------------------------------------------------------

    def load_macros(self, files: list[tuple[str, str]]) -> list[Problem]:
        """Compile macro files (relative path, text) and make their macros global names."""
        problems: list[Problem] = []
        defined: dict[str, str] = {}
        for rel, text in files:
            state = self._state = _State(rel, exact=True, allow_ref=True)
            self._texts[rel] = text
            try:
                module = self._template(rel, text).module
            except Exception as exc:  # noqa: BLE001 - every template failure is a user problem
                problems.append(self._exception_problem(exc, rel))
                continue
            finally:
                self._state = _State("<project>")
            problems += state.result.problems
            for name, value in vars(module).items():
                if not isinstance(value, Macro) or name.startswith("_"):
                    continue
                if name in defined:
                    problems.append(Problem(
                        f"macro '{name}' is defined twice", file=rel, code="duplicate_macro",
                        found=f"{defined[name]} and {rel}", hint="rename one of them",
                    ))
                    continue
                defined[name] = rel
                self.env.globals[name] = value
        self._skeletons.clear()  # their templates hold a copy of the globals without these
        return problems

    def render(self, rel: str, text: str, *, allow_ref: bool = True) -> RenderResult:
        """Render one file; on any problem the result carries exact lines and text is None."""
        if not skeleton.has_jinja(text):
            return RenderResult(text)
        fast = self._render_fast(rel, text, allow_ref)
        if fast is not None:
            return fast
        state = self._state = _State(rel, exact=True, allow_ref=allow_ref)
        self._texts[rel] = text
        try:
            rendered = self._template(rel, text).render()
        except Exception as exc:  # noqa: BLE001 - every template failure is a user problem
            state.result.problems.append(self._exception_problem(exc, rel))
            rendered = None
        finally:
            self._state = _State("<project>")
        result = state.result
        result.text = None if result.problems else rendered
        return result

    def render_value(self, text: str, where: str, *, allow_ref: bool = False) -> RenderResult:
        """Render one string value (of tauro_project.yml or profiles.yml)."""
        return self.render(where, text, allow_ref=allow_ref)

    def _render_fast(self, rel: str, text: str, allow_ref: bool) -> RenderResult | None:
        """Render through a shared skeleton; None when the exact path must take over."""
        parts = skeleton.split(text)
        if parts is None:
            return None
        template = self._skeletons.get(parts.text, _MISSING)
        if template is _MISSING:
            try:
                template = self._template("<skeleton>", parts.text, frozen_globals=True)
            except TemplateSyntaxError:
                template = None
            self._skeletons[parts.text] = template
        if template is None:
            return None
        state = self._state = _State(rel, exact=False, allow_ref=allow_ref)
        try:
            rendered = template.render(parts.values())
        except Exception:  # noqa: BLE001 - re-rendered exactly to report it with its line
            return None
        finally:
            self._state = _State("<project>")
        if state.result.problems:
            return None
        state.result.text = rendered
        return state.result

    def _template(self, name: str, text: str, *, frozen_globals: bool = False) -> Any:
        """A compiled template; with `frozen_globals`, over a copy of the globals of now.

        Jinja gives a template a `ChainMap` over the environment's globals, which each
        render copies key by key in Python (twice): 0.035 s of the 0.15 s Jinja takes to
        render 1000 node files through skeletons. A skeleton template gets a plain dict
        instead; the globals change only in `load_macros`, which drops the skeletons
        made before.
        """
        code = self.env.compile(text, name=name, filename=name)
        template_globals = dict(self.env.globals) if frozen_globals \
            else self.env.make_globals(None)
        return self.env.template_class.from_code(self.env, code, template_globals)

    def _exception_problem(self, exc: Exception, rel: str) -> Problem:
        """A Problem for an exception raised while compiling or rendering a template."""
        if isinstance(exc, TemplateSyntaxError):
            return Problem(
                f"Jinja syntax error: {exc.message}", file=exc.filename or rel, line=exc.lineno,
                code="jinja_syntax", hint="check the {{ }} / {% %} pairs on this line",
            )
        file, line = _traceback_position(exc)
        if isinstance(exc, SecurityError):
            return Problem(
                f"the template tried to leave the sandbox: {exc}", file=file or rel, line=line,
                code="sandbox", hint=SANDBOX_HINT,
            )
        if isinstance(exc, UndefinedError):
            name = _undefined_name(str(exc))
            return Problem(
                f"undefined name in template: {exc}", file=file or rel, line=line,
                code="undefined", found=name, expected="a name of the Tauro context "
                "(ref, source, var, env_var, secret, target, project, input) or a macro",
                hint=did_you_mean(name or "", [n for n in self.env.globals if isinstance(n, str)]),
            )
        if isinstance(exc, TypeError) and "no loader" in str(exc):
            return self._loader_problem(rel, file, line)
        return Problem(
            f"template error: {type(exc).__name__}: {exc}", file=file or rel, line=line,
            code="template_error",
        )

    def _loader_problem(self, rel: str, file: str | None, line: int | None) -> Problem:
        """`{% include %}`, `{% import %}`, `{% from %}` or `{% extends %}`: no loader here."""
        text = self._texts.get(file or rel, "")
        match = _LOADER_TAG.search(text)
        tag = match.group(1) if match else "include"
        if match and line is None:
            line = text.count("\n", 0, match.start()) + 1
        return Problem(
            f"{{% {tag} %}} is not supported in project files: use a macro from macros/",
            file=file or rel, line=line, code="jinja_loader", found=f"{{% {tag} ... %}}",
            expected="a macro call, e.g. {{ my_macro(...) }}",
            hint="every macro defined in a file of macros/ (*.jinja, *.j2, *.sql) can be "
            "called by name in every node file, no import needed",
        )


def _undefined_name(message: str) -> str | None:
    """The name in Jinja's "'x' is undefined" / "... has no attribute 'x'" messages."""
    if message.count("'") >= 2:
        return message.rsplit("'", 2)[-2] if "attribute" in message else message.split("'")[1]
    return None


def _template_position() -> tuple[str | None, int | None]:
    """(file, line) of the innermost Jinja template frame calling into Python right now."""
    frame = sys._getframe(2)
    while frame is not None:
        template = frame.f_globals.get("__jinja_template__")
        if template is not None and template.filename != "<skeleton>":
            return template.filename, template.get_corresponding_lineno(frame.f_lineno)
        frame = frame.f_back
    return None, None


def _traceback_position(exc: BaseException) -> tuple[str | None, int | None]:
    """(file, line) of the innermost template frame in a traceback Jinja has rewritten."""
    found: tuple[str | None, int | None] = (None, None)
    tb = exc.__traceback__
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        template = frame_globals.get("__jinja_template__")
        if template is not None and template.filename not in (None, "<skeleton>"):
            found = (template.filename, template.get_corresponding_lineno(tb.tb_lineno))
        elif "__jinja_exception__" in frame_globals:  # a frame Jinja rewrote to the template line
            found = (frame_globals.get("__file__"), tb.tb_lineno)
        tb = tb.tb_next
    return found

