"""`tauro compile`'s cache (target/compile_cache.json): warm == cold, and never stale.

Every invalidation test compiles once (cold, writes the cache), changes one input, compiles
again and asserts that the compiler really ran and that the output shows the change. If
the cache key forgot that input, the second compile would replay the old plan and the test
fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tauro_compile
from tauro_compile.compiler import compile as compile_module
from tauro_compile.compiler import manifest as manifest_module
from tauro_compile.compiler.compile_cache import CACHE_FILE

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:test:orders
name: orders
version: 1.0.0
status: active
schema:
  - name: orders
    properties:
      - name: order_id
        logicalType: string
        required: true
"""

PROJECT = {
    "tauro_project.yml": """
        name: shop
        profile: dev
        vars: {min_amount: 10}
    """,
    "profiles.yml": """
        profiles:
          dev:
            paths: {warehouse: data/wh, checkpoints: data/chk}
          prod:
            paths: {warehouse: data/prod, checkpoints: data/prodchk}
    """,
    "macros/filters.jinja": """
        {% macro positive(column) %}{{ column }} > 0{% endmacro %}
    """,
    "transforms/__init__.py": "",
    "transforms/orders.py": """
        def deduplicate(df):
            return df
    """,
    "contracts/orders.yaml": CONTRACT,
    "nodes/raw_orders.yml": """
        input: {format: rate}
        output: {format: delta, path: "{{ target.paths.warehouse }}/raw_orders"}
    """,
    "nodes/clean_orders.yml": """
        input: {ref: raw_orders}
        transforms:
          - sql: "SELECT * FROM {{ input }} WHERE {{ positive('amount') }} AND amount >= {{ var('min_amount') }} AND region = '{{ env_var('SHOP_REGION', 'eu') }}'"
          - python: transforms.orders:deduplicate
        output: {format: delta, path: "{{ target.paths.warehouse }}/clean_orders"}
        contract: contracts/orders.yaml
    """,
}


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real compiles (cache misses); freezes the manifest's generated_at."""
    calls: list[int] = []
    real = compile_module.compile_project

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(compile_module, "compile_project", counting)
    monkeypatch.setattr(manifest_module, "generated_at", lambda: "2026-01-01T00:00:00+00:00")
    monkeypatch.delenv("SHOP_REGION", raising=False)
    return calls


def _compile(tauro, project: Path, *args: str, env: dict[str, str] | None = None):
    result = tauro("compile", "--project-dir", project, *args, env=env)
    return result


def _compiled_files(project: Path) -> dict[str, bytes]:
    folder = project / "target" / "compiled"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_warm_compile_is_byte_for_byte_the_cold_one(make_project, tauro, compiles):
    project = make_project(PROJECT)
    cold = _compile(tauro, project)
    assert cold.exit_code == 0, cold.output
    assert (project / "target" / CACHE_FILE).is_file()
    cold_manifest = (project / "target" / "manifest.json").read_bytes()
    cold_files = _compiled_files(project)
    assert len(compiles) == 1

    warm = _compile(tauro, project)
    assert warm.exit_code == 0, warm.output
    assert len(compiles) == 1, "nothing changed: the compile must come from the cache"
    assert warm.stdout == cold.stdout and warm.stderr == cold.stderr
    assert (project / "target" / "manifest.json").read_bytes() == cold_manifest
    assert _compiled_files(project) == cold_files

    as_json = [_compile(tauro, project, "--output", "json") for _ in range(2)]
    assert len(compiles) == 1
    fresh = _compile(tauro, project, "--output", "json", "--no-cache")
    assert len(compiles) == 2
    assert as_json[0].stdout == as_json[1].stdout == fresh.stdout
    assert (project / "target" / "manifest.json").read_bytes() == cold_manifest
    assert not (project / "target" / CACHE_FILE).exists(), "--no-cache removes the cache"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (old, text)
    path.write_text(text.replace(old, new))


def _manifest(project: Path) -> str:
    return (project / "target" / "manifest.json").read_text()


