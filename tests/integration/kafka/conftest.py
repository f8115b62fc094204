"""Fixtures of the Kafka end-to-end tests (the `spark` and `kafka_broker` fixtures are suite-wide)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def batches() -> list[tuple[str, int, dict[str, Any]]]:
    """What the streaming layer's batch listener was told, in order."""
    return []


@pytest.fixture
def manager_for(spark, tmp_path: Path, batches) -> Callable[..., Any]:
    """A StreamingQueryManager on the shared session whose listener records into `batches`."""
    from tauro_compile.streaming import StreamingQueryManager

    def make() -> Any:
        return StreamingQueryManager({
            "spark": spark, "checkpoint_root": str(tmp_path / "checkpoints"),
            "batch_listener": lambda node, batch_id, info: batches.append((node, batch_id, info)),
        })

    return make
