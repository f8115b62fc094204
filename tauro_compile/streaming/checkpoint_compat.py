"""Will a node's query still run on its checkpoint? The one comparison rule of `tauro plan`
and of the run-time guard of `tauro run`.

A `QueryShape` is what Tauro records beside a node's checkpoint each time it starts the
node's query (`<checkpoint>/.tauro/shape.json`): a fingerprint of the compiled node and the
query's stateful shape (its stateful operators with their keys and aggregates, its
watermarks, its streaming sources, its sink, its output mode, and the shuffle partitions).
`compare` holds the recorded shape against the current one (plus what Spark itself keeps
in the checkpoint: `CheckpointFacts`) and gives a `Verdict`.

The rules follow Spark's "Recovery Semantics after Changes in a Streaming Query" and what
Spark 4 checks when it restarts a query on a checkpoint; tests in
tests/integration/streaming/test_checkpoint_compat_spark.py show Spark behaving so:

- a stateful operator added, removed or replaced: Spark 4 compares the operators with the
  checkpoint's `state/<op>/_metadata` and refuses
  (`STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_METADATA`), or, without operator
  metadata, fails reading state that is not there;
- grouping or dedup keys, or aggregates, changed: the state schema in the checkpoint
  (`state/<op>/<partition>/_metadata/schema`) no longer matches
  (`STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE` / `..._VALUE_SCHEMA_...`); when the types happen
  to match, Spark goes on and silently mixes the old keys' state with the new ones;
- a streaming source changed (another path, table or topics, another format, or a source
  added): Spark maps offsets by source position, so the new source resumes from the old
  one's offsets (Delta refuses another table; a file source skips or re-reads files);
- shuffle partitions of a stateful query: Spark restores the value from the checkpoint's
  offsets log and ignores the new one (the state is partitioned by it);
- the watermark column of a stateful query: the checkpoint's watermark (of the old column's
  times) applies to the new column, so its rows can be dropped as late without a word;
- the output mode of a stateful query: the state kept was built for the old mode's emission
  (append waits for the watermark, update/complete emit at once): rows are emitted twice or
  never;
- the sink's location or format: the checkpoint's position is kept, so the new output only
  gets rows from that position on (a Kafka topic is the documented exception).

Compatible (Spark documents them as allowed): trigger, sink options, a Kafka sink topic,
the watermark delay, and stateless projections and filters.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SHAPE_VERSION = 1
NEW = "new"
UNCHANGED = "unchanged"
COMPATIBLE = "compatible change"
INCOMPATIBLE = "incompatible with its checkpoint"

VerdictStatus = Literal["new", "unchanged", "compatible change",
                        "incompatible with its checkpoint"]


def remedy(node: str) -> str:
    """The command that rebuilds a node (and what reads it) from a fresh checkpoint."""
    return f"tauro run --full-refresh -s {node}+"


@dataclass(frozen=True)
class StatefulOp:
    """One stateful operator of a query: its kind, its keys (name type) and its details."""

    kind: str                          # aggregate | dedup | dedup_within_watermark | join | ...
    keys: tuple[str, ...] = ()
    detail: str = ""                   # aggregates, join type: what the value schema is made of

    def describe(self) -> str:
        keys = ", ".join(self.keys) if self.keys else "no keys"
        return f"{self.kind} on ({keys})" + (f" [{self.detail}]" if self.detail else "")


@dataclass(frozen=True)
class QueryShape:
    """What a node's query was (or is) started with, as far as its checkpoint cares."""

    node: str
    fingerprint: str                   # sha256 of the compiled node (secrets as placeholders)
    sources: tuple[str, ...]           # `format:location` of each streaming source
    sink: str                          # `format:location`
    output_mode: str
    trigger: str
    sink_options: str                  # a hash: options may carry secrets' placeholders
    columns: tuple[str, ...]           # the output schema: `name type`
    stateful: tuple[StatefulOp, ...] = ()
    watermarks: tuple[str, ...] = ()   # `column delay`
    shuffle_partitions: str | None = None
    query: str = ""                    # a hash of the analyzed plan (sources left out)
    project_dir: str | None = None     # absolute: a moved project rebases its own paths
    version: int = SHAPE_VERSION

    @property
    def is_stateful(self) -> bool:
        return bool(self.stateful)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryShape:
        """The shape from its recorded JSON; ValueError when it is not one."""
        try:
            ops = tuple(StatefulOp(o["kind"], tuple(o.get("keys") or ()), o.get("detail", ""))
                        for o in data.get("stateful") or ())
            return cls(node=str(data["node"]), fingerprint=str(data["fingerprint"]),
                       sources=tuple(data["sources"]), sink=str(data["sink"]),
                       output_mode=str(data["output_mode"]), trigger=str(data["trigger"]),
                       sink_options=str(data["sink_options"]),
                       columns=tuple(data.get("columns") or ()), stateful=ops,
                       watermarks=tuple(data.get("watermarks") or ()),
                       shuffle_partitions=data.get("shuffle_partitions"),
                       query=str(data.get("query") or ""),
                       project_dir=data.get("project_dir"),
                       version=int(data.get("version", SHAPE_VERSION)))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a recorded query shape ({exc})") from None


