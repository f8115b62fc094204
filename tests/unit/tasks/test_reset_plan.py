"""What a refresh clears, decided before Spark starts: descendants, side outputs, Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from tauro_compile.compiler.compile import compile_project
from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.errors import UsageError
from tauro_compile.streaming import reset
from tauro_compile.tasks import reset as reset_task

FILES = {
    "tauro_project.yml": "name: p\nprofile: dev\n",
    "profiles.yml": "profiles:\n  dev:\n    paths: {checkpoints: chk}\n",
    "nodes/src.yml": """
input:
  format: kafka
  options: {kafka.bootstrap.servers: "h:9092", subscribe: raw}
  parse_json: true
  json_schema: "id BIGINT"
  on_parse_error: dead_letter
  dead_letter: {format: kafka, topic: raw_dead}
output: {format: kafka, options: {kafka.bootstrap.servers: "h:9092", topic: clean}}
""",
    "nodes/sink.yml": """
input:
  format: kafka
  options: {kafka.bootstrap.servers: "h:9092", subscribe: clean}
output: {format: delta, path: wh/sink}
""",
    "nodes/after.yml": "input: {ref: sink}\noutput: {format: delta, path: wh/after}\n",
}


def compiled(tmp_path: Path, *select: str):
    for rel, text in FILES.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return compile_project(ProjectOptions(project_dir=tmp_path, select=select),
                           write_artifacts=False)


def test_a_kafka_output_needs_no_descendant_and_is_never_deleted(tmp_path: Path) -> None:
    refresh = reset_task.plan_refresh(compiled(tmp_path, "src"), include_side_outputs=True,
                                      command="tauro reset")
    kinds = {(t.role, t.kind, t.where) for t in refresh.targets}
    assert kinds == {("checkpoint", "checkpoint", str(tmp_path / "chk" / "src")),
                     ("output", "kafka", "clean"), ("dead letters", "kafka", "raw_dead")}
    assert refresh.untouched == ["after", "sink"]
    output = next(t for t in refresh.targets if t.role == "output")
    assert refresh._what(None, reset, output) == (  # type: ignore[arg-type]
        "kafka topic clean: nothing is deleted: the node re-reads its input from its "
        "starting offsets and re-publishes it, so the topic's consumers see those records "
        "again (duplicates)")


def test_a_delta_output_refuses_without_its_descendants_and_names_the_selection(
        tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        reset_task.plan_refresh(compiled(tmp_path, "sink"), include_side_outputs=False,
                                command="tauro run --full-refresh")
    assert caught.value.exit_code == 2
    assert "would leave downstream node after reading a rewritten table" in caught.value.message
    assert caught.value.hint == ('select them too: `tauro run --full-refresh -s "sink after"` '
                                 "(or `-s <node>+`)")
    refresh = reset_task.plan_refresh(compiled(tmp_path, "sink+"), include_side_outputs=False,
                                      command="tauro reset")
    assert refresh.nodes == ["sink", "after"]


def test_nobody_to_confirm_and_no_yes_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        reset_task.check_can_confirm(False, False, "tauro reset")
    assert "pass --yes" in (caught.value.hint or "")
    reset_task.check_can_confirm(True, False, "tauro reset")
    reset_task.check_can_confirm(False, True, "tauro reset")


class FakeReset:
    """The streaming reset helpers, answering without Spark."""

    BACKUP_INFIX = reset.BACKUP_INFIX

    def delta_state(self, spark, output):
        return reset.DeltaState(3, 10)

    def query_schema(self, spark, node, context):
        raise RuntimeError("[PATH_NOT_FOUND] Path does not exist: /landing\nmore")

    def empty_delta(self, spark, output, schema):
        assert schema is None  # the table keeps its own schema
        return 4


@pytest.mark.parametrize(("output", "undo"), [
    ({"format": "delta", "path": "/wh/a"}, "RESTORE TABLE delta.`/wh/a` TO VERSION AS OF 3"),
    ({"format": "delta", "table_name": "gold.a"}, "RESTORE TABLE gold.a TO VERSION AS OF 3"),
])
def test_an_emptied_table_prints_its_undo_and_why_it_kept_its_schema(output, undo) -> None:
    from tauro_compile.console import CaptureConsole
    from tauro_compile.streaming.config import OutputConfig

    config = OutputConfig(**output)
    target = reset_task.Target("a", "output", "delta", str(config.table_name or config.path),
                               config)
    refresh = reset_task.Refresh(["a"], [], [target], "20260101T000000Z", "tauro reset")
    console = CaptureConsole()
    refresh._empty(None, console, FakeReset(), target, None, {})  # type: ignore[arg-type]
    assert console.errors == ("a: its query could not be analysed ([PATH_NOT_FOUND] Path does "
                              "not exist: /landing); the emptied table keeps its current "
                              "schema\n")
    assert console.output == f"a: output {target.where} emptied (version 4); undo: {undo}\n"


def test_spark_connect_is_refused_with_a_profile_that_can() -> None:
    connect = type("SparkSession", (), {"__module__": "pyspark.sql.connect.session"})()
    with pytest.raises(UsageError) as caught:
        reset_task.refuse_connect(connect, "tauro reset")
    assert "this profile uses Spark Connect" in caught.value.message
    assert caught.value.hint == ("run it with a profile whose spark.master is local[*] or a "
                                 "cluster that sees the same paths")
    reset_task.refuse_connect(object(), "tauro reset")
