"""Fixtures for contract tests on real Spark + Delta (their data: support/contracts_data.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.contracts_data import write_contract


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    return write_contract(tmp_path / "orders.yaml")