@dataclass(frozen=True)
class CheckpointFacts:
    """What a checkpoint holds: whether the query ever started on it, and Spark's own record."""

    location: str
    exists: bool                        # Spark wrote at least one offsets entry
    recorded: QueryShape | None = None  # what Tauro last started it with
    # From Spark's files: `spark.sql.shuffle.partitions` in the latest offsets entry, and
    # the names of the stateful operators in `state/<op>/_metadata`, by operator id.
    shuffle_partitions: str | None = None
    state_operators: tuple[str, ...] = ()
    unreadable: str | None = None       # why the recorded shape could not be read
    # Files of Spark's logs holding absolute paths outside the node's current input or
    # output (a moved or copied project): `(file, old location, new location, effect)`.
    foreign_paths: tuple[tuple[str, str, str, str], ...] = ()


@dataclass(frozen=True)
class Change:
    """One difference between the checkpoint's query and the current one."""

    what: str
    compatible: bool
    why: str = ""

    def render(self) -> str:
        return self.what + (f": {self.why}" if self.why else "")


@dataclass(frozen=True)
class Verdict:
    """The answer for one node: its status, the changes behind it, and what to do."""

    node: str
    status: VerdictStatus
    changes: tuple[Change, ...] = ()
    checkpoint: str | None = None
    remedy: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def incompatible(self) -> bool:
        return self.status == INCOMPATIBLE

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "verdict": self.status, "checkpoint": self.checkpoint,
                "changes": [{"what": c.what, "compatible": c.compatible, "why": c.why}
                            for c in self.changes],
                "remedy": self.remedy, "notes": list(self.notes)}


def fingerprint_of(data: Any) -> str:
    """A stable sha256 of a JSON-able structure (keys sorted)."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compare(facts: CheckpointFacts, current: QueryShape) -> Verdict:
    """The verdict for the current query on the checkpoint described by `facts`."""
    node = current.node
    if not facts.exists:
        return Verdict(node, NEW, checkpoint=facts.location)
    changes: list[Change] = []
    notes: list[str] = []
    old = facts.recorded
    if old is None:
        why = facts.unreadable or "it was written before Tauro recorded query shapes"
        notes.append(f"no recorded shape beside the checkpoint ({why}); only what Spark "
                     "keeps in it was compared")
    else:
        moved = _moved(old, current)
        if moved is not None:
            old = moved
            notes.append(f"the project moved from {facts.recorded.project_dir} to "  # type: ignore[union-attr]
                         f"{current.project_dir}")
        changes += _shape_changes(old, current)
    changes += _spark_record_changes(facts, current)
    changes += [_foreign_path_change(node, *found) for found in facts.foreign_paths]
    changes = _unique(changes)
    if any(not c.compatible for c in changes):
        return Verdict(node, INCOMPATIBLE, tuple(changes), facts.location, remedy(node),
                       tuple(notes))
    touched = old is not None and (old.fingerprint != current.fingerprint
                                   or old.query != current.query)
    if changes or touched:
        if not changes:
            changes = [Change("the node changed without touching its state (a stateless filter or "
                              "projection, or its other settings)", True)]
        return Verdict(node, COMPATIBLE, tuple(changes), facts.location, notes=tuple(notes))
    return Verdict(node, UNCHANGED, (), facts.location, notes=tuple(notes))


def _moved(old: QueryShape, new: QueryShape) -> QueryShape | None:
    """`old` with its paths under its project folder rebased to the current one, when the
    project was moved or copied (or run from another folder); None when it was not."""
    if not old.project_dir or not new.project_dir or old.project_dir == new.project_dir:
        return None
    before, after = old.project_dir.rstrip("/"), new.project_dir.rstrip("/")

    def rebase(ident: str) -> str:
        kind, _, where = ident.partition(":")
        for prefix in ("", "file:", "file://"):
            if where.startswith(prefix + before + "/") or where == prefix + before:
                return f"{kind}:{prefix}{after}{where[len(prefix + before):]}"
        return ident

    from dataclasses import replace

    return replace(old, sources=tuple(rebase(s) for s in old.sources), sink=rebase(old.sink),
                   project_dir=new.project_dir)


def move_choices(node: str, old: str) -> str:
    """What a user can do about a checkpoint that holds a path of the project's old folder."""
    return (f"choices: move the project back (so that {old} is the node's path again); or "
            f"run `{remedy(node)}` (a fresh checkpoint and output); or set the profile's "
            "paths (paths.checkpoints and the data paths) to absolute locations that stay "
            "put when the project moves")


