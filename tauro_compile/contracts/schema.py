"""Schema checks: a declared DDL at compile time, the live streaming schema at query start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tauro_compile.contracts.model import Contract, SchemaViolation, schema_violations
from tauro_compile.contracts.types import ColumnType, DDLParseError, parse_ddl
from tauro_compile.errors import Problem

if TYPE_CHECKING:
    from pyspark.sql.types import StructType


def columns_of(spark_schema: StructType) -> list[ColumnType]:
    """A Spark schema as typed columns (`simpleString` types)."""
    return [ColumnType(f.name, f.dataType.simpleString(), f.nullable) for f in spark_schema.fields]


def check_schema(contract: Contract, spark_schema: StructType) -> list[SchemaViolation]:
    """Missing required columns and incompatible types of a live DataFrame schema."""
    return schema_violations(contract, columns_of(spark_schema))


def check_declared_schema(contract: Contract, ddl: str, *, field: str = "schema",
                          node: str | None = None) -> list[Problem]:
    """Compile-time check of a node's declared output schema (Spark DDL); no pyspark needed.

    Problems point at the contract's property line; `field` names the node field that
    declared the DDL so the user finds both sides.
    """
    try:
        columns = parse_ddl(ddl)
    except DDLParseError as exc:
        return [Problem(f"cannot read the declared schema: {exc}", field=field, found=ddl,
                        expected="a Spark DDL string, e.g. 'id BIGINT, name STRING'",
                        node=node, code="contract_schema")]
    return [
        Problem(
            f"declared schema breaks contract '{contract.id}': column '{v.column}' {v.message}",
            file=contract.path, line=v.line, field=field, expected=v.expected, found=v.found,
            hint="change the declared schema or the contract", node=node, code="contract_schema",
        )
        for v in schema_violations(contract, columns)
    ]
