"""Session settings for clusters and Connect, decided without a JVM: FAIR pools, code zips."""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from tauro_compile.runner.python_paths import package_project
from tauro_compile.streaming.plan import RunPlan, SparkSettings
from tauro_compile.streaming.session import (
    is_connect_session,
    pool_for,
    session_conf,
    write_pools_file,
)
from tauro_compile.tasks.run import plan_pools


def test_every_master_schedules_fair_unless_the_profile_says_otherwise():
    assert session_conf("spark://m:7077", enable_delta=False)["spark.scheduler.mode"] == "FAIR"
    assert session_conf("local[2]", {"spark.scheduler.mode": "FIFO"},
                        enable_delta=False)["spark.scheduler.mode"] == "FIFO"


def test_a_short_local_run_gets_c1_only_unless_the_profile_chooses_a_compiler(monkeypatch):
    monkeypatch.setenv("TAURO_JVM_ARCHIVE", "off")  # the class archive: its own test below
    key = "spark.driver.extraJavaOptions"
    c1 = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"  # the default code cache
    assert session_conf("local[2]", enable_delta=False, short_run=True)[key] == c1
    assert session_conf("local[2]", {key: "-Dx=1"}, enable_delta=False,
                        short_run=True)[key] == f"{c1} -Dx=1"
    assert session_conf("local[2]", {key: "-XX:ReservedCodeCacheSize=512m"}, enable_delta=False,
                        short_run=True)[key] == ("-XX:TieredStopAtLevel=1 "
                                                 "-XX:ReservedCodeCacheSize=512m")
    for own in ("-XX:TieredStopAtLevel=4", "-XX:-TieredCompilation"):
        assert session_conf("local[2]", {key: own}, enable_delta=False,
                            short_run=True)[key] == own
    assert key not in session_conf("local[2]", enable_delta=False)          # continuous nodes
    assert key not in session_conf("spark://m:7077", enable_delta=False, short_run=True)


def test_a_driver_this_process_starts_maps_the_class_archive_when_there_is_one(
        monkeypatch, tmp_path):
    from tauro_compile.streaming import jvm_archive

    key = "spark.driver.extraJavaOptions"
    archive = tmp_path / "spark.jsa"
    monkeypatch.setenv("TAURO_JVM_ARCHIVE", str(archive))
    assert key not in session_conf("local[2]", enable_delta=False)        # none built yet
    archive.write_bytes(b"x" * 10)
    assert key not in session_conf("local[2]", enable_delta=False)        # not marked whole
    jvm_archive.mark_complete(archive)
    option = f"-XX:SharedArchiveFile={archive}"
    assert session_conf("local[2]", enable_delta=False)[key] == option
    assert session_conf("spark://m:7077", enable_delta=False)[key] == option  # client mode
    assert session_conf("local[2]", enable_delta=False, short_run=True)[key] == (
        f"-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m {option}")
    assert key not in session_conf("spark://m:7077", {"spark.submit.deployMode": "cluster"},
                                   enable_delta=False)                  # driver elsewhere
    for own in ("-Xshare:off", "-XX:SharedArchiveFile=/mine.jsa"):      # the user's choice
        assert session_conf("local[2]", {key: own}, enable_delta=False)[key] == own
    with archive.open("r+b") as f:                                      # lost its end
        f.truncate(5)
    assert key not in session_conf("local[2]", enable_delta=False)
    jvm_archive.mark_complete(archive)
    monkeypatch.setenv("TAURO_JVM_ARCHIVE", "off")
    assert key not in session_conf("local[2]", enable_delta=False)


def test_the_archive_name_changes_with_the_jars_it_was_built_for(monkeypatch, tmp_path):
    from tauro_compile.streaming import jvm_archive

    monkeypatch.delenv("TAURO_JVM_ARCHIVE", raising=False)
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "delta-spark_2.13-4.0.1.jar").write_bytes(b"")
    monkeypatch.setenv("TAURO_JARS_DIR", str(jars))
    first = jvm_archive.archive_path()
    assert first is not None and first.parent == jvm_archive.archive_dir()
    assert jvm_archive.archive_path() == first                          # stable
    (jars / "kafka-clients-3.9.1.jar").write_bytes(b"")
    assert jvm_archive.archive_path() != first                          # other jars


def test_pools_file_is_what_spark_reads(tmp_path):
    path = write_pools_file({"light": {"weight": 3, "min_share": 1, "mode": "FAIR"},
                             "clean_events": {}}, tmp_path / "fairscheduler.xml")
    pools = {p.get("name"): {c.tag: c.text for c in p} for p in ET.parse(path).getroot()}
    assert pools == {
        "clean_events": {"schedulingMode": "FIFO", "weight": "1", "minShare": "0"},
        "light": {"schedulingMode": "FAIR", "weight": "3", "minShare": "1"}}


def test_a_node_has_its_own_pool_unless_it_names_one():
    assert pool_for("clean_events", None) == "clean_events"
    assert pool_for("clean_events", "silver") == "silver"


def test_plan_pools_lists_every_node_pool_and_the_profile_settings(tmp_path):
    from tauro_compile.streaming.config import NodeConfig
    from tauro_compile.streaming.plan import PlannedNode

    def node(name, pool=None):
        cfg = NodeConfig.model_validate({
            "name": name, "input": {"format": "rate"}, "output": {"format": "console"},
            "streaming": {"pool": pool} if pool else {}})
        return PlannedNode(name=name, unique_id=f"p.{name}", config=cfg)

    plan = RunPlan(project_name="p", project_dir=tmp_path, target_dir=tmp_path / "target",
                   profile="dev", nodes=(node("a"), node("b", "shared"), node("c", "shared")),
                   spark=SparkSettings(pools={"shared": {"weight": 4}}))
    assert plan_pools(plan) == {"a": {}, "shared": {"weight": 4}}


def test_project_code_zip_holds_packages_and_modules_only(tmp_path):
    (tmp_path / "transforms" / "sub").mkdir(parents=True)
    (tmp_path / "transforms" / "__init__.py").write_text("")
    (tmp_path / "transforms" / "sub" / "x.py").write_text("X = 1\n")
    (tmp_path / "transforms" / "__pycache__").mkdir()
    (tmp_path / "transforms" / "__pycache__" / "y.py").write_text("")
    (tmp_path / "helpers.py").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.py").write_text("")          # not a package: not shipped
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "__init__.py").write_text("")
    plan = RunPlan(project_name="p", project_dir=tmp_path, target_dir=tmp_path / "target",
                   profile="dev", nodes=(), python_paths=(tmp_path,))
    archive = package_project(plan, tmp_path / "target" / "python" / "p_code.zip")
    assert archive is not None
    assert sorted(zipfile.ZipFile(archive).namelist()) == [
        "helpers.py", "transforms/__init__.py", "transforms/sub/x.py"]


def test_no_python_code_means_nothing_to_ship(tmp_path):
    plan = RunPlan(project_name="p", project_dir=tmp_path, target_dir=tmp_path / "target",
                   profile="dev", nodes=(), python_paths=(tmp_path,))
    assert package_project(plan, tmp_path / "code.zip") is None
    assert not Path(tmp_path / "code.zip").exists()


def test_a_classic_object_is_not_a_connect_session():
    assert not is_connect_session(object())
