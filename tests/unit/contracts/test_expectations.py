"""Expectations derived from contracts: names, conditions, thresholds, rejected forms."""

from __future__ import annotations

import textwrap

import pytest

from tauro_compile.contracts import ContractError, parse_contract
from tauro_compile.contracts.model import Threshold

HEADER = "apiVersion: v3.1.0\nkind: DataContract\nid: c\nversion: 1.0.0\n"


def load(body: str):
    return parse_contract(HEADER + textwrap.dedent(body), file="c.yaml")


def rules(body: str) -> dict:
    return {e.name: e for e in load(body).expectations}


def test_property_rules() -> None:
    found = rules("""\
        schema:
          - name: t
            properties:
              - name: id
                logicalType: integer
                required: true
                unique: true
              - name: email
                logicalType: string
                logicalTypeOptions: {pattern: '^.+@.+$', maxLength: 50}
              - name: status
                enum: [{value: new}, {value: paid}]
              - name: amount
                logicalType: number
                logicalTypeOptions: {minimum: 0, exclusiveMaximum: 1000}
                quality:
                  - mustBeBetween: [0, 500]
                    name: amount_range
                  - mustNotBe: [13]
        """)
    assert found["id.required"].condition == "`id` IS NULL"
    assert found["id.unique"].metric == "duplicates" and found["id.unique"].columns == ("id",)
    assert "RLIKE '^.+@.+$'" in found["email.pattern"].condition
    assert "length(`email`) > 50" in found["email.maxLength"].condition
    assert "NOT IN ('new', 'paid')" in found["status.enum"].condition
    assert "NOT (`amount` >= 0)" in found["amount.minimum"].condition
    assert "NOT (`amount` < 1000)" in found["amount.exclusiveMaximum"].condition
    assert "BETWEEN 0 AND 500" in found["amount_range"].condition
    assert "(`amount` IN (13))" in found["amount.mustNotBe"].condition
    assert all(e.row_level for e in found.values())


def test_string_stored_dates_get_a_conversion_rule() -> None:
    contract = load("""\
        schema:
          - name: t
            properties:
              - name: day
                logicalType: date
                physicalType: varchar(10)
                logicalTypeOptions: {format: yyyy-MM-dd, minimum: '2020-01-01'}
        """)
    col = contract.column("day")
    assert col.stored_as_string and col.logical_type == "date"
    found = {e.name: e for e in contract.expectations}
    assert "try_to_timestamp(`day`, 'yyyy-MM-dd')" in found["day.logicalType"].condition
    assert "try_to_timestamp" in found["day.minimum"].condition


def test_library_metrics_and_thresholds() -> None:
    found = rules("""\
        schema:
          - name: t
            properties:
              - name: country
                quality:
                  - metric: nullValues
                    mustBeLessThan: 5
                    unit: percent
                  - metric: invalidValues
                    arguments: {validValues: [ES, FR]}
                  - metric: missingValues
                    arguments: {missingValues: ['', 'n/a']}
                    severity: warning
            quality:
              - metric: rowCount
                mustBeGreaterThan: 0
              - metric: duplicateValues
                arguments: {properties: [country, city]}
        """)
    nulls = found["country.nullValues"]
    assert nulls.unit == "percent" and nulls.threshold == Threshold((("mustBeLessThan", 5),))
    assert nulls.metric_value(2, 10) == 20.0 and not nulls.threshold.passes(20.0)
    assert "NOT IN ('ES', 'FR')" in found["country.invalidValues"].condition
    assert found["country.missingValues"].severity == "warning"
    assert "IN ('', 'n/a')" in found["country.missingValues"].condition
    assert found["rowCount"].metric == "row_count" and not found["rowCount"].row_level
    assert found["country+city.duplicateValues"].columns == ("country", "city")