def _foreign_path_change(node: str, file: str, old: str, new: str, effect: str) -> Change:
    return Change(f"{file} holds the absolute path {old}, not {new}", False,
                  f"{effect}. The project was moved or copied, or runs from another working "
                  f"directory; {move_choices(node, old)}")


def _shape_changes(old: QueryShape, new: QueryShape) -> list[Change]:
    changes: list[Change] = []
    stateful = old.is_stateful or new.is_stateful
    if old.sources != new.sources:
        changes.append(Change(
            f"source changed: {_items(old.sources)} -> {_items(new.sources)}", False,
            "Spark maps the checkpoint's offsets to sources by position: the new source "
            "would resume from the old one's offsets (Delta refuses another table; files "
            "are skipped or read again)"))
    changes += _stateful_changes(old.stateful, new.stateful)
    if stateful and old.stateful and new.stateful and old.watermarks != new.watermarks:
        old_cols = [w.split(" ", 1)[0] for w in old.watermarks]
        new_cols = [w.split(" ", 1)[0] for w in new.watermarks]
        if old_cols != new_cols:
            changes.append(Change(
                f"watermark column changed: {_items(old.watermarks)} -> "
                f"{_items(new.watermarks)}", False,
                "the checkpoint's watermark (the old column's event times) applies to the "
                "new column: its rows can be dropped as late without an error"))
        else:
            changes.append(Change(f"watermark delay changed: {_items(old.watermarks)} -> "
                                  f"{_items(new.watermarks)}", True))
    elif old.watermarks != new.watermarks:
        changes.append(Change(f"watermark changed: {_items(old.watermarks)} -> "
                              f"{_items(new.watermarks)} (the query keeps no state)", True))
    if old.output_mode != new.output_mode:
        if stateful:
            changes.append(Change(
                f"output mode changed: {old.output_mode} -> {new.output_mode}", False,
                "the state was built for the old mode's emission (append waits for the "
                "watermark, update and complete emit at once): rows would be emitted twice "
                "or never"))
        else:
            changes.append(Change(f"output mode changed: {old.output_mode} -> "
                                  f"{new.output_mode} (the query keeps no state)", True))
    if stateful and old.stateful and new.stateful and old.shuffle_partitions and \
            new.shuffle_partitions and old.shuffle_partitions != new.shuffle_partitions:
        changes.append(_partitions_change(old.shuffle_partitions, new.shuffle_partitions))
    if old.sink != new.sink:
        if old.sink.startswith("kafka:") and new.sink.startswith("kafka:"):
            changes.append(Change(f"Kafka output topic changed: {old.sink} -> {new.sink}",
                                  True))
        else:
            changes.append(Change(
                f"output changed: {old.sink} -> {new.sink}", False,
                "the checkpoint's position is kept, so the new output would only get the "
                "rows after it; what was written before stays in the old output"))
    if old.trigger != new.trigger:
        changes.append(Change(f"trigger changed: {old.trigger} -> {new.trigger}", True))
    if old.sink_options != new.sink_options:
        changes.append(Change("output options changed", True))
    if old.columns != new.columns and not _stateful_changed(changes):
        changes.append(Change(_columns_change(old.columns, new.columns), True,
                              "a stateless projection or filter; the output must accept the "
                              "new columns" if not stateful else ""))
    return changes


