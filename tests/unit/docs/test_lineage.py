"""The lineage graph of a manifest: elements, edges through Kafka topics, layered layout."""

from __future__ import annotations

from tauro_compile.docs.lineage import LAYER_GAP, Lineage


def node(name, inp, out, deps=(), **config):
    return {"name": name, "unique_id": f"p.{name}",
            "depends_on": {"nodes": [f"p.{d}" for d in deps], "sources": []},
            "config": {"input": inp, "output": out, **config}}


def kafka(**options):
    return {"format": "kafka", "options": {"kafka.bootstrap.servers": "b:9092", **options}}


def manifest(*nodes):
    return {"nodes": {n["unique_id"]: n for n in nodes}, "sources": {}}


def ids_and_edges(lineage):
    data = lineage.to_data()
    ids = [e["id"] for e in data["elements"]]
    return {e["id"]: e for e in data["elements"]}, {(ids[a], ids[b]) for a, b in data["edges"]}


def test_a_topic_one_node_writes_and_another_reads_links_them():
    elements, edges = ids_and_edges(Lineage(manifest(
        node("producer", {"format": "rate"}, kafka(topic="orders")),
        node("consumer", kafka(subscribe="orders, refunds"), {"format": "delta", "path": "/o"}),
    )))
    assert {("input:rate:", "node:producer"), ("node:producer", "topic:orders"),
            ("topic:orders", "node:consumer"), ("topic:refunds", "node:consumer"),
            ("node:consumer", "output:consumer")} == edges
    assert elements["output:consumer"]["label"] == "o"
    x = {k: e["x"] for k, e in elements.items()}
    assert x["node:producer"] < x["topic:orders"] < x["node:consumer"] < x["output:consumer"]
    assert x["topic:refunds"] == 0 and x["node:consumer"] == 3 * LAYER_GAP  # a root topic


def test_outputs_read_by_a_node_are_not_drawn_twice_and_rows_are_distinct():
    elements, edges = ids_and_edges(Lineage(manifest(
        node("a", {"format": "rate"}, {"format": "delta", "path": "/a"}),
        node("b", {"format": "delta", "path": "/a"}, {"format": "delta", "path": "/b"}, deps=["a"]),
        node("c", {"format": "delta", "path": "/a"}, {"format": "delta", "path": "/c"}, deps=["a"]),
    )))
    assert "output:a" not in elements and ("node:a", "node:b") in edges
    same_layer = [(e["x"], e["y"]) for e in elements.values()]
    assert len(same_layer) == len(set(same_layer))      # no two boxes on one spot


def test_a_cycle_through_a_topic_still_lays_out_every_element():
    lineage = Lineage(manifest(
        node("loop", kafka(subscribe="t"), kafka(topic="t")),
    ))
    elements, edges = ids_and_edges(lineage)
    assert edges == {("topic:t", "node:loop"), ("node:loop", "topic:t")}
    assert set(elements) == {"topic:t", "node:loop"}
    spots = {(e["x"], e["y"]) for e in elements.values()}
    assert len(spots) == 2
