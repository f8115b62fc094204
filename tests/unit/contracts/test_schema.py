"""Type compatibility, DDL parsing and the compile-time declared-schema check."""

from __future__ import annotations

import pytest

from tauro_compile.contracts import check_declared_schema, parse_contract
from tauro_compile.contracts.model import schema_violations
from tauro_compile.contracts.types import ColumnType, DDLParseError, is_compatible, parse_ddl

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:orders
version: 1.0.0
schema:
  - name: orders
    properties:
      - name: id
        logicalType: integer
        required: true
      - name: amount
        logicalType: number
      - name: note
        logicalType: string
      - name: day
        logicalType: date
        physicalType: string
      - name: qty
        physicalType: bigint
"""


@pytest.mark.parametrize(("logical", "spark_type", "ok"), [
    ("integer", "bigint", True), ("integer", "decimal(10,0)", True),
    ("integer", "decimal(10,2)", False), ("integer", "double", False),
    ("number", "decimal(10,2)", True), ("number", "int", True), ("number", "string", False),
    ("string", "string", True), ("string", "varchar(10)", True), ("string", "int", False),
    ("timestamp", "timestamp_ntz", True), ("date", "timestamp", False),
    ("boolean", "boolean", True), ("array", "array<string>", True), ("object", "struct<a:int>", True),
])
def test_compatibility(logical: str, spark_type: str, ok: bool) -> None:
    assert is_compatible(logical, spark_type) is ok


def test_parse_ddl() -> None:
    columns = parse_ddl("id BIGINT NOT NULL, `odd name` DECIMAL(10, 2) COMMENT 'x, y', "
                        "tags ARRAY<STRUCT<a: INT, b: STRING>>")
    assert columns == [
        ColumnType("id", "bigint", nullable=False),
        ColumnType("odd name", "decimal(10,2)"),
        ColumnType("tags", "array<struct<a:int,b:string>>"),
    ]
    assert parse_ddl("struct<a:int,b:string>") == [ColumnType("a", "int"), ColumnType("b", "string")]
    with pytest.raises(DDLParseError):
        parse_ddl("a array<int")


def test_schema_violations_name_column_expected_found() -> None:
    contract = parse_contract(CONTRACT, file="contracts/orders.yaml")
    violations = schema_violations(contract, [
        ColumnType("amount", "string"), ColumnType("day", "date"), ColumnType("qty", "bigint"),
        ColumnType("extra", "int"),
    ])
    by_column = {v.column: v for v in violations}
    assert set(by_column) == {"id", "amount", "day"}  # note is optional, extra is allowed
    assert by_column["id"].found == "no such column" and by_column["id"].line == 8
    assert by_column["amount"].found == "string" and "numeric" in by_column["amount"].expected
    assert by_column["day"].found == "date" and by_column["day"].expected.startswith("string")


def test_check_declared_schema_gives_problems_on_the_contract_line() -> None:
    contract = parse_contract(CONTRACT, file="contracts/orders.yaml")
    problems = check_declared_schema(contract, "id STRING, amount DOUBLE, day STRING",
                                     field="output.schema", node="orders")
    (problem,) = problems
    assert (problem.file, problem.line, problem.field) == ("contracts/orders.yaml", 8, "output.schema")
    assert problem.found == "string" and problem.node == "orders"
    assert check_declared_schema(contract, "id BIGINT, amount DECIMAL(12,2)") == []
    (bad,) = check_declared_schema(contract, "id BIGINT,, x")
    assert bad.code == "contract_schema" and "cannot read column definition 'x'" in bad.message
