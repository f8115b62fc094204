"""What several nodes may not share, checked once for the compiler and the library.

Two nodes of one pipeline may not share a name, a query name (Spark refuses two active
queries with one name; a `memory` sink is named by it too), a checkpoint, or a main output
(two streams writing one sink interleave and break exactly-once). Side outputs (a contract's
quarantine, dead letters) are append-only and tagged per node, so several nodes may share one
quarantine or dead-letter table, but never with any node's main output.

Locations are compared normalised: `a/./b`, `a//b` and `a/c/../b` are one local path; URIs
(`s3://bucket/x/`) keep their scheme and authority and normalise their path; table names
compare case-insensitively; a Kafka sink is its topic on its bootstrap servers.
`collisions(nodes)` returns each shared thing once with the positions of every node sharing
it; the compiler adds file and line to each, the library lists them in its error.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tauro_compile.streaming.config import ConfigIssue, NodeConfig, OutputConfig

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*:)(?P<rest>/.*)$")

HINTS = {
    "name": "node names identify checkpoints and results: give each node its own",
    "query name": "Spark refuses two active queries with one name",
    "checkpoint location": "each node needs its own checkpoint; remove the explicit "
                           "checkpoint_location to get <checkpoints>/<node name>",
    "output": "two streams writing one sink interleave and break exactly-once; write to "
              "separate sinks and union downstream",
    "side output": "a quarantine or dead-letter sink may be shared by several nodes, but "
                   "not with a node's main output",
}


@dataclass(frozen=True)
class Collision:
    """One thing (`what`, `value`) claimed several times: (node position, field naming it)."""

    what: str
    value: str
    claims: tuple[tuple[int, str], ...]

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(position for position, _ in self.claims))

    @property
    def hint(self) -> str:
        return HINTS[self.what]

    def issues(self, label: Callable[[int], str]) -> list[tuple[int, ConfigIssue]]:
        """One issue per claim, naming the other claimants (`label(position)`), for the node
        that makes it."""
        found = []
        for position, field in self.claims:
            others = ", ".join(
                "its own " + other_field if other == position else label(other)
                for other, other_field in self.claims if (other, other_field) != (position, field))
            found.append((position, ConfigIssue(
                field, f"{self.what} shared with {others}",
                expected=f"a {self.what} no other node uses" if self.what != "side output"
                else "a sink that is no node's main output", found=self.value, hint=self.hint)))
        return found


def location_key(location: str) -> str:
    """A path or URI in one spelling: `a/./b`, `a//b`, `a/c/../b` and `a/b/` are one place."""
    match = _URI.match(location)
    if match:
        rest = match.group("rest")
        authority = ""
        if rest.startswith("//"):
            authority, _, rest = rest[2:].partition("/")
            authority, rest = f"//{authority}", "/" + rest
        return f"{match.group('scheme')}{authority}{posixpath.normpath(rest)}"
    return os.path.normpath(location)


def sink_key(out: OutputConfig) -> tuple[str, ...] | None:
    """What identifies a sink (None for sinks that cannot collide: console, foreach_batch)."""
    if out.table_name:
        return ("table", out.table_name.lower())
    if out.path:
        return ("path", location_key(out.path))
    if out.format == "kafka" and out.options.get("topic"):
        return ("kafka topic", str(out.options["topic"]), "on",
                str(out.options.get("kafka.bootstrap.servers", "")))
    return None


def _sink_field(prefix: str, out: OutputConfig) -> str:
    if out.table_name:
        return f"{prefix}.table_name"
    if out.path:
        return f"{prefix}.path"
    return f"{prefix}.options.topic"


def side_outputs(node: NodeConfig) -> list[tuple[str, OutputConfig]]:
    """The node's quarantine and dead-letter sinks as outputs, with the field naming each."""
    found: list[tuple[str, OutputConfig]] = []
    if node.contract is not None and node.contract.quarantine is not None:
        found.append(("contract.quarantine", node.contract.quarantine))
    dead = node.input.dead_letter
    if dead is not None and node.input.on_parse_error == "dead_letter":
        options = {"topic": dead.topic, **{k: v for k, v in node.input.options.items()
                                           if k.startswith("kafka.")}} if dead.topic else {}
        found.append(("input.dead_letter", OutputConfig(
            format=dead.format, path=dead.path, table_name=dead.table_name,
            options={**options, **dead.options})))
    return found


def collisions(nodes: Sequence[NodeConfig], *, names: bool = True) -> list[Collision]:
    """Everything claimed twice among `nodes` that may not be (see the module docstring); a
    node's side output that is its own main output counts too.

    `names=False` leaves duplicate node names out (the compiler reports those itself, with
    both files, before nodes are resolved).
    """
    claims: dict[tuple[str, ...], list[tuple[int, str]]] = {}

    def claim(key: tuple[str, ...], position: int, field: str) -> None:
        claims.setdefault(key, []).append((position, field))

    main_sinks: dict[tuple[str, ...], bool] = {}
    for position, node in enumerate(nodes):
        if names:
            claim(("name", node.name), position, "name")
        claim(("query name", node.query_name), position, "streaming.query_name")
        if node.streaming.checkpoint_location:
            claim(("checkpoint location", location_key(node.streaming.checkpoint_location)),
                  position, "streaming.checkpoint_location")
        key = sink_key(node.output)
        if key is not None:
            claim(("output", *key), position, _sink_field("output", node.output))
            main_sinks[key] = True
    for position, node in enumerate(nodes):
        for prefix, out in side_outputs(node):
            key = sink_key(out)
            if key is not None and key in main_sinks:
                claim(("output", *key), position, _sink_field(prefix, out))

    found = []
    for (what, *value), claimants in claims.items():
        if len(claimants) < 2:
            continue
        side = what == "output" and any(not f.startswith("output.") for _, f in claimants)
        found.append(Collision("side output" if side else what, " ".join(value),
                               tuple(claimants)))
    return found
