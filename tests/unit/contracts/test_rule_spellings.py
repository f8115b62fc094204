"""Library rules in every spelling: ODCS v3.1 `metric:`, v3.0.x `rule:`, and dc43's names."""

from __future__ import annotations

import textwrap

import pytest

from tauro_compile.contracts import ContractError, parse_contract
from tauro_compile.contracts.model import Threshold


def load(body: str, api: str = "v3.0.2"):
    header = f"apiVersion: {api}\nkind: DataContract\nid: c\nversion: 1.0.0\n"
    return parse_contract(header + textwrap.dedent(body), file="contracts/c.yaml")


def rules(body: str, api: str = "v3.0.2") -> dict:
    return {e.name: e for e in load(body, api).expectations}


def problems(body: str) -> list:
    with pytest.raises(ContractError) as info:
        load(body)
    return info.value.problems


@pytest.mark.parametrize("metric", ["nullValues", "missingValues", "invalidValues",
                                    "duplicateValues"])
def test_rule_is_the_v30_spelling_of_metric(metric: str) -> None:
    """`rule: X` and `metric: X` derive the same expectation, threshold and unit."""
    body = """\
        schema:
          - name: t
            properties:
              - name: country
                quality:
                  - {key}: {metric}
                    arguments: {{validValues: [ES, FR]}}
                    mustBeLessThan: 5
                    unit: percent
        """
    by_metric = rules(body.format(key="metric", metric=metric), api="v3.1.0")
    by_rule = rules(body.format(key="rule", metric=metric))
    assert list(by_metric) == list(by_rule) == [f"country.{metric}"]
    (a,), (b,) = by_metric.values(), by_rule.values()
    assert (a.metric, a.condition, a.threshold, a.unit) == (b.metric, b.condition, b.threshold,
                                                            b.unit)
    assert a.threshold == Threshold((("mustBeLessThan", 5),)) and a.unit == "percent"


def test_the_v302_documentation_examples_load() -> None:
    """The library examples of the ODCS v3.0.2 documentation, verbatim."""
    found = rules("""\
        schema:
          - name: t
            properties:
              - name: name
                quality:
                  - type: library
                    rule: duplicateCount
                    mustBeLessThan: 10
                    name: Fewer than 10 duplicate names
                    unit: rows
                  - rule: duplicateCount
                    mustBeLessThan: 1
                    unit: percent
              - name: weight_unit
                quality:
                  - rule: validValues
                    validValues: ['pounds']
            quality:
              - rule: rowCount
                mustBeBetween: [100, 120]
                name: Verify row count range
        """)
    fewer = found["Fewer than 10 duplicate names"]
    assert (fewer.metric, fewer.columns, fewer.unit) == ("duplicates", ("name",), "rows")
    assert fewer.threshold == Threshold((("mustBeLessThan", 10),))
    share = found["name.duplicateCount"]
    assert share.unit == "percent" and share.threshold.passes(0.5) and not share.threshold.passes(1)
    valid = found["weight_unit.validValues"]
    assert valid.condition == "`weight_unit` IS NOT NULL AND (`weight_unit` NOT IN ('pounds'))"
    count = found["Verify row count range"]
    assert count.metric == "row_count" and count.threshold.passes(110)
    assert not count.threshold.passes(99)


def test_dc43_rule_names() -> None:
    """As dc43 writes them: `mustBe` is the rule's parameter, each value is checked."""
    found = rules("""\
        schema:
          - name: orders
            properties:
              - name: currency
                quality:
                  - rule: enum
                    mustBe: [EUR, USD]
              - name: sku
                quality:
                  - rule: regex
                    mustBe: '^SKU-[0-9]+$'
              - name: order_id
                quality:
                  - rule: unique
                  - rule: not_null
              - name: customer
                quality:
                  - rule: Required
                  - rule: ENUM
                    mustBe: [a, b]
                    mustBeLessOrEqualTo: 2
        """)
    enum = found["currency.enum"]
    assert enum.condition == "`currency` IS NOT NULL AND `currency` NOT IN ('EUR', 'USD')"
    assert enum.threshold == Threshold() and enum.row_level
    assert found["sku.regex"].condition == ("`sku` IS NOT NULL AND NOT (`sku` RLIKE "
                                            "'^SKU-[0-9]+$')")
    unique = found["order_id.unique"]
    assert (unique.metric, unique.columns, unique.threshold) == ("duplicates", ("order_id",),
                                                                 Threshold())
    assert found["order_id.not_null"].condition == "`order_id` IS NULL"
    assert found["customer.Required"].condition == "`customer` IS NULL"
    # Operators other than the parameter bound the count of violating rows.
    assert found["customer.ENUM"].threshold == Threshold((("mustBeLessOrEqualTo", 2),))


def test_unknown_rule_names_the_rule_field_with_line_and_hint() -> None:
    (problem,) = problems("""\
        schema:
          - name: t
            properties:
              - name: x
                quality:
                  - mustBe: 0
                  - rule: duplicatCount
        """)
    assert problem.message == "unknown quality rule 'duplicatCount'"
    assert problem.field == "schema[0].properties[0].quality[1].rule"
    assert (problem.file, problem.line) == ("contracts/c.yaml", 11)
    assert problem.hint == "did you mean 'duplicateCount'?"
    assert "enum" in problem.expected and "nullValues" in problem.expected


def test_is_null_is_refused_with_a_hint_of_its_own() -> None:
    (problem,) = problems("""\
        schema:
          - name: t
            properties:
              - name: x
                quality:
                  - rule: is_null
        """)
    assert problem.found == "is_null" and "not_null" in problem.hint
    assert "metric: nullValues" in problem.hint


def test_dc43_rules_check_their_parameter() -> None:
    found = problems("""\
        schema:
          - name: t
            properties:
              - name: x
                quality:
                  - rule: enum
                    mustBe: EUR
                  - rule: regex
                    mustBe: '(['
                  - rule: regex
            quality:
              - rule: not_null
        """)
    by_field = {p.field: p for p in found}
    assert by_field["schema[0].properties[0].quality[0].mustBe"].expected == "mustBe: [value, ...]"
    assert by_field["schema[0].properties[0].quality[1].mustBe"].message.startswith(
        "invalid regex pattern")
    assert by_field["schema[0].properties[0].quality[2].mustBe"].found == "None"
    assert by_field["schema[0].quality[0].rule"].message == "rule 'not_null' belongs on a property"
    assert len(found) == 4


def test_api_version_without_the_v_loads_as_dc43_writes_it() -> None:
    contract = load("schema: [{name: t, properties: [{name: x}]}]\n", api="3.0.2")
    assert contract.api_version == "3.0.2"
    with pytest.raises(ContractError) as info:
        load("schema: [{name: t}]\n", api="2.2.0")
    assert info.value.problems[0].found == "2.2.0"
