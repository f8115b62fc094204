"""Data contracts (ODCS v3) enforced on every micro-batch, in the same pass as the write.

Importing this package never imports pyspark: the compiler calls `load_contract` and
`check_declared_schema` at compile time; the Spark side (`ContractEnforcer`, the batch
stage) imports pyspark only when a batch is validated.
"""

from __future__ import annotations

from tauro_compile.contracts.errors import (
    ContractError,
    ContractSchemaError,
    ContractViolationError,
)
from tauro_compile.contracts.loader import load_contract, parse_contract
from tauro_compile.contracts.model import ColumnSpec, Contract, Expectation, SchemaViolation
from tauro_compile.contracts.schema import check_declared_schema, check_schema

__all__ = [
    "ColumnSpec",
    "Contract",
    "ContractError",
    "ContractSchemaError",
    "ContractViolationError",
    "Expectation",
    "SchemaViolation",
    "check_declared_schema",
    "check_schema",
    "load_contract",
    "parse_contract",
]
