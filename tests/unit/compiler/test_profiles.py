"""profiles.yml: where it is found, which profile is chosen, extends, paths, problems."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tauro_compile.compiler.profiles import choose_profile, find_profiles_file, load_profile
from tauro_compile.compiler.rendering import Renderer
from tauro_compile.errors import ProjectError, UsageError

PROFILES = """
profiles:
  base:
    spark: {master: "local[4]", app_name: shop, conf: {spark.sql.shuffle.partitions: 8, a.flag: true}}
    paths: {warehouse: data/wh, checkpoints: data/chk, remote: "s3a://bucket/x"}
    vars: {env: base, keep: 1}
    nodes:
      "*": {streaming: {output_mode: append}}
  dev:
    extends: base
    spark: {conf: {spark.sql.shuffle.partitions: 2}}
    vars: {env: dev}
    nodes:
      clean: {tags: [x]}
  prod:
    extends: dev
    paths: {warehouse: /abs/wh}
    fail_fast: true
"""


def load(tmp_path: Path, text: str = PROFILES, *, explicit: str | None = None,
         default: str | None = None, environ: dict[str, str] | None = None):
    (tmp_path / "profiles.yml").write_text(textwrap.dedent(text).lstrip("\n"))
    renderer = Renderer(variables={}, environ=environ or {})
    return load_profile(tmp_path, profiles_dir=None, explicit=explicit, default=default,
                        renderer=renderer, environ=environ or {})


def test_extends_chain_deep_merges(tmp_path):
    profile = load(tmp_path, explicit="prod")
    assert profile.name == "prod" and profile.chain == ("prod", "dev", "base")
    assert profile.spark.master == "local[4]" and profile.spark.app_name == "shop"
    assert profile.spark.conf == {"spark.sql.shuffle.partitions": "2", "a.flag": "true"}
    assert profile.vars == {"env": "dev", "keep": 1}
    assert profile.paths == {"warehouse": "/abs/wh", "checkpoints": f"{tmp_path}/data/chk",
                             "remote": "s3a://bucket/x"}
    assert profile.fail_fast is True
    assert profile.nodes == {"*": {"streaming": {"output_mode": "append"}},
                             "clean": {"tags": ["x"]}}
    assert profile.override_lines == {"*": 7, "clean": 13}
    assert profile.file == "profiles.yml"


def test_choice_order():
    names = ["dev", "prod"]
    assert choose_profile("prod", "dev", names, {"TAURO_PROFILE": "dev"}) == "prod"
    assert choose_profile(None, "dev", names, {"TAURO_PROFILE": "prod"}) == "prod"
    assert choose_profile(None, "dev", names, {}) == "dev"
    assert choose_profile(None, None, ["only"], {}) == "only"
    with pytest.raises(UsageError) as caught:
        choose_profile(None, None, names, {})
    assert "valid profiles: dev, prod" in caught.value.hint


def test_unknown_profile_lists_names(tmp_path):
    with pytest.raises(UsageError) as caught:
        load(tmp_path, explicit="prd")
    assert caught.value.message == "unknown profile 'prd' (from --profile)"
    assert caught.value.hint == "did you mean 'prod'? valid profiles: base, dev, prod"


def test_extends_cycle_is_a_problem(tmp_path):
    text = "profiles:\n  a: {extends: b}\n  b:\n    extends: a\n"
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, text, explicit="a")
    problem = caught.value.problems[0]
    assert problem.code == "profile_cycle" and "a --> b --> a" in problem.message
    assert (problem.file, problem.line) == ("profiles.yml", 4)


def test_extends_unknown_profile(tmp_path):
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, "dev: {extends: bse}\nbase: {}\n", explicit="dev")
    problem = caught.value.problems[0]
    assert (problem.line, problem.hint) == (1, "did you mean 'base'?")


def test_unknown_field_in_profile(tmp_path):
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, "profiles:\n  dev:\n    spark:\n      mastr: local\n", explicit="dev")
    problem = caught.value.problems[0]
    assert (problem.line, problem.field, problem.hint) == (
        4, "spark.mastr", "did you mean 'master'?")


def test_env_var_in_profile_values(tmp_path):
    text = """
    dev:
      spark:
        master: "{{ env_var('SPARK_MASTER', 'local[1]') }}"
        conf: {spark.hadoop.fs.s3a.secret.key: "{{ env_var('S3_KEY') }}"}
    """
    profile = load(tmp_path, text, environ={"S3_KEY": "abc123"})
    assert profile.spark.master == "local[1]"
    assert profile.spark.conf["spark.hadoop.fs.s3a.secret.key"] == "abc123"
    assert profile.secret_values == ("abc123",)
    assert profile.target_context()["spark"]["conf"] == {"spark.hadoop.fs.s3a.secret.key": "***"}
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, text)
    assert caught.value.problems[0].code == "undefined_env_var"
    assert caught.value.problems[0].line == 4


def test_profiles_file_lookup_order(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".tauro").mkdir(parents=True)
    (home / ".tauro" / "profiles.yml").write_text("home: {}\n")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    project = tmp_path / "project"
    project.mkdir()
    assert find_profiles_file(project, None) == home / ".tauro" / "profiles.yml"
    (project / "profiles.yml").write_text("here: {}\n")
    assert find_profiles_file(project, None) == project / "profiles.yml"
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(UsageError):
        find_profiles_file(project, other)
    (other / "profiles.yml").write_text("there: {}\n")
    assert find_profiles_file(project, other) == other / "profiles.yml"


REMOTE = """
profiles:
  dev:
    spark: {master: "local[2]", conf: {spark.sql.shuffle.partitions: 2}}
  connect:
    extends: dev
    spark: {master: null, remote: "sc://spark-connect:15002"}
  both:
    extends: dev
    spark:
      remote: "sc://spark-connect:15002"
  static:
    spark:
      remote: "sc://h:15002"
      conf: {spark.executor.memory: 4g, spark.sql.shuffle.partitions: 8}
  pooled:
    spark:
      master: "spark://m:7077"
      pools: {heavy: {weight: 1}, light: {weight: 3, min_share: 1, mode: FAIR}}
