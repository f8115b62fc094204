"""Secrets given through secret() or env_var() never appear in any output or file of compile."""

from __future__ import annotations

from pathlib import Path

from tauro_compile.compiler.compile import compile_project
from tauro_compile.compiler.options import ProjectOptions

JAAS_SECRET = "org.apache.kafka.common.security.plain.PlainLoginModule required password=s3cr3t-jaas;"
PASSWORD = "hunter2-from-env"
CONF_SECRET = "aws-secret-from-env"

PROJECT = {
    "tauro_project.yml": """
        name: secure
        profile: dev
        sources:
          events:
            format: kafka
            options:
              kafka.bootstrap.servers: "broker:9093"
              subscribe: events
              kafka.sasl.jaas.config: "{{ secret('KAFKA_JAAS') }}"
              kafka.ssl.truststore.password: "{{ env_var('TRUSTSTORE_PASSWORD') }}"
    """,
    "profiles.yml": """
        profiles:
          dev:
            paths: {warehouse: wh, checkpoints: chk}
            spark:
              conf:
                spark.hadoop.fs.s3a.secret.key: "{{ env_var('S3_SECRET') }}"
    """,
    "nodes/raw.yml": """
        input: {source: events}
        output: {format: delta, path: "{{ target.paths.warehouse }}/raw"}
    """,
    "nodes/out.yml": """
        input: {ref: raw}
        output:
          format: kafka
          options:
            kafka.bootstrap.servers: "broker:9093"
            topic: "out"
            kafka.sasl.jaas.config: "{{ secret('KAFKA_JAAS') }}"
            kafka.ssl.key.password: "{{ env_var('KEY_PASSWORD') }}"
    """,
}
ENV = {"KAFKA_JAAS": JAAS_SECRET, "TRUSTSTORE_PASSWORD": PASSWORD,
       "KEY_PASSWORD": PASSWORD, "S3_SECRET": CONF_SECRET}


def everything_written(project: Path) -> str:
    return "\n".join(p.read_text() for p in (project / "target").rglob("*") if p.is_file())


def assert_no_secret(text: str) -> None:
    for secret in ("s3cr3t-jaas", PASSWORD, CONF_SECRET):
        assert secret not in text


def test_secrets_stay_out_of_outputs_and_files(make_project, tauro, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    project = make_project(PROJECT)
    for args in ((), ("--output", "json")):
        result = tauro("compile", "--project-dir", project, *args, env=ENV)
        assert result.exit_code == 0, result.output
        assert_no_secret(result.stdout + result.stderr)
    written = everything_written(project)
    assert "***" in written
    assert_no_secret(written)
    # The plan still carries the placeholder (resolved only at query start) and the
    # env value (it is needed to run), never shown.
    compiled = compile_project(ProjectOptions(project_dir=project), write_artifacts=False)
    options = compiled.nodes["out"].config.output.options
    assert options["kafka.sasl.jaas.config"] == "${secret:KAFKA_JAAS}"
    assert options["kafka.ssl.key.password"] == PASSWORD
    assert compiled.profile.spark.conf["spark.hadoop.fs.s3a.secret.key"] == CONF_SECRET
    assert PASSWORD in compiled.secret_values and CONF_SECRET in compiled.secret_values


def test_secrets_stay_out_of_problem_reports(make_project, tauro, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    files = dict(PROJECT)
    files["nodes/bad.yml"] = """
        input: {format: rate}
        output:
          format: kafka
          options:
            kafka.bootstrap.servers: "{{ env_var('KEY_PASSWORD') }}"
            kafka.ssl.key.password: "{{ env_var('KEY_PASSWORD') }}"
          topic_typo: x
    """
    project = make_project(files)
    result = tauro("compile", "--project-dir", project, env=ENV)
    assert result.exit_code == 2
    assert "unknown field 'topic_typo'" in result.stderr
    assert_no_secret(result.stdout + result.stderr + everything_written(project))


def test_env_var_named_like_a_secret_is_masked_anywhere(make_project, tauro):
    files = dict(PROJECT)
    files["nodes/doc.yml"] = """
        description: "token is {{ env_var('SERVICE_TOKEN') }}"
        input: {format: rate}
        output: {format: console}
    """
    project = make_project(files)
    env = {**ENV, "SERVICE_TOKEN": "tok-9876543"}
    result = tauro("compile", "--project-dir", project, env=env)
    assert result.exit_code == 0, result.output
    written = everything_written(project)
    assert "token is ***" in written
    assert "tok-9876543" not in written + result.output
