"""Has a stream's checkpoint already read everything its input holds? Read from the files.

A bounded node whose checkpoint has read all its input would start a query only to find
nothing: 1-6 s each, and the JVM's start for a run where nothing is new. These checks read
what Spark (and Delta) wrote, and answer only when they are sure; any doubt is None, and the
query is started so that Spark decides. They never write.

- `delta_stream_caught_up`: a Delta table read by path, every commit read.
- `file_stream_caught_up`: a file-stream directory, every file in it read, unchanged since.
- `kafka_caught_up`: subscribed Kafka topics over PLAINTEXT, every partition read to its
  latest offset (asked of the partitions' leaders from Python, `streaming.kafka_wire`).

Both read through a `Files`: `HadoopFiles` (the session's Hadoop FileSystem: any scheme
Spark reads) or `LocalFiles` (this machine's file system, no JVM needed), so a run can tell
that nothing is new before it starts Spark (see `runner.nothing_new`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from tauro_compile.streaming import storage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tauro_compile.streaming.plan import PlannedNode


@dataclass(frozen=True)
class Entry:
    """One entry of a directory listing."""

    name: str
    is_dir: bool
    uri: str                # the entry's full URI, as Spark logs it (`file:///a%20b`)
    modified_ms: int        # modification time, milliseconds since the epoch


class Files(Protocol):
    """The few reads the checks need."""

    def names(self, path: str) -> list[str]:
        """Names in a directory ([] when it does not exist)."""

    def exists(self, path: str) -> bool: ...

    def text(self, path: str) -> str | None:
        """A small text file's content, None when it does not exist."""

    def entries(self, path: str) -> list[Entry] | None:
        """A directory's entries, None when it does not exist."""


class HadoopFiles:
    """Reads through the session's Hadoop FileSystem, as Spark will."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark

    def names(self, path: str) -> list[str]:
        return storage.list_names(self.spark, path)

    def exists(self, path: str) -> bool:
        return storage.path_exists(self.spark, path)

    def text(self, path: str) -> str | None:
        return storage.read_text(self.spark, path)

    def entries(self, path: str) -> list[Entry] | None:
        fs, hadoop_path = storage._filesystem(self.spark, path)
        if not fs.exists(hadoop_path):
            return None
        return [Entry(str(s.getPath().getName()), bool(s.isDirectory()),
                      str(s.getPath().toUri().toString()), int(s.getModificationTime()))
                for s in fs.listStatus(hadoop_path)]


class LocalFiles:
    """The same reads on this machine's file system (plain or `file:` paths), without a JVM.

    Modification times are whole milliseconds, rounded down, as Hadoop's local file system
    reports them.
    """

    def names(self, path: str) -> list[str]:
        try:
            return os.listdir(_local(path))
        except FileNotFoundError:
            return []

    def exists(self, path: str) -> bool:
        return os.path.exists(_local(path))

    def text(self, path: str) -> str | None:
        try:
            with open(_local(path), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def entries(self, path: str) -> list[Entry] | None:
        from pathlib import Path

        directory = os.path.abspath(_local(path))
        try:
            scanned = list(os.scandir(directory))
        except FileNotFoundError:
            return None
        return [Entry(e.name, e.is_dir(), Path(directory, e.name).as_uri(),
                      e.stat().st_mtime_ns // 1_000_000) for e in scanned]


def is_local_path(path: str) -> bool:
    """True for a path this machine's file system holds: absolute, no scheme or `file:`."""
    if path.startswith("file:"):
        return True
    return "://" not in path and os.path.isabs(path)


def _local(path: str) -> str:
    if path.startswith("file://"):
        return path[len("file://"):]
    if path.startswith("file:"):
        return path[len("file:"):]
    return path


def delta_stream_caught_up(files: Files, checkpoint: str, table_path: str) -> int | None:
    """The version of `table_path` up to which the stream checkpointed at `checkpoint` has
    read everything, when it has read every commit the table has; None otherwise.

    The checkpoint's latest batch must be settled (`settled_offset`) with one Delta source
    offset of the form Delta writes once a version is read whole: `reservoirVersion` = the
    next version, `index` -1, not a starting snapshot. Caught up means that next version is
    one past the table's latest commit (its newest `_delta_log/<version>.json`, when no
    commit is staged in `_delta_log/_staged_commits/`).
    """
    offset = settled_offset(files, checkpoint)
    if not isinstance(offset, dict) or offset.get("index") != -1 or \
            offset.get("isStartingVersion") is not False or \
            not isinstance(offset.get("reservoirVersion"), int):
        return None
    log = f"{table_path.rstrip('/')}/_delta_log"
    names = files.names(log)
    # A commit staged there (a catalog-managed or coordinated-commits table) may be newer
    # than the newest file of the log itself.
    if "_staged_commits" in names and files.names(f"{log}/_staged_commits"):
        return None
    latest = storage._newest_commit(names)
    if latest is None or offset["reservoirVersion"] != latest + 1:
        return None
    return latest


