"""`tauro init DIR`: a new, working project copied from a template shipped in the package.

Templates live in `tauro_compile/templates/<name>/`. Text files have the token
`__PROJECT_NAME__` replaced by the project name (DIR's basename, made an identifier).
A template file named `gitignore` is written as `.gitignore`, so the template does not
act as an ignore file inside Tauro's own repository. Nothing is ever written outside DIR:
template paths with `..`, absolute paths, template symlinks and destinations that resolve
outside DIR (through a symlink already in DIR) are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from tauro_compile.console import Console
from tauro_compile.errors import UsageError

PROJECT_NAME_TOKEN = "__PROJECT_NAME__"
TEMPLATES = ("files-to-delta", "kafka-to-delta", "rate-to-console")
# Template file name -> name written in the new project.
RENAMED = {"gitignore": ".gitignore"}
_SKIPPED = {"__pycache__", ".DS_Store"}
_TEXT_SUFFIXES = {".yml", ".yaml", ".md", ".py", ".jinja", ".sql", ".txt", ".json", ".toml", ""}

# The same steps as the README's quickstart (and each template's README).
_NEXT_STEPS = {
    "files-to-delta": ["tauro compile", "tauro run"],
    "kafka-to-delta": [
        "export KAFKA_BOOTSTRAP_SERVERS=localhost:9092   # your broker (README.md: a local one)",
        "tauro compile",
        "tauro run",
    ],
    "rate-to-console": ["tauro compile", "tauro run"],
}


def path_hint() -> str | None:
    """How to put `tauro` on PATH when it is not there (a venv not activated), else None."""
    import shutil
    import sys

    if shutil.which("tauro"):
        return None
    scripts = Path(sys.executable).parent
    if (scripts / "activate").is_file():
        return (f"`tauro` is not on your PATH: run `source {scripts / 'activate'}` first "
                f"(or call {scripts / 'tauro'})")
    return f"`tauro` is not on your PATH: add {scripts} to it (or call {scripts / 'tauro'})"


@dataclass(frozen=True)
class TemplateFile:
    """One file of a template: where it goes (relative, posix) and its bytes."""

    path: PurePosixPath
    content: bytes


def project_name_for(directory: Path) -> str:
    """A project name from a directory name: letters, digits and `_`, not starting with a digit."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", directory.resolve().name).strip("_") or "project"
    return f"p_{name}" if name[0].isdigit() else name


def template_files(template: str, project_name: str) -> list[TemplateFile]:
    """The files of a shipped template, with the project name substituted."""
    if template not in TEMPLATES:
        raise UsageError(f"unknown template '{template}'", hint=f"templates: {', '.join(TEMPLATES)}")
    root = files("tauro_compile") / "templates" / template
    if not root.is_dir():
        raise UsageError(f"template '{template}' is missing from the installed package")
    result: list[TemplateFile] = []
    for rel, entry in _walk(root, PurePosixPath()):
        content = entry.read_bytes()
        if _is_text(rel):
            content = content.replace(PROJECT_NAME_TOKEN.encode(), project_name.encode())
        result.append(TemplateFile(rel.with_name(RENAMED.get(rel.name, rel.name)), content))
    return sorted(result, key=lambda f: f.path)


def write_files(directory: Path, template_files_: list[TemplateFile]) -> list[Path]:
    """Write files under `directory`, refusing any that would land outside it."""
    root = directory.resolve()
    targets: list[tuple[Path, bytes]] = []
    for item in template_files_:
        target = _safe_target(root, item.path)
        targets.append((target, item.content))
    written: list[Path] = []
    for target, content in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(target)
    return written


def run_init(directory: Path, template: str = "files-to-delta", force: bool = False,
             console: Console | None = None) -> int:
    """Create a project in `directory` from `template`; refuses a non-empty directory unless forced."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"'{directory}' exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise UsageError(
            f"directory '{directory}' is not empty",
            hint="use --force to write the template into it anyway (existing files "
            "with the same names are overwritten)",
        )
    name = project_name_for(directory)
    planned = template_files(template, name)
    directory.mkdir(parents=True, exist_ok=True)
    written = write_files(directory, planned)
    if console is not None:
        console.out(f"Created project '{name}' in {directory} from template '{template}' "
                    f"({len(written)} files).")
        console.out("")
        hint = path_hint()
        if hint:
            console.out(hint)
        console.out("Next steps:")
        console.out(f"  cd {directory}")
        for step in _NEXT_STEPS[template]:
            console.out(f"  {step}")
        console.out("")
        console.out("Edit nodes/*.yml to change the pipeline; `tauro schema` gives editors completion.")
    return 0


def _walk(node: Traversable, rel: PurePosixPath) -> list[tuple[PurePosixPath, Traversable]]:
    out: list[tuple[PurePosixPath, Traversable]] = []
    for entry in sorted(node.iterdir(), key=lambda e: e.name):
        if entry.name in _SKIPPED or entry.name.endswith(".pyc"):
            continue
        if isinstance(entry, Path) and entry.is_symlink():
            raise UsageError(f"template file '{rel / entry.name}' is a symlink; refusing to copy it")
        if entry.is_dir():
            out += _walk(entry, rel / entry.name)
        else:
            out.append((rel / entry.name, entry))
    return out


def _is_text(rel: PurePosixPath) -> bool:
    return rel.suffix in _TEXT_SUFFIXES


def _safe_target(root: Path, rel: PurePosixPath) -> Path:
    """`root / rel`, or UsageError if it is absolute, climbs with `..`, or resolves outside root."""
    text = str(rel)
    if rel.is_absolute() or text.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", text):
        raise UsageError(f"refusing to write '{text}': an absolute path in a template")
    if ".." in rel.parts or "\\" in text:
        raise UsageError(f"refusing to write '{text}': it would leave the project directory")
    target = root.joinpath(*rel.parts)
    resolved = target.resolve()
    if resolved != root and root not in resolved.parents:
        raise UsageError(
            f"refusing to write '{text}': it resolves to {resolved}, outside {root}",
            hint="a symlink in the project directory points outside it",
        )
    return target
