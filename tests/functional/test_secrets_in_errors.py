"""Secrets planted in every secret-like option, with every wrong type, never reach any output.

Each node (or source, or profile) holds an `env_var()` value in a secret-like option as a
list, a mapping, a nested list of mappings, or a long string where a mapping is expected.
The compile fails (exit 2) and neither its output nor anything under target/ holds any
8-character piece of a planted value (so a truncated excerpt is caught too). The library
validator gets the same nodes as dicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tauro_compile.streaming import StreamingValidator
from tauro_compile.streaming.exceptions import StreamingError

SECRET_KEYS = (
    "kafka.sasl.jaas.config", "kafka.ssl.keystore.password", "kafka.ssl.truststore.password",
    "kafka.ssl.key.password", "password", "token", "apikey", "fs.azure.sas.token",
    "spark.hadoop.fs.s3a.secret.key", "credential",
)
# Long enough that an 80-character excerpt would show a part of it.
SECRETS = {f"V{i}": f"planted{i:02d}-" + "qwertyuiopasdfghjklzxcvbnm"[i:] + f"-{i:02d}" * 30
           for i in range(len(SECRET_KEYS) * 4)}
JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
        "username=alice password=jaasplanted-0123456789abcdef;")


def wrong_types(key: str, base: int) -> list[str]:
    """YAML lines giving `key` a secret in each wrong shape."""
    return [  # prefixed so that the four shapes are four keys of one mapping
        f"\"a.{key}\": [\"{{{{ env_var('V{base}') }}}}\"]",
        f"\"b.{key}\": {{inner: \"{{{{ env_var('V{base + 1}') }}}}\"}}",
        f"\"c.{key}\": [{{inner: \"{{{{ env_var('V{base + 2}') }}}}\"}}]",
        f"\"d.{key}\": [[\"x\", \"{{{{ env_var('V{base + 3}') }}}}\"]]",
    ]


def leaked_pieces(text: str) -> list[str]:
    pieces = []
    for value in [*SECRETS.values(), "jaasplanted-0123456789abcdef"]:
        pieces += [value[i:i + 8] for i in range(0, len(value) - 8, 4) if value[i:i + 8] in text]
    return pieces


def node_files() -> dict[str, str]:
    files = {}
    for n, key in enumerate(SECRET_KEYS):
        for m, line in enumerate(wrong_types(key, n * 4)):
            files[f"nodes/in_{n}_{m}.yml"] = (
                "input:\n  format: rate\n  options:\n    " + line + "\n"
                "output: {format: console}\n"
            )
            files[f"nodes/out_{n}_{m}.yml"] = (
                "input: {format: rate}\noutput:\n  format: kafka\n  options:\n"
                "    kafka.bootstrap.servers: b:9092\n    topic: t\n    " + line + "\n"
            )
            files[f"nodes/dl_{n}_{m}.yml"] = (
                "input:\n  format: kafka\n  options: {kafka.bootstrap.servers: b, subscribe: t}\n"
                "  parse_json: true\n  json_schema: 'a INT'\n  on_parse_error: dead_letter\n"
                "  dead_letter:\n    path: dl\n    options:\n      " + line + "\n"
                "output: {format: console}\n"
            )
            files[f"nodes/q_{n}_{m}.yml"] = (
                "input: {format: rate}\noutput: {format: delta, path: o" + f"{n}_{m}" + "}\n"
                "contract:\n  path: contracts/c.yaml\n  policy: quarantine\n  quarantine:\n"
                "    format: delta\n    path: q\n    options:\n      " + line + "\n"
            )
    # A long secret string where a mapping is expected: known as a secret by its variable's
    # name, and by the `password=` inside it.
    files["nodes/jaas_options.yml"] = (
        "input:\n  format: rate\n  options: \"{{ env_var('KAFKA_SASL_JAAS_CONFIG') }}\"\n"
        "output: {format: console}\n")
    files["nodes/jaas_dead_letter.yml"] = (
        "input:\n  format: rate\n  dead_letter: \"{{ env_var('SOME_SETTING') }}\"\n"
        "output: {format: console}\n")
    return files


PROFILE_LINES = "\n".join(
    "        " + line for n, key in enumerate(SECRET_KEYS) for line in wrong_types(key, n * 4))
SOURCE_LINES = "\n".join(
    "        " + line for n, key in enumerate(SECRET_KEYS) for line in wrong_types(key, n * 4))


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


CONTRACT = """apiVersion: v3.0.2
kind: DataContract
id: c
version: 1.0.0
schema:
  - name: c
    properties:
      - name: value