def delta_log_version(files: Files, table_path: str) -> int | None:
    """The newest commit version in the Delta table's `_delta_log` listing, None when it has
    none (`storage.delta_log_version`, through `files`)."""
    return storage._newest_commit(files.names(f"{table_path.rstrip('/')}/_delta_log"))


def settled_offset(files: Files, checkpoint: str) -> Any:
    """The one source offset of the checkpoint's latest batch, when that batch is committed
    (`commits/N` beside `offsets/N`) and carries no event-time watermark (a watermark may
    call for a batch without new data); None otherwise (no checkpoint, a batch in flight,
    several sources, another shape)."""
    root = checkpoint.rstrip("/")
    batches = [int(n) for n in files.names(f"{root}/offsets") if n.isdigit()]
    if not batches:
        return None
    last = max(batches)
    if not files.exists(f"{root}/commits/{last}"):
        return None
    lines = [ln for ln in (files.text(f"{root}/offsets/{last}") or "").splitlines()
             if ln.strip()]
    if len(lines) != 3 or lines[0].strip() != "v1":
        return None
    try:
        metadata, offset = json.loads(lines[1]), json.loads(lines[2])
    except ValueError:
        return None
    if not isinstance(metadata, dict) or metadata.get("batchWatermarkMs", 0) != 0:
        return None
    return offset


_GLOB = re.compile(r"[*?\[\]{}]")


def file_stream_caught_up(files: Files, checkpoint: str, directory: str) -> int | None:
    """The number of files in `directory`, when the file stream checkpointed at `checkpoint`
    has read every one of them, unchanged since; None otherwise.

    The checkpoint's latest batch must be settled (`settled_offset`) with one file-source
    offset `{"logOffset": K}`, and the source's file log (`sources/0`: the latest
    `N.compact` up to K and every batch file after it) must name each file the directory
    holds, with the modification time it has now. Spark then has nothing to read: a logged
    path is never new to it. Names Spark's own listing skips (`_SUCCESS`, `.crc` files, ...)
    are skipped alike. Anything it cannot vouch for is None: a glob, a subdirectory
    (partition directories, `recursiveFileLookup`), a missing or unreadable log file, a file
    rewritten after it was read.
    """
    if _GLOB.search(directory):
        return None
    offset = settled_offset(files, checkpoint)
    if not isinstance(offset, dict) or set(offset) != {"logOffset"} or \
            not isinstance(offset["logOffset"], int):
        return None
    seen = _file_source_log(files, f"{checkpoint.rstrip('/')}/sources/0", offset["logOffset"])
    entries = files.entries(directory)
    if seen is None or entries is None:
        return None
    count = 0
    for entry in entries:
        if _spark_skips(entry.name):
            continue
        if entry.is_dir or seen.get(_file_key(entry.uri)) != entry.modified_ms:
            return None
        count += 1
    return count


def _spark_skips(name: str) -> bool:
    """The names Spark's file listing leaves out (HadoopFSUtils.shouldFilterOutPathName)."""
    excluded = (name.startswith("_") and "=" not in name) or name.startswith(".") or \
        name.endswith("._COPYING_")
    return excluded and not (name.startswith("_common_metadata") or name.startswith("_metadata"))