def _stateful_changes(old: tuple[StatefulOp, ...],
                      new: tuple[StatefulOp, ...]) -> list[Change]:
    if [o.kind for o in old] != [o.kind for o in new]:
        before = "; ".join(o.describe() for o in old) or "none"
        after = "; ".join(o.describe() for o in new) or "none"
        what = ("stateful operator added" if len(new) > len(old) else
                "stateful operator removed" if len(new) < len(old) else
                "stateful operator replaced")
        return [Change(f"{what}: {before} -> {after}", False,
                       "Spark 4 checks the operators against the checkpoint's state metadata "
                       "and refuses to start (STREAMING_STATEFUL_OPERATOR_NOT_MATCH_IN_STATE_"
                       "METADATA)")]
    changes = []
    for index, (a, b) in enumerate(zip(old, new, strict=True)):
        if a.keys != b.keys:
            label = "dedup keys" if a.kind.startswith("dedup") else (
                "join keys" if a.kind == "join" else "grouping keys")
            changes.append(Change(
                f"{label} of {a.kind} #{index} changed: ({', '.join(a.keys)}) -> "
                f"({', '.join(b.keys)})", False,
                "the state is keyed by them: Spark refuses a key schema that no longer "
                "matches (STATE_STORE_KEY_SCHEMA_NOT_COMPATIBLE), and where the types match "
                "it goes on with the old keys' state mixed into the new ones"))
        elif a.detail != b.detail:
            changes.append(Change(
                f"state of {a.kind} #{index} changed: [{a.detail}] -> [{b.detail}]", False,
                "the state's value schema changes: Spark refuses it "
                "(STATE_STORE_VALUE_SCHEMA_NOT_COMPATIBLE), or, where the types match, goes "
                "on from values computed the old way"))
    return changes


def _spark_record_changes(facts: CheckpointFacts, current: QueryShape) -> list[Change]:
    """What Spark's own files say, for checkpoints with or without a recorded shape."""
    changes = []
    if current.is_stateful and facts.shuffle_partitions and current.shuffle_partitions and \
            facts.shuffle_partitions != current.shuffle_partitions:
        changes.append(_partitions_change(facts.shuffle_partitions, current.shuffle_partitions))
    if facts.recorded is None and len(facts.state_operators) != len(current.stateful):
        kept = ", ".join(facts.state_operators) or "none"
        changes.append(Change(
            f"stateful operators changed: the checkpoint keeps state for "
            f"{len(facts.state_operators)} ({kept}), the query has {len(current.stateful)}",
            False, "Spark 4 checks the operators against the checkpoint's state metadata and "
                   "refuses to start"))
    return changes


def _partitions_change(old: str, new: str) -> Change:
    return Change(
        f"shuffle partitions of a stateful query changed: {old} -> {new}", False,
        "the state is partitioned by them: Spark restores the checkpoint's value "
        f"({old}) from its offsets log and ignores the new one")


def _stateful_changed(changes: list[Change]) -> bool:
    return any(not c.compatible and ("stateful" in c.what or "keys" in c.what
                                     or c.what.startswith("state of")) for c in changes)


def _columns_change(old: tuple[str, ...], new: tuple[str, ...]) -> str:
    added = [c for c in new if c not in old]
    removed = [c for c in old if c not in new]
    parts = []
    if added:
        parts.append("added " + ", ".join(added))
    if removed:
        parts.append("removed " + ", ".join(removed))
    return "output columns changed: " + ("; ".join(parts) or "reordered")


def _items(values: tuple[str, ...]) -> str:
    return ", ".join(values) if values else "none"


def _unique(changes: list[Change]) -> list[Change]:
    seen: set[str] = set()
    out = []
    for change in changes:
        if change.what not in seen:
            seen.add(change.what)
            out.append(change)
    return out


__all__ = ["COMPATIBLE", "INCOMPATIBLE", "NEW", "UNCHANGED", "Change", "CheckpointFacts",
           "QueryShape", "StatefulOp", "Verdict", "compare", "fingerprint_of", "remedy"]
