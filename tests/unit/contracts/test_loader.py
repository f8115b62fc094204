"""Loading ODCS files: valid contracts, and every kind of problem with its line and field."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tauro_compile.contracts import ContractError, load_contract, parse_contract
from tauro_compile.errors import EXIT_INVALID

HEADER = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:test:orders
version: 1.2.0
status: active
"""


def contract_text(body: str) -> str:
    return HEADER + textwrap.dedent(body)


def problems_of(text: str, **kw) -> list:
    with pytest.raises(ContractError) as info:
        parse_contract(text, file="contracts/orders.yaml", **kw)
    assert info.value.exit_code == EXIT_INVALID
    return info.value.problems


def test_loads_a_valid_contract(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(contract_text("""\
        schema:
          - name: orders
            properties:
              - name: id
                logicalType: integer
                required: true
        contractCreatedTs: 2024-05-01T10:00:00Z
        """))
    contract = load_contract(path)
    assert (contract.id, contract.version, contract.object_name) == ("urn:test:orders", "1.2.0", "orders")
    assert [c.name for c in contract.columns] == ["id"]
    assert [e.name for e in contract.expectations] == ["id.required"]
    assert contract.path == str(path)


def test_importing_the_package_does_not_import_pyspark() -> None:
    code = "import tauro_compile.contracts, sys; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ContractError) as info:
        load_contract(tmp_path / "nope.yaml")
    (problem,) = info.value.problems
    assert problem.file.endswith("nope.yaml") and problem.found == "no such file"


def test_invalid_yaml_reports_its_line() -> None:
    (problem,) = problems_of(HEADER + "schema: [\n  - name: x\n")
    assert problem.code == "yaml" and problem.line is not None and problem.line >= 6


def test_missing_required_top_level_fields() -> None:
    problems = problems_of("name: orders\n")
    assert {p.field for p in problems} == {"apiVersion", "kind", "id", "version", "schema"}


def test_wrong_api_version_and_kind() -> None:
    text = HEADER.replace("v3.0.2", "v2.2.0").replace("DataContract", "Other") + "schema: [{name: x}]\n"
    problems = {p.field: p for p in problems_of(text)}
    assert problems["apiVersion"].found == "v2.2.0" and problems["apiVersion"].line == 1
    assert problems["kind"].expected == "DataContract" and problems["kind"].line == 2


def test_pydantic_errors_carry_field_and_line() -> None:
    problems = problems_of(contract_text("""\
        schema:
          - name: orders
            properties:
              - name: id
                required: maybe
        """))
    (problem,) = problems
    assert problem.field == "schema[0].properties[0].required"
    assert problem.line == 10 and problem.found == "'maybe'"


def test_unknown_top_level_key_is_rejected_by_odcs() -> None:
    problems = problems_of(contract_text("schema: [{name: x}]\nowner: me\n"))
    assert any(p.field == "owner" and p.line == 7 for p in problems)


def test_typo_in_a_quality_rule_is_reported_not_ignored() -> None:
    problems = problems_of(contract_text("""\
        schema:
          - name: orders
            properties:
              - name: amount
                quality:
                  - mustBeGreaterThen: 0
        """))
    (problem,) = problems
    assert problem.field == "schema[0].properties[0].quality[0].mustBeGreaterThen"
    assert problem.line == 11 and problem.hint == "did you mean 'mustBeGreaterThan'?"


def test_long_operator_spelling_is_accepted() -> None:
    contract = parse_contract(contract_text("""\
        schema:
          - name: orders
            properties:
              - name: amount
                quality:
                  - mustBeGreaterThanOrEqualTo: 0
        """))
    (rule,) = contract.expectations
    assert rule.name == "amount.mustBeGreaterOrEqualTo"
    assert "`amount` >= 0" in rule.condition


def test_several_objects_need_a_name() -> None:
    text = contract_text("schema: [{name: a, properties: [{name: x}]}, {name: b}]\n")
    (problem,) = problems_of(text)
    assert problem.field == "schema" and problem.found == "a, b"
    assert parse_contract(text, object_name="a").object_name == "a"
    (problem,) = problems_of(text, object_name="c")
    assert problem.found == "c"


@pytest.mark.parametrize("key", ["metric", "rule"])
def test_unknown_library_metric_names_the_key_the_file_used(key: str) -> None:
    problems = problems_of(contract_text(f"""\
        schema:
          - name: orders
            properties:
              - name: amount
                quality:
                  - {key}: nulValues
        """))
    (problem,) = problems
    assert problem.field == f"schema[0].properties[0].quality[0].{key}"
    assert problem.found == "nulValues" and problem.hint == "did you mean 'nullValues'?"


def test_every_library_metric_has_a_handler() -> None:
    """The table of handlers is the list of metrics: each one derives a rule."""
    from tauro_compile.contracts.expectations import LIBRARY_METRICS

    assert set(LIBRARY_METRICS) == {"nullValues", "missingValues", "invalidValues",
                                    "duplicateValues", "rowCount"}
    for metric in LIBRARY_METRICS:
        extra = {"rowCount": "mustBeGreaterThan: 0",
                 "invalidValues": "arguments: {validValues: [1, 2]}"}.get(metric, "mustBe: 0")
        contract = parse_contract(contract_text(f"""\
            schema:
              - name: orders
                properties:
                  - name: amount
                    quality:
                      - metric: {metric}
                        {extra}
            """))
        (rule,) = contract.expectations
        assert rule.line == 11
        assert rule.metric == ("row_count" if metric == "rowCount" else
                               "duplicates" if metric == "duplicateValues" else "matching_rows")