"""


def test_remote_profile_replaces_the_master(tmp_path):
    profile = load(tmp_path, REMOTE, explicit="connect")
    assert profile.spark.remote == "sc://spark-connect:15002"
    assert profile.spark.where == "sc://spark-connect:15002"
    assert profile.spark.conf == {"spark.sql.shuffle.partitions": "2"}
    assert profile.target_context()["spark"]["remote"] == "sc://spark-connect:15002"


def test_master_and_remote_together_is_a_problem(tmp_path):
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, REMOTE, explicit="both")
    problem = caught.value.problems[0]
    assert problem.code == "spark_target"
    assert problem.message == "spark.master and spark.remote are mutually exclusive"
    assert (problem.file, problem.line, problem.field) == ("profiles.yml", 10, "spark.remote")
    assert "master 'local[2]'" in problem.found and "master: null" in problem.hint


def test_remote_profile_refuses_server_settings(tmp_path):
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, REMOTE, explicit="static")
    [problem] = caught.value.problems
    assert problem.code == "connect_conf" and problem.found == "spark.executor.memory"
    assert (problem.line, problem.field) == (14, "spark.conf.spark.executor.memory")
    assert "Connect server is started" in problem.hint


def test_remote_must_be_a_connect_url(tmp_path):
    with pytest.raises(ProjectError) as caught:
        load(tmp_path, "p:\n  spark: {remote: 'spark://m:7077'}\n", explicit="p")
    assert caught.value.problems[0].field == "spark.remote"


def test_pools_are_read_with_defaults(tmp_path):
    profile = load(tmp_path, REMOTE, explicit="pooled")
    assert profile.spark.pools == {
        "heavy": {"weight": 1, "min_share": 0, "mode": "FIFO"},
        "light": {"weight": 3, "min_share": 1, "mode": "FAIR"}}