@pytest.mark.parametrize("change", [
    "node_file", "macro", "project_file", "profiles_file", "cli_vars", "env_var_set",
    "env_var_value", "profile_option", "select_option", "exclude_option", "tauro_version",
])
def test_every_input_invalidates_the_cache(make_project, tauro, compiles, change, monkeypatch):
    project = make_project(PROJECT)
    env: dict[str, str] = {}
    args: list[str] = []
    if change == "env_var_value":
        env = {"SHOP_REGION": "us"}
    assert _compile(tauro, project, env=env).exit_code == 0
    assert _compile(tauro, project, env=env).exit_code == 0
    assert len(compiles) == 1
    expected: str
    if change == "node_file":
        _edit(project / "nodes/raw_orders.yml", "/raw_orders", "/raw_orders_v2")
        expected = "data/wh/raw_orders_v2"
    elif change == "macro":
        _edit(project / "macros/filters.jinja", "> 0", ">= 1")
        expected = "amount >= 1 AND"
    elif change == "project_file":
        _edit(project / "tauro_project.yml", "min_amount: 10", "min_amount: 77")
        expected = "amount >= 77"
    elif change == "profiles_file":
        _edit(project / "profiles.yml", "data/wh", "data/warehouse2")
        expected = "data/warehouse2/clean_orders"
    elif change == "cli_vars":
        args = ["--vars", "{min_amount: 55}"]
        expected = "amount >= 55"
    elif change == "env_var_set":
        env = {"SHOP_REGION": "apac"}
        expected = "region = 'apac'"
    elif change == "env_var_value":
        env = {"SHOP_REGION": "latam"}
        expected = "region = 'latam'"
    elif change == "profile_option":
        args = ["--profile", "prod"]
        expected = "data/prod/clean_orders"
    elif change == "select_option":
        args = ["--select", "raw_orders"]
        expected = '"selected":["raw_orders"]'
    elif change == "exclude_option":
        args = ["--exclude", "raw_orders"]
        expected = '"selected":["clean_orders"]'
    else:
        version = tauro_compile.__version__ + ".dev1"
        monkeypatch.setattr(tauro_compile, "__version__", version)
        monkeypatch.setattr(manifest_module, "__version__", version)
        expected = f'"tauro_version":"{version}"'
    result = _compile(tauro, project, *args, env=env)
    assert result.exit_code == 0, result.output
    assert len(compiles) == 2, f"a change of {change} must invalidate the cache"
    assert expected in _manifest(project)
    # and the new state is cached in turn
    assert _compile(tauro, project, *args, env=env).exit_code == 0
    assert len(compiles) == 2


def test_a_transform_module_change_invalidates_the_cache(make_project, tauro, compiles):
    project = make_project(PROJECT)
    assert _compile(tauro, project).exit_code == 0
    _edit(project / "transforms/orders.py", "def deduplicate", "def dedupe")
    result = _compile(tauro, project)
    assert len(compiles) == 2
    assert result.exit_code == 2
    assert "has no 'deduplicate'" in result.output
    assert not (project / "target" / CACHE_FILE).exists()


def test_a_contract_change_invalidates_the_cache(make_project, tauro, compiles):
    project = make_project(PROJECT)
    assert _compile(tauro, project).exit_code == 0
    (project / "contracts/orders.yaml").write_text("apiVersion: v3.0.2\nkind: DataContract\n")
    result = _compile(tauro, project)
    assert len(compiles) == 2
    assert result.exit_code == 2
    assert "contracts/orders.yaml" in result.output


def test_a_contract_appearing_where_it_is_looked_up_first_invalidates(make_project, tauro,
                                                                    compiles):
    files = dict(PROJECT)
    files["nodes/clean_orders.yml"] = files["nodes/clean_orders.yml"].replace(
        "contract: contracts/orders.yaml", "contract: orders.yaml")
    project = make_project(files)
    assert _compile(tauro, project).exit_code == 0
    assert f"{project}/contracts/orders.yaml" in _manifest(project)
    (project / "orders.yaml").write_text(CONTRACT)  # the project-relative path wins
    assert _compile(tauro, project).exit_code == 0
    assert len(compiles) == 2
    assert f'"path":"{project}/orders.yaml"' in _manifest(project)


def test_added_and_removed_nodes_and_stale_compiled_files(make_project, tauro, compiles):
    project = make_project(PROJECT)
    assert _compile(tauro, project).exit_code == 0
    compiled = project / "target" / "compiled"
    before = {p.name: p.stat().st_mtime_ns for p in compiled.iterdir()}
    assert set(before) == {"raw_orders.yml", "clean_orders.yml"}
    (project / "nodes/extra.yml").write_text(
        "input: {ref: raw_orders}\noutput: {format: delta, path: data/wh/extra}\n")
    assert _compile(tauro, project).exit_code == 0
    assert len(compiles) == 2
    after = {p.name: p.stat().st_mtime_ns for p in compiled.iterdir()}
    assert set(after) == {"raw_orders.yml", "clean_orders.yml", "extra.yml"}
    # compiled files are written only when their content changed
    assert after["raw_orders.yml"] == before["raw_orders.yml"]
    assert after["clean_orders.yml"] == before["clean_orders.yml"]
    (project / "nodes/extra.yml").unlink()
    assert _compile(tauro, project).exit_code == 0
    assert len(compiles) == 3
    assert {p.name for p in compiled.iterdir()} == {"raw_orders.yml", "clean_orders.yml"}
    assert "shop.extra" not in _manifest(project)