"""
ENV = {**SECRETS, "KAFKA_SASL_JAAS_CONFIG": JAAS, "SOME_SETTING": JAAS}


def assert_nothing_leaks(result, root: Path) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "Internal error" not in result.output
    assert leaked_pieces(result.output) == []
    written = "\n".join(p.read_text(errors="replace") for p in (root / "target").rglob("*")
                        if p.is_file()) if (root / "target").exists() else ""
    assert leaked_pieces(written) == []


def test_node_options_of_every_shape(tmp_path, tauro):
    root = write(tmp_path, {
        "tauro_project.yml": "name: sec\nprofile: dev\n",
        "profiles.yml": "profiles:\n  dev:\n    paths: {checkpoints: chk}\n",
        "contracts/c.yaml": CONTRACT,
        **node_files(),
    })
    result = tauro("compile", "--project-dir", root, env=ENV)
    assert result.output.count("\nnodes/") >= len(SECRET_KEYS) * 4 * 4
    assert_nothing_leaks(result, root)


def test_declared_source_options(tmp_path, tauro):
    root = write(tmp_path, {
        "tauro_project.yml": "name: sec\nprofile: dev\nsources:\n  s:\n    format: rate\n"
                             "    options:\n" + SOURCE_LINES.replace("        ", "      "),
        "profiles.yml": "profiles:\n  dev:\n    paths: {checkpoints: chk}\n",
        "nodes/a.yml": "input: {source: s}\noutput: {format: console}\n",
    })
    result = tauro("compile", "--project-dir", root, env=ENV)
    assert result.output.count("tauro_project.yml:") == len(SECRET_KEYS) * 4
    assert_nothing_leaks(result, root)


def test_profile_spark_conf(tmp_path, tauro):
    root = write(tmp_path, {
        "tauro_project.yml": "name: sec\nprofile: dev\n",
        "profiles.yml": "profiles:\n  dev:\n    paths: {checkpoints: chk}\n    spark:\n"
                        "      conf:\n" + PROFILE_LINES,
        "nodes/a.yml": "input: {format: rate}\noutput: {format: console}\n",
    })
    result = tauro("compile", "--project-dir", root, env=ENV)
    assert result.output.count("profiles.yml:") == len(SECRET_KEYS) * 4
    assert_nothing_leaks(result, root)


@pytest.mark.parametrize("shape", range(4))
@pytest.mark.parametrize("key", SECRET_KEYS)
def test_library_validator(key, shape):
    value = [["x", SECRETS["V0"]], {"inner": SECRETS["V0"]}, [{"inner": SECRETS["V0"]}],
             [SECRETS["V0"]]][shape]
    node = {"name": "n", "input": {"format": "rate", "options": {key: value}},
            "output": {"format": "console"}}
    with pytest.raises(StreamingError) as caught:
        StreamingValidator().validate_streaming_node_config(node)
    assert leaked_pieces(f"{caught.value} {caught.value.context!r} {caught.value!r}") == []


def test_library_validator_inline_credentials():
    node = {"name": "n", "input": {"format": "rate", "dead_letter": JAAS},
            "output": {"format": "console"}}
    with pytest.raises(StreamingError) as caught:
        StreamingValidator().validate_streaming_node_config(node)
    assert leaked_pieces(f"{caught.value} {caught.value.context!r}") == []


@pytest.mark.spark
def test_run_time_failure_message_masks_a_secret(spark, tmp_path, tauro):
    """A secret-named env_var() value inside a run-time error (here the missing input path)
    is *** on the terminal, in run_results.json and in the event log."""
    secret = "runtime-planted-secret-0123456789"
    root = write(tmp_path, {
        "tauro_project.yml": "name: sec\nprofile: dev\n",
        "profiles.yml": "profiles:\n  dev:\n    paths: {checkpoints: chk, warehouse: wh}\n"
                        "    nodes:\n      '*': {streaming: {trigger: {type: available_now}}}\n",
        "nodes/orders.yml": "input:\n  format: file_stream\n  file_format: text\n"
                            "  path: \"landing/{{ env_var('LANDING_TOKEN') }}\"\n"
                            "output: {format: delta, path: wh/orders}\n",
    })
    result = tauro("run", "--project-dir", root, env={"LANDING_TOKEN": secret})
    assert result.exit_code == 1, result.output
    assert "does not exist" in result.stderr and "***" in result.stderr
    everything = result.output + result.stderr + "\n".join(
        p.read_text(errors="replace") for p in (root / "target").rglob("*") if p.is_file())
    assert secret[:12] not in everything
