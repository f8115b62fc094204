"""What the compiler hands the runner: resolved nodes in start order, and how to build Spark.

The runner sits below the compiler, so this is the whole interface between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tauro_compile.streaming.config import NodeConfig


@dataclass(frozen=True)
class SparkSettings:
    """How to build the SparkSession for a run (from the profile)."""

    master: str = "local[2]"
    app_name: str = "tauro"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlannedNode:
    """One node to start: its resolved config, its upstream node names, its stable id."""

    name: str
    unique_id: str                     # stable across runs: "<project>.<node>"; used as txnAppId
    config: NodeConfig                 # secrets still as ${secret:NAME} placeholders
    depends_on: tuple[str, ...] = ()
    source_file: str | None = None

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