@pytest.mark.parametrize("damage", ["deleted", "edited", "extra"])
def test_a_damaged_compiled_dir_is_recompiled(make_project, tauro, compiles, damage):
    project = make_project(PROJECT)
    assert _compile(tauro, project).exit_code == 0
    compiled = project / "target" / "compiled"
    original = _compiled_files(project)
    if damage == "deleted":
        (compiled / "raw_orders.yml").unlink()
    elif damage == "edited":
        (compiled / "raw_orders.yml").write_text("edited by hand, longer than before\n" * 3)
    else:
        (compiled / "gone.yml").write_text("a node that no longer exists\n")
    assert _compile(tauro, project).exit_code == 0
    assert len(compiles) == 2
    assert _compiled_files(project) == original


def test_a_project_with_problems_is_never_cached(make_project, tauro, compiles):
    project = make_project(PROJECT)
    assert _compile(tauro, project).exit_code == 0
    assert (project / "target" / CACHE_FILE).is_file()
    _edit(project / "nodes/clean_orders.yml", "ref: raw_orders", "ref: raw_ordres")
    first = _compile(tauro, project)
    second = _compile(tauro, project)
    assert len(compiles) == 3, "a project with problems is compiled every time"
    assert first.exit_code == second.exit_code == 2
    assert "did you mean 'raw_orders'" in first.output
    assert (first.stdout, first.stderr) == (second.stdout, second.stderr)
    assert not (project / "target" / CACHE_FILE).exists()
    _edit(project / "nodes/clean_orders.yml", "ref: raw_ordres", "ref: raw_orders")
    assert _compile(tauro, project).exit_code == 0
    assert len(compiles) == 4


def test_the_cache_stores_no_secret_value(make_project, tauro, compiles):
    files = dict(PROJECT)
    files["nodes/feed.yml"] = """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: localhost:9092
            subscribe: orders
            kafka.sasl.jaas.config: "{{ env_var('SHOP_JAAS') }}"
            kafka.ssl.truststore.password: "{{ secret('SHOP_TRUST') }}"
        output: {format: delta, path: data/wh/feed}
    """
    project = make_project(files)
    env = {"SHOP_JAAS": "jaas-s3cr3t-value", "SHOP_TRUST": "trust-s3cr3t-value"}
    result = _compile(tauro, project, env=env)
    assert result.exit_code == 0, result.output
    assert _compile(tauro, project, env=env).exit_code == 0
    assert len(compiles) == 1
    stored = (project / "target" / CACHE_FILE).read_bytes()
    for value in env.values():
        assert value.encode() not in stored
    assert b"SHOP_JAAS" in stored  # the name of what it depends on, never the value
    # a changed secret value is still a change
    env["SHOP_JAAS"] = "another-s3cr3t"
    assert _compile(tauro, project, env=env).exit_code == 0
    assert len(compiles) == 2
    assert b"another-s3cr3t" not in (project / "target" / CACHE_FILE).read_bytes()


def test_warm_compile_imports_neither_pydantic_nor_jinja(make_project, tauro):
    project = make_project(PROJECT)
    code = (
        "import sys\n"
        "from tauro_compile.cli import main\n"
        "try:\n"
        f"    main(['compile', '--project-dir', {str(project)!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "heavy = [m for m in ('pydantic', 'jinja2', 'pyspark') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TAURO_PROFILE", "SHOP_REGION")}
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, timeout=120) for _ in range(2)]
    assert all(done.returncode == 0 for done in runs), [done.stderr for done in runs]
    assert "HEAVY ['pydantic', 'jinja2']" in runs[0].stderr  # cold: the compiler ran
    assert "HEAVY []" in runs[1].stderr                       # warm: from the cache
    assert runs[0].stdout == runs[1].stdout and "Wrote" in runs[1].stdout


def test_a_fresh_target_gets_exactly_the_compiled_files_of_the_nodes(make_project, tauro):
    files = dict(PROJECT)
    files["nodes/marts.yml"] = """
        nodes:
          - name: totals
            input: {ref: raw_orders}
            output: {format: delta, path: data/wh/totals}
    """
    project = make_project(files)
    assert tauro("compile", "--project-dir", project).exit_code == 0
    compiled = project / "target" / "compiled"
    assert sorted(p.name for p in compiled.iterdir()) == [
        "clean_orders.yml", "raw_orders.yml", "totals.yml"]  # no marts.yml
    assert all(p.stat().st_size > 0 for p in compiled.iterdir())

    broken = make_project({**files, "nodes/bad.yml": "input: {{ nope( }}\n"}, name="broken")
    result = tauro("compile", "--project-dir", broken)
    assert result.exit_code == 2 and "Jinja syntax error" in result.output
    names = sorted(p.name for p in (broken / "target" / "compiled").iterdir())
    assert names == ["clean_orders.yml", "raw_orders.yml", "totals.yml"]  # no empty bad.yml
