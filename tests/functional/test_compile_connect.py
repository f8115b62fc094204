"""`tauro compile` with a Spark Connect (`remote`) profile: what cannot run there is refused."""

from __future__ import annotations

PROJECT = {
    "tauro_project.yml": 'name: shop\nversion: "1"\nprofile: connect\n',
    "profiles.yml": """
        profiles:
          local:
            spark: {master: "local[2]"}
            paths: {warehouse: wh, checkpoints: chk}
          connect:
            extends: local
            spark: {master: null, remote: "sc://connect.example:15002"}
    """,
    "nodes/events.yml": """
        input: {format: rate}
        output: {format: parquet, path: "{{ target.paths.warehouse }}/events"}
        streaming: {pool: ingest}
    """,
    "nodes/clicks.yml": """
        input: {ref: events}
        output: {format: delta, path: "{{ target.paths.warehouse }}/clicks"}
    """,
}


def test_remote_profile_refuses_pools_and_file_handoffs_naming_node_and_feature(make_project,
                                                                              tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project)
    assert result.exit_code == 2
    err = result.stderr
    assert "Traceback" not in err
    assert "nodes/events.yml:3" in err
    assert "node 'events': scheduler pools cannot be chosen over Spark Connect" in err
    assert "nodes/clicks.yml" in err
    assert ("node 'clicks': a continuous node cannot read the parquet output of 'events' "
            "over Spark Connect") in err
    assert "give this node a bounded trigger" in err
    # The same project compiles on a master profile.
    assert tauro("compile", "--project-dir", project, "--profile", "local").exit_code == 0


def test_both_master_and_remote_is_a_usage_error_with_the_line(make_project, tauro):
    files = dict(PROJECT)
    files["profiles.yml"] = """
        profiles:
          connect:
            spark: {master: "local[2]", remote: "sc://connect.example:15002"}
    """
    result = tauro("compile", "--project-dir", make_project(files))
    assert result.exit_code == 2
    assert "profiles.yml:3" in result.stderr
    assert "spark.master and spark.remote are mutually exclusive" in result.stderr
    assert "Traceback" not in result.stderr


def test_bounded_downstream_of_a_file_output_is_fine_over_connect(make_project, tauro):
    files = dict(PROJECT)
    files["nodes/events.yml"] = """
        input: {format: rate}
        output: {format: parquet, path: "{{ target.paths.warehouse }}/events"}
    """
    files["nodes/clicks.yml"] = """
        input: {ref: events}
        output: {format: delta, path: "{{ target.paths.warehouse }}/clicks"}
        streaming: {trigger: {type: available_now}}
    """
    result = tauro("compile", "--project-dir", make_project(files))
    assert result.exit_code == 0, result.stderr
