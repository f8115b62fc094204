"""Transform references are checked statically (never imported); contracts are validated."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tauro_compile.streaming.code_checks import ContractChecker, ReferenceChecker


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_module_functions_found_without_running_the_module(tmp_path):
    write(tmp_path, "pkg/__init__.py", "raise RuntimeError('package init must not run')\n")
    write(tmp_path, "pkg/sub/steps.py", """
        import pyspark_never_installed_here
        from helpers import imported_name as alias

        def clean(df):
            return df

        class Enrich:
            pass

        if True:
            def conditional(df):
                return df

        CONSTANT = 1
    """)
    checker = ReferenceChecker(tmp_path)
    for name in ("clean", "Enrich", "conditional", "CONSTANT", "alias", "Enrich.method"):
        assert checker.problem(f"pkg.sub.steps:{name}") is None, name
    assert "pkg" not in sys.modules and "pkg.sub.steps" not in sys.modules
    message, hint = checker.problem("pkg.sub.steps:claen")
    assert message == "module 'pkg.sub.steps' (pkg/sub/steps.py) has no 'claen'"
    assert hint == "did you mean 'clean'?"


def test_missing_module_hints(tmp_path):
    write(tmp_path, "transforms/events.py", "def f(df):\n    return df\n")
    checker = ReferenceChecker(tmp_path)
    message, hint = checker.problem("transforms.event:f")
    assert message == "module 'transforms.event' of 'transforms.event:f' cannot be found"
    assert hint == "did you mean 'transforms.events'?"
    _, hint = checker.problem("nowhere.mod:f")
    assert hint == "create nowhere/mod.py in the project"


def test_installed_and_dynamic_modules(tmp_path):
    write(tmp_path, "dyn.py", "def __getattr__(name):\n    return name\n")
    write(tmp_path, "star.py", "from os.path import *\n")
    checker = ReferenceChecker(tmp_path)
    assert checker.problem("dyn:anything") is None
    assert checker.problem("star:anything") is None
    assert checker.problem("json:dumps") is None          # stdlib, found on sys.path
    assert checker.problem("json:nope") is not None
    assert checker.problem("sys:path") is None            # builtin module


def test_contract_checks(tmp_path):
    write(tmp_path, "contracts/ok.yaml", (Path(__file__).resolve().parents[3] /
                                          "example_project/contracts/clean_events.yaml").read_text())
    write(tmp_path, "contracts/bad.yaml", "apiVersion: v3.0.2\nkind: DataContract\n")
    checker = ContractChecker(tmp_path)
    assert checker.problems(tmp_path / "contracts/ok.yaml") == []
    bad = checker.problems(tmp_path / "contracts/bad.yaml")
    assert bad and all(p.file == "contracts/bad.yaml" for p in bad)
    missing = checker.problems(tmp_path / "contracts/none.yaml")
    assert missing[0].code == "contract_missing"
