"""What the compiler hands the runner: resolved nodes in start order, and how to build Spark.

The runner sits below the compiler, so this is the whole interface between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tauro_compile.streaming.config import NodeConfig


@dataclass(frozen=True)
class SparkSettings:
    """How to build the SparkSession for a run (from the profile)."""

    master: str = "local[2]"
    app_name: str = "tauro"
    conf: dict[str, str] = field(default_factory=dict)
    remote: str | None = None          # sc://host:port: Spark Connect instead of a master
    # FAIR scheduler pools: name -> {"weight": int, "min_share": int, "mode": FAIR|FIFO}
    pools: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """Where the run's Spark is, for messages: the Connect URL or the master."""
        return self.remote or self.master


@dataclass(frozen=True)
class PlannedNode:
    """One node to start: its resolved config, its upstream node names, its stable id."""

    name: str
    unique_id: str                     # stable across runs: "<project>.<node>"; used as txnAppId
    config: NodeConfig                 # secrets still as ${secret:NAME} placeholders
    depends_on: tuple[str, ...] = ()
    source_file: str | None = None     # project-relative path of the node file
    # field path -> (line, "source" | "rendered") in `source_file`, computed only when asked
    locate: Callable[[Sequence[str | int]], tuple[int | None, str]] | None = field(
        default=None, compare=False, repr=False)

    @property
    def bounded(self) -> bool:
        """True when the node's query ends by itself (once / available_now)."""
        return self.config.streaming.trigger.bounded


@dataclass(frozen=True)
class RunPlan:
    """Everything `tauro run` needs, with nodes in topological order (ties broken by name)."""

    project_name: str
    project_dir: Path
    target_dir: Path
    profile: str
    nodes: tuple[PlannedNode, ...]
    spark: SparkSettings = field(default_factory=SparkSettings)
    fail_fast: bool = False
    # Directories put on sys.path so `transforms.x:f` and `module:Class` references import.
    python_paths: tuple[Path, ...] = ()
    # The profile's `paths.checkpoints`: the run lock and shared run state live beside it.
    checkpoint_root: str | None = None
    # The profile's `metrics: {port, host}`: Prometheus endpoint of `tauro run`.
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"

    def checkpoints(self) -> list[str]:
        """Every node's checkpoint location."""
        return [n.config.streaming.checkpoint_location for n in self.nodes
                if n.config.streaming.checkpoint_location]

    def node(self, name: str) -> PlannedNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


class CycleError(ValueError):
    """Nodes that depend on each other in a circle; `cycle` is a closed path `[a, b, a]`."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("the graph has a cycle: " + " --> ".join(cycle))
        self.cycle = cycle


def topological_generations(depends_on: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Generations of node names, each after all its upstreams, each sorted by name: the one
    ordering rule of the compiler (`NodeGraph`), the supervisor and the pipeline manager.

    An upstream that is not a key of `depends_on` (left out of the plan) is ignored. Raises
    CycleError, naming one cycle, when the nodes cannot be ordered.
    """
    # Kahn's algorithm by levels: O(nodes + edges) (the compiler orders 5000-node projects).
    waiting: dict[str, int] = {}
    children: dict[str, list[str]] = {name: [] for name in depends_on}
    for name, ups in depends_on.items():
        known = {up for up in ups if up in depends_on}
        for up in known:
            children[up].append(name)
        waiting[name] = len(known)     # a self-loop counts and is never satisfied
    ready = sorted(name for name, count in waiting.items() if count == 0)
    generations: list[list[str]] = []
    placed = 0
    while ready:
        generations.append(ready)
        placed += len(ready)
        following = []
        for name in ready:
            for child in children[name]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    following.append(child)
        ready = sorted(following)
    if placed < len(depends_on):
        done = {name for generation in generations for name in generation}
        pending = {name: {up for up in ups if up in depends_on and up not in done}
                   for name, ups in depends_on.items() if name not in done}
        raise CycleError(_a_cycle(pending))
    return generations


def _a_cycle(pending: Mapping[str, set[str]]) -> list[str]:
    """One cycle among nodes that all still wait on someone, in data-flow order (each node
    feeds the next), from its smallest name."""
    node, path = min(pending), []
    while node not in path:
        path.append(node)
        node = min(pending[node])
    path = path[path.index(node):][::-1]
    start = path.index(min(path))
    path = path[start:] + path[:start]
    return [*path, path[0]]
