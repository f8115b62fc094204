"""The test broker's cluster ids never look like a command-line option."""

from __future__ import annotations

from support.kafka_broker import random_cluster_id


def test_cluster_ids_never_start_with_a_dash() -> None:
    ids = [random_cluster_id() for _ in range(2000)]
    assert all(not i.startswith("-") and len(i) == 22 for i in ids)
    assert len(set(ids)) == len(ids)
