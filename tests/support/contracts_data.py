"""Data for the contract tests on real Spark + Delta (tests/integration/contracts): a schema,
a contract, good and mixed batches, JSON files as a stream, a node configuration.

A module of its own, not the contracts conftest: `from conftest import ...` resolves to
whichever conftest pytest imported last, and fails when these tests run with others."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

SCHEMA = "id BIGINT, status STRING, amount DOUBLE"

CONTRACT = """\
apiVersion: v3.0.2
kind: DataContract
id: urn:test:orders
version: 2.1.0
schema:
  - name: orders
    properties:
      - name: id
        logicalType: integer
        required: true
        unique: true
      - name: status
        logicalType: string
        quality:
          - mustBe: [new, paid]
      - name: amount
        logicalType: number
        quality:
          - mustBeGreaterOrEqualTo: 0
"""

GOOD = [{"id": 1, "status": "new", "amount": 10.0}, {"id": 2, "status": "paid", "amount": 0.0},
        {"id": 3, "status": "new", "amount": 5.5}]
MIXED = [{"id": 4, "status": "new", "amount": 1.0}, {"id": 5, "status": "lost", "amount": 2.0},
         {"id": 6, "status": "paid", "amount": -3.0}, {"id": None, "status": "new", "amount": 4.0},
         {"id": 7, "status": "paid", "amount": 7.0}]


def write_batches(directory: Path, *batches: list[dict[str, Any]]) -> Path:
    """One JSON-lines file per batch (the stream reads one file per micro-batch)."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(batches):
        path = directory / f"part-{i:03d}.json"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))  # the stream reads by mtime
    return directory


def write_contract(path: Path, text: str = CONTRACT) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def node_config(tmp_path: Path, source: Path, contract: dict[str, Any] | None,
                schema: str = SCHEMA) -> dict[str, Any]:
    node: dict[str, Any] = {
        "name": "orders",
        "input": {"format": "file_stream", "path": str(source), "file_format": "json",
                  "schema": schema, "options": {"maxFilesPerTrigger": 1}},
        "output": {"format": "delta", "path": str(tmp_path / "sink")},
        "streaming": {"trigger": {"type": "available_now"},
                      "checkpoint_location": str(tmp_path / "checkpoint")},
    }
    if contract is not None:
        node["contract"] = contract
    return node
