"""Helpers shared by the Kafka end-to-end tests: topics, events, node dicts."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any


def bounded_project(name: str) -> dict[str, str]:
    """The project and profile files of a test project whose nodes all run available_now."""
    return {
        "tauro_project.yml": f"""
            name: {name}
            version: "1.0"
            profile: test
        """,
        "profiles.yml": """
            profiles:
              test:
                spark: {master: "local[2]"}
                paths: {warehouse: data/warehouse, checkpoints: data/checkpoints}
                nodes:
                  "*": {streaming: {trigger: {type: available_now}}}
        """,
    }


def kafka_env_node(schema: str, *extra: str) -> str:
    """A node file: the topic `$IN_TOPIC` of `$KAFKA_BOOTSTRAP_SERVERS` from its start, JSON
    parsed with `schema` (`extra`: more lines of the input section), into Delta `clicks`."""
    lines = ["input:", "  format: kafka", "  options:",
             "    kafka.bootstrap.servers: \"{{ env_var('KAFKA_BOOTSTRAP_SERVERS') }}\"",
             "    subscribe: \"{{ env_var('IN_TOPIC') }}\"", "    startingOffsets: earliest",
             "  parse_json: true", f"  json_schema: \"{schema}\"", *(f"  {e}" for e in extra),
             "output: {format: delta, path: \"{{ target.paths.warehouse }}/clicks\"}"]
    return "\n".join(lines) + "\n"


def unique_topic(prefix: str) -> str:
    """A topic name no other test of the session uses (the broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def event_json(i: int) -> str:
    """A good JSON event with key `k<i>`."""
    return json.dumps({"id": i, "user": f"u{i % 7}", "amount": round(i * 0.5, 2)})


BAD_VALUES = ("not json", '{"id": "abc", "user": "x", "amount": 1}', "[1, 2]", '{"id": 3,')
EVENT_DDL = "id BIGINT, user STRING, amount DOUBLE"


def events_with_bad(count: int, bad_every: int) -> tuple[list[str], list[str], set[str]]:
    """(keys, values, bad keys): every `bad_every`-th record does not parse."""
    keys, values, bad = [], [], set()
    for i in range(count):
        key = f"k{i}"
        keys.append(key)
        if bad_every and i % bad_every == bad_every - 1:
            values.append(BAD_VALUES[(i // bad_every) % len(BAD_VALUES)])
            bad.add(key)
        else:
            values.append(event_json(i))
    return keys, values, bad


def kafka_input(servers: str, topic: str, **extra: Any) -> dict[str, Any]:
    """A kafka input section reading `topic` from the beginning, JSON-parsed as events."""
    options = {"kafka.bootstrap.servers": servers, "subscribe": topic,
               "startingOffsets": "earliest", **extra.pop("options", {})}
    return {"format": "kafka", "parse_json": True, "json_schema": EVENT_DDL,
            "options": options, **extra}


def bounded(name: str, input_: dict[str, Any], output: dict[str, Any]) -> dict[str, Any]:
    """A node dict with an available_now trigger."""
    return {"name": name, "input": input_, "output": output,
            "streaming": {"trigger": {"type": "available_now"}}}


def run_bounded(manager: Any, node: dict[str, Any], timeout: float = 180) -> Any:
    """Start a bounded node, wait for it, and return its finished query (errors re-raised)."""
    query = manager.create_and_start_query(node)
    query.awaitTermination(timeout)
    assert not query.isActive, f"{node['name']} did not finish within {timeout} s"
    return query


def write_project(root: Path, files: dict[str, str]) -> Path:
    """A project from `{relative path: text}` (text dedented) under `root`."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def tauro_in_process(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    """`tauro ...` through click's CliRunner (reuses the suite's SparkSession)."""
    from click.testing import CliRunner

    from tauro_compile.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], env=env or {},
                              catch_exceptions=False)