def test_supported_sql_rule_becomes_a_row_condition() -> None:
    found = rules("""\
        schema:
          - name: orders
            properties:
              - name: amount
                quality:
                  - type: sql
                    query: SELECT COUNT(*) FROM ${object} WHERE ${property} > 100
                    mustBeLessOrEqualTo: 3
            quality:
              - type: sql
                name: no_free_paid_orders
                query: "select count(*) from orders where amount = 0 and status = 'paid';"
              - type: sql
                query: SELECT COUNT(*) FROM {object}
                mustBeGreaterThan: 10
        """)
    prop = found["amount.quality[0]"]
    assert prop.condition == "(`amount` > 100)" and prop.row_level
    assert found["no_free_paid_orders"].condition == "(amount = 0 and status = 'paid')"
    batch = found["sql[1]"]
    assert batch.metric == "row_count" and not batch.row_level


@pytest.mark.parametrize("query", [
    "SELECT COUNT(*) FROM ${object} o JOIN other x ON o.id = x.id",
    "SELECT status, COUNT(*) FROM ${object} GROUP BY status",
    "SELECT COUNT(*) FROM ${object} WHERE id IN (SELECT id FROM other)",
    "SELECT SUM(amount) FROM ${object}",
    "SELECT COUNT(*) FROM ${object} WHERE a = 1; DROP TABLE x",
])
def test_unsupported_sql_is_rejected_at_load_time(query: str) -> None:
    with pytest.raises(ContractError) as info:
        load(f"""\
            schema:
              - name: orders
                quality:
                  - type: sql
                    query: "{query}"
            """)
    (problem,) = info.value.problems
    assert problem.field == "schema[0].quality[0].query" and problem.line == 9
    assert "SELECT COUNT(*) FROM ${object}" in problem.expected


def test_sql_on_another_table_is_rejected() -> None:
    with pytest.raises(ContractError) as info:
        load("""\
            schema:
              - name: orders
                quality:
                  - {type: sql, query: SELECT COUNT(*) FROM customers WHERE x = 1}
            """)
    assert info.value.problems[0].found == "customers"


def test_rule_problems_are_all_reported() -> None:
    with pytest.raises(ContractError) as info:
        load("""\
            schema:
              - name: t
                properties:
                  - name: a
                    logicalType: integr
                  - name: b
                    logicalTypeOptions: {pattern: '(unclosed'}
                  - name: c
                    quality:
                      - metric: nullValuez
                      - {}
                quality:
                  - metric: rowCount
            """)
    by_field = {p.field: p for p in info.value.problems}
    assert by_field["schema[0].properties[0].logicalType"].hint == "did you mean 'integer'?"
    assert by_field["schema[0].properties[1].logicalTypeOptions.pattern"].line == 11
    assert by_field["schema[0].properties[2].quality[0].metric"].hint == "did you mean 'nullValues'?"
    assert "operator" in by_field["schema[0].properties[2].quality[1]"].message
    assert "rowCount" in by_field["schema[0].quality[0]"].message


def test_text_custom_and_nested_rules_are_listed_as_not_enforced() -> None:
    contract = load("""\
        schema:
          - name: t
            properties:
              - name: address
                logicalType: object
                properties: [{name: city}]
              - name: email
                logicalTypeOptions: {format: email}
            quality:
              - {type: text, description: all good}
              - {type: custom, engine: soda, implementation: "x"}
        """)
    assert contract.expectations == ()
    assert len(contract.not_enforced) == 3


def test_duplicate_rule_names_get_a_suffix() -> None:
    found = rules("""\
        schema:
          - name: t
            properties:
              - name: a
                quality:
                  - {mustBeGreaterThan: 0, name: positive}
                  - {mustBeLessThan: 9, name: positive}
        """)
    assert set(found) == {"positive", "positive#2"}


def test_threshold_bounds() -> None:
    assert Threshold().bounds_from_above
    assert Threshold((("mustBeLessThan", 3),)).bounds_from_above
    assert not Threshold((("mustBeGreaterThan", 3),)).bounds_from_above
    assert Threshold((("mustBeBetween", [1, 3]),)).passes(2)
    assert not Threshold((("mustNotBeBetween", [1, 3]),)).passes(2)
