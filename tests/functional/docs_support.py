"""The project of the docs page tests (functional and browser): secrets, odd text, sinks."""

from __future__ import annotations

import json
import re
from pathlib import Path

JAAS = "org.apache.kafka.common.security.plain.PlainLoginModule required password=pw-Zx81q;"
KEY_PASSWORD = "key-pass-Qm3v7"
EVIL = "</script><script>window.pwned=1</script> <!-- & <b>bold</b> \u2028"

DOCS_PROJECT = {
    "tauro_project.yml": """
        name: shop
        profile: dev
        sources:
          events:
            format: kafka
            options:
              kafka.bootstrap.servers: "broker:9093"
              subscribe: events
              kafka.sasl.jaas.config: "{{ secret('KAFKA_JAAS') }}"
    """,
    "profiles.yml": """
        profiles:
          dev:
            paths: {warehouse: wh, checkpoints: chk}
    """,
    "contracts/clean.yaml": """
        apiVersion: v3.0.2
        kind: DataContract
        id: urn:shop:clean
        version: 1.0.0
        status: active
        schema:
          - name: clean
            properties:
              - name: id
                logicalType: string
                required: true
    """,
    "nodes/raw.yml": """
        description: "Raw events </script><script>window.pwned=1</script> <!-- & <b>bold</b>"
        tags: [bronze, "<i>odd</i>"]
        input:
          source: events
          on_parse_error: dead_letter
          parse_json: true
          json_schema: "id STRING"
          dead_letter: {format: delta, path: "{{ target.paths.warehouse }}/dlq/raw"}
        output: {format: delta, path: "{{ target.paths.warehouse }}/raw"}
    """,
    "nodes/clean.yml": """
        description: Clean events
        tags: [silver]
        input: {ref: raw}
        contract: {path: contracts/clean.yaml, policy: quarantine,
                   quarantine: {format: delta, path: "{{ target.paths.warehouse }}/q/clean"}}
        output: {format: delta, path: "{{ target.paths.warehouse }}/clean"}
        streaming: {trigger: {type: available_now}}
    """,
    "nodes/publish.yml": """
        tags: [gold]
        input: {ref: clean}
        output:
          format: kafka
          options:
            kafka.bootstrap.servers: "broker:9093"
            topic: published
            kafka.sasl.jaas.config: "{{ secret('KAFKA_JAAS') }}"
            kafka.ssl.key.password: "{{ env_var('KEY_PASSWORD') }}"
    """,
}
ENV = {"KAFKA_JAAS": JAAS, "KEY_PASSWORD": KEY_PASSWORD}


def page_payload(page: Path) -> dict:
    """The JSON the page embeds (what its script renders)."""
    text = page.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="tauro-data">(.*?)</script>', text,
                      re.S)
    assert match, "no data script in the page"
    return json.loads(match.group(1))


def generate(make_project, tauro, monkeypatch, files=DOCS_PROJECT) -> Path:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    project = make_project(files)
    result = tauro("docs", "generate", "--project-dir", project, env=ENV)
    assert result.exit_code == 0, result.output
    assert f"Wrote {project / 'target' / 'docs' / 'index.html'} (3 nodes" in result.stdout, \
        result.stdout
    return project
