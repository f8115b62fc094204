"""The node-file model: `streaming.config.NodeConfig` extended with what only a project has.

A node file holds one node (its name defaults to the file stem) or a `nodes:` list:

    name: clean_events
    description: Parsed, deduplicated click events
    tags: [silver]
    input:
      ref: raw_events              # an upstream node; format and location come from its output
      # source: landing_events     # or a source declared in tauro_project.yml
      # format: kafka              # or any input format of the registry
      watermark: {column: event_time, delay: 10 minutes}
    transforms:
      - sql: "SELECT * FROM {{ input }} WHERE user_id IS NOT NULL"
      - python: transforms.events:deduplicate
    output: {format: delta, path: "{{ target.paths.warehouse }}/silver/clean_events"}
    contract: contracts/events.yaml        # shorthand for {path: ..., policy: block}
    streaming: {trigger: {type: processing_time, interval: 30 seconds}}

The models subclass the streaming layer's (never duplicate its fields), so a node file can
hold exactly what `StreamingQueryManager` runs, plus `ref`/`source` and the shorthands.
Unknown keys are errors everywhere (`extra="forbid"`).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from tauro_compile.streaming.config import (
    ContractConfig,
    InputConfig,
    NodeConfig,
    TransformConfig,
)

# Formats a `ref` input may ask for instead of the one derived from the upstream's sink.
REF_FORMATS = ("delta", "delta_stream")


class InputSpec(InputConfig):
    """`input:` of a node file: `format`, or `ref: <node>`, or `source: <name>`, plus overrides."""

    format: str | None = None  # type: ignore[assignment]
    ref: str | None = Field(default=None, description="an upstream node of this project")
    source: str | None = Field(default=None, description="a source declared in tauro_project.yml")

    @model_validator(mode="after")
    def _origin(self) -> InputSpec:
        if self.ref and self.source:
            raise ValueError("give `ref` or `source`, not both")
        if not (self.ref or self.source or self.format):
            raise ValueError("an input needs `format`, `ref: <node>` or `source: <name>`")
        if self.source and self.format:
            raise ValueError("a `source` input takes its format from the declared source")
        if self.ref and self.format not in (None, *REF_FORMATS):
            raise ValueError(
                "with `ref`, `format` may only be `delta_stream` (read the upstream delta "
                "table's Change Data Feed); the rest comes from the upstream's output"
            )
        if (self.ref or self.source) and (self.path or self.table_name):
            raise ValueError("`path`/`table_name` come from the ref or source; remove them here")
        return self


class NodeSpec(NodeConfig):
    """One node as written in a node file (after defaults and profile overrides are merged)."""

    input: InputSpec  # type: ignore[assignment]
    transforms: list[TransformConfig] = Field(default_factory=list)  # type: ignore[assignment]

    @field_validator("contract", mode="before")
    @classmethod
    def _contract_shorthand(cls, value: Any) -> Any:
        """`contract: path.yaml` means `contract: {path: path.yaml}` (policy block)."""
        return {"path": value} if isinstance(value, str) else value


def contract_dict(value: Any) -> Any:
    """The mapping form of a node's `contract:` value (the shorthand expanded)."""
    return {"path": value} if isinstance(value, str) else value


__all__ = ["ContractConfig", "InputSpec", "NodeSpec", "REF_FORMATS", "contract_dict"]