def _file_key(uri: str) -> tuple[str, str, str]:
    """A file's URI as (scheme, authority, decoded path): `file:/a b` == `file:///a%20b`."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(uri)
    return parts.scheme or "file", parts.netloc, unquote(parts.path)


def _file_source_log(files: Files, log_dir: str,
                     last: int) -> dict[tuple[str, str, str], int] | None:
    """Every file a file source has read up to batch `last`: key -> modification time (ms)."""
    names = set(files.names(log_dir))
    compacts = [int(n[:-len(".compact")]) for n in names
                if n.endswith(".compact") and n[:-len(".compact")].isdigit()
                and int(n[:-len(".compact")]) <= last]
    start = max(compacts) if compacts else -1
    logs = [f"{start}.compact"] if compacts else []
    for batch in range(start + 1, last + 1):
        if str(batch) not in names:
            return None
        logs.append(str(batch))
    seen: dict[tuple[str, str, str], int] = {}
    for name in logs:
        lines = (files.text(f"{log_dir}/{name}") or "").splitlines()
        if not lines or lines[0].strip() != "v1":
            return None
        for line in lines[1:]:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                seen[_file_key(str(entry["path"]))] = int(entry["timestamp"])
            except (ValueError, KeyError, TypeError):
                return None
    return seen


def input_caught_up(node: PlannedNode, files: Files) -> str | None:
    """Why a bounded node's query would find nothing new in its input (the reason shown),
    else None: a Delta input by path or a file-stream directory, with a checkpoint, whose
    node is exactly as it was when its query last started on that checkpoint (the shape
    Tauro records beside it: a changed node is started, so the checkpoint guard judges the
    change). Any error asking is None too (start the query and let Spark decide)."""
    inp = node.config.input
    checkpoint = node.config.streaming.checkpoint_location
    if inp.table_name or not checkpoint or not (inp.path or inp.format == "kafka"):
        return None
    try:
        if not _unchanged_since_started(node, files, checkpoint):
            return None
        if inp.format == "kafka":
            options = {str(k): str(v) for k, v in inp.options.items()}
            partitions = kafka_caught_up(files, checkpoint, options)
            if partitions is not None:
                return (f"up to date: its checkpoint has read every partition of "
                        f"{options.get('subscribe')} to its latest offset ({partitions} "
                        f"partition{'' if partitions == 1 else 's'})")
        elif inp.format == "delta" and inp.path:
            version = delta_stream_caught_up(files, checkpoint, inp.path)
            if version is not None:
                return (f"up to date: its checkpoint has read {inp.path} to its latest "
                        f"version {version}")
        elif inp.format == "file_stream" and inp.path:
            count = file_stream_caught_up(files, checkpoint, inp.path)
            if count is not None:
                return (f"up to date: its checkpoint has read every file in {inp.path} "
                        f"({count} file{'' if count == 1 else 's'})")
    except Exception:  # any doubt starts the query
        return None
    return None


def _unchanged_since_started(node: PlannedNode, files: Files, checkpoint: str) -> bool:
    """True when the node's compiled config has the fingerprint recorded beside its
    checkpoint when its query last started (`<checkpoint>/.tauro/shape.json`)."""
    from tauro_compile.streaming.query_shape import node_fingerprint, record_path

    text = files.text(record_path(checkpoint))
    if not text:
        return False
    try:
        recorded = json.loads(text).get("fingerprint")
    except (ValueError, AttributeError):
        return False
    return isinstance(recorded, str) and recorded == node_fingerprint(node.config)


KAFKA_TIMEOUT_S = 2.0


def kafka_caught_up(files: Files, checkpoint: str, options: dict[str, str]) -> int | None:
    """The number of partitions, when the Kafka stream checkpointed at `checkpoint` has read
    every partition of its subscribed topics to the partition's latest offset; else None.

    Only `subscribe` over PLAINTEXT (SSL and SASL need the Java client's security, `assign`
    and `subscribePattern` other bookkeeping). The checkpoint's latest batch must be
    settled with one Kafka offset `{topic: {partition: offset}}` naming exactly those topics
    and each one's partitions as the broker lists them now (a partition added since is
    new input); each partition's leader is asked its latest offset (ListOffsets, the high
    watermark), which must equal the checkpoint's. A broker that does not answer within
    `KAFKA_TIMEOUT_S`, or any error, is None: the query is started and Spark decides.
    """
    import socket

    from tauro_compile.streaming import kafka_wire

    protocol = options.get("kafka.security.protocol", "PLAINTEXT").upper()
    topics = sorted({t.strip() for t in options.get("subscribe", "").split(",") if t.strip()})
    if protocol != "PLAINTEXT" or not topics or options.get("assign") or \
            options.get("subscribePattern"):
        return None
    offset = settled_offset(files, checkpoint)
    if not isinstance(offset, dict) or sorted(offset) != topics:
        return None
    read: dict[str, dict[int, int]] = {}
    for topic in topics:
        parts = offset[topic]
        if not isinstance(parts, dict):
            return None
        read[topic] = {int(p): int(o) for p, o in parts.items()}
    meta = None
    for server in options.get("kafka.bootstrap.servers", "").split(","):
        try:
            with socket.create_connection(kafka_wire.server_address(server),
                                          timeout=KAFKA_TIMEOUT_S) as sock:
                meta = kafka_wire.topic_metadata(sock, topics)
        except (OSError, ValueError):
            continue
        if meta is not None:
            break
    if meta is None:
        return None
    by_leader: dict[int, dict[str, list[int]]] = {}
    for topic in topics:
        error, partitions = meta.topics.get(topic, (-1, {}))
        if error != 0 or set(partitions) != set(read[topic]):
            return None
        for number, (part_error, leader) in partitions.items():
            if part_error != 0 or leader not in meta.brokers:
                return None
            by_leader.setdefault(leader, {}).setdefault(topic, []).append(number)
    for leader, wanted in by_leader.items():
        host, port = meta.brokers[leader]
        with socket.create_connection((host, port), timeout=KAFKA_TIMEOUT_S) as sock:
            latest = kafka_wire.latest_offsets(sock, wanted)
        if latest is None:
            return None
        for topic, numbers in wanted.items():
            for number in numbers:
                if latest.get(topic, {}).get(number) != read[topic][number]:
                    return None
    return sum(len(parts) for parts in read.values())
