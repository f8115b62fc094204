"""example_project/ compiles cleanly with both profiles and shows what it claims to show."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tauro_compile.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "example_project"
NODES = ["raw_events", "clean_events", "purchases", "user_activity"]


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the example (compiling writes target/, which must not land in the repo)."""
    for name in ("TAURO_PROFILE", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_JAAS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    copy = tmp_path / "example_project"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(
        "target", "warehouse", "checkpoints", "prod", "__pycache__"))
    return copy


def compile_json(project: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        main, ["compile", "--project-dir", str(project), "--output", "json", *args],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads((project / "target" / "manifest.json").read_text())


def configs(manifest: dict) -> dict[str, dict]:
    return {n["name"]: n["config"] for n in manifest["nodes"].values()}


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_compiles_cleanly(project, profile):
    manifest = compile_json(project, "--profile", profile)
    assert manifest["metadata"]["profile"] == profile
    assert manifest["metadata"]["selected"] == NODES
    parents = {k.split(".")[-1]: [p.split(".")[-1] for p in v]
               for k, v in manifest["parent_map"].items()}
    assert parents == {"raw_events": [], "clean_events": ["raw_events"],
                       "purchases": ["clean_events"], "user_activity": ["clean_events"]}
    tags = {n["name"]: n["tags"] for n in manifest["nodes"].values()}
    assert {t[0] for t in tags.values()} == {"bronze", "silver", "gold"}


def test_default_profile_is_dev(project):
    assert compile_json(project)["metadata"]["profile"] == "dev"


def test_dev_reads_shipped_files_and_stops(project):
    cfg = configs(compile_json(project, "--profile", "dev"))
    raw_input = cfg["raw_events"]["input"]
    assert raw_input["format"] == "file_stream" and raw_input["file_format"] == "json"
    assert Path(raw_input["path"]) == project / "data" / "landing" / "events"
    assert {c["streaming"]["trigger"]["type"] for c in cfg.values()} == {"available_now"}
    for c in cfg.values():
        assert Path(c["streaming"]["checkpoint_location"]).parent == project / "data" / "checkpoints"
        assert Path(c["output"]["path"]).is_relative_to(project / "data" / "warehouse")


def test_prod_reads_kafka_with_processing_time_triggers(project, monkeypatch):
    cfg = configs(compile_json(project, "--profile", "prod"))
    raw_input = cfg["raw_events"]["input"]
    assert raw_input["format"] == "kafka" and raw_input["parse_json"] is True
    assert raw_input["options"]["kafka.bootstrap.servers"] == "localhost:9092"
    assert raw_input["options"]["subscribe"] == "events"
    assert not any("sasl" in key for key in raw_input["options"])  # plain broker by default
    triggers = {name: c["streaming"]["trigger"] for name, c in cfg.items()}
    assert triggers["raw_events"] == {"type": "processing_time", "interval": "30 seconds"}
    assert triggers["user_activity"] == {"type": "processing_time", "interval": "1 minute"}

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9093")
    cfg = configs(compile_json(project, "--profile", "prod"))
    assert cfg["raw_events"]["input"]["options"]["kafka.bootstrap.servers"] == "broker-1:9093"


def test_prod_sasl_secret_is_never_written(project, monkeypatch):
    secret = 'PlainLoginModule required username="u" password="s3cr3t-value";'
    monkeypatch.setenv("KAFKA_JAAS_CONFIG", secret)
    result = CliRunner().invoke(main, ["compile", "--project-dir", str(project), "--profile",
                                       "prod", "--vars", "{kafka_sasl: true}"])
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value" not in result.output
    options = configs(json.loads((project / "target" / "manifest.json").read_text()))[
        "raw_events"]["input"]["options"]
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.jaas.config"] == "***"
    for path in (project / "target").rglob("*"):
        if path.is_file():
            assert "s3cr3t-value" not in path.read_text(), path


def test_shows_every_feature_it_claims(project):
    manifest = compile_json(project, "--profile", "dev")
    cfg = configs(manifest)
    kinds = {name: ["sql" if t["sql"] else "python" for t in c["transforms"]]
             for name, c in cfg.items()}
    assert kinds["raw_events"] == ["python"]
    assert kinds["clean_events"] == ["sql", "python"]
    assert cfg["clean_events"]["input"]["watermark"] == {"column": "event_time", "delay": "1 hour"}
    # the `revenue` macro and the `{% for %}` over event types were rendered
    gold_sql = cfg["user_activity"]["transforms"][0]["sql"]
    assert "round(price * coalesce(quantity, 1), 2)" in gold_sql
    assert "count_if(event_type = 'add_to_cart')" in gold_sql
    assert cfg["user_activity"]["streaming"]["output_mode"] == "complete"
    assert cfg["purchases"]["output"]["mode"] == "merge"
    assert cfg["purchases"]["output"]["merge_keys"] == ["order_id"]
    contract = cfg["clean_events"]["contract"]
    assert contract["policy"] == "quarantine" and contract["quarantine"]["format"] == "delta"
    assert manifest["nodes"]["clickstream.raw_events"]["depends_on"]["sources"] == [
        "source.clickstream.landing_events"]


def test_contract_is_odcs_v3():
    from open_data_contract_standard.model import OpenDataContractStandard

    contract = OpenDataContractStandard.from_file(str(EXAMPLE / "contracts" / "clean_events.yaml"))
    assert (contract.apiVersion, contract.kind, contract.status) == ("v3.0.2", "DataContract", "active")
    assert contract.id and contract.version
    props = {p.name: p for p in contract.schema_[0].properties}
    assert props["event_id"].required and props["user_id"].required
    # v3.0.2's logical types (no `timestamp` yet: timestamps are `date` with a physical type)
    allowed = {"string", "date", "number", "integer", "object", "array", "boolean"}
    assert {p.logicalType for p in props.values()} <= allowed


def test_landing_data_is_messy_enough_to_show_cleaning():
    rows = [json.loads(line)
            for f in sorted((EXAMPLE / "data" / "landing" / "events").glob("*.json"))
            for line in f.read_text().splitlines()]
    assert 200 <= len(rows) <= 1000
    ids = [r["event_id"] for r in rows]
    assert len(ids) - len(set(ids)) >= 5                                   # duplicates
    assert sum(1 for r in rows if not (r.get("user_id") or "").strip()) >= 5  # missing users
    assert any(r["event_type"] != r["event_type"].strip().lower() for r in rows)
    assert any(float(r["price"]) < 0 for r in rows)                        # contract breakers


def test_node_files_are_documented():
    for path in (EXAMPLE / "nodes").rglob("*.yml"):
        text = path.read_text()
        assert text.startswith("#"), f"{path} should open with a comment saying what it does"
