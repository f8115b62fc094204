"""project_imports: the project's modules importable inside, the process as it was after."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

from pyspark import cloudpickle

from tauro_compile.runner.python_paths import project_imports


def plan_for(project: Path, ref: str) -> SimpleNamespace:
    config = SimpleNamespace(transforms=[SimpleNamespace(python=ref)],
                             output=SimpleNamespace(function=None), contract=None)
    return SimpleNamespace(python_paths=(project,), nodes=[SimpleNamespace(config=config)])


def test_project_imports_is_undone_on_exit(tmp_path: Path, monkeypatch) -> None:
    other, project = tmp_path / "other", tmp_path / "project"
    for root, word in ((other, "other"), (project, "project")):
        (root / "tauro_pp_mod").mkdir(parents=True)
        (root / "tauro_pp_mod" / "__init__.py").write_text(f"WHO = {word!r}\n")
        (root / "tauro_pp_mod" / "steps.py").write_text("def step(df):\n    return df\n")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    monkeypatch.syspath_prepend(str(other))
    import tauro_pp_mod as foreign  # an earlier project's module of the same name

    saved_path = list(sys.path)
    try:
        with project_imports(plan_for(project, "tauro_pp_mod.steps:step")):
            import tauro_pp_mod
            import tauro_pp_mod.steps

            assert tauro_pp_mod.WHO == "project" and tauro_pp_mod is not foreign
            assert sys.path[0] == str(project.resolve())
            assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(project.resolve())
            assert "tauro_pp_mod" in cloudpickle.list_registry_pickle_by_value()

        assert sys.path == saved_path
        assert "PYTHONPATH" not in os.environ
        assert sys.modules["tauro_pp_mod"] is foreign
        assert "tauro_pp_mod.steps" not in sys.modules
        assert "tauro_pp_mod" not in cloudpickle.list_registry_pickle_by_value()
    finally:
        for name in [m for m in sys.modules if m.split(".")[0] == "tauro_pp_mod"]:
            del sys.modules[name]


def test_an_existing_pythonpath_is_restored(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "tauro_pp_other.py").write_text("def f(df):\n    return df\n")
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    with project_imports(plan_for(tmp_path, "tauro_pp_other:f")):
        assert os.environ["PYTHONPATH"] == os.pathsep.join([str(tmp_path.resolve()),
                                                            "/somewhere/else"])
    assert os.environ["PYTHONPATH"] == "/somewhere/else"
    assert "tauro_pp_other" not in sys.modules
