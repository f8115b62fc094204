"""ODCS v3.0's `date` logical type covers date-times; the physicalType decides which."""

from __future__ import annotations

from tauro_compile.contracts import parse_contract
from tauro_compile.contracts.model import schema_violations
from tauro_compile.contracts.types import ColumnType

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:events
version: 1.0.0
schema:
  - name: events
    properties:
      - name: event_time
        logicalType: date
        physicalType: timestamp
      - name: event_date
        logicalType: date
        physicalType: date
"""


def test_date_with_timestamp_physical_type_accepts_timestamps() -> None:
    contract = parse_contract(CONTRACT)
    ok = [ColumnType("event_time", "timestamp"), ColumnType("event_date", "date")]
    assert schema_violations(contract, ok) == []


def test_date_with_date_physical_type_still_refuses_timestamps() -> None:
    contract = parse_contract(CONTRACT)
    bad = [ColumnType("event_time", "timestamp"), ColumnType("event_date", "timestamp")]
    violations = schema_violations(contract, bad)
    assert [v.column for v in violations] == ["event_date"]
