"""`tauro compile --explain`: the layer of every setting; profile-set problems at profiles.yml."""

from __future__ import annotations

import json

PROJECT = {
    "tauro_project.yml": """
        name: shop
        profile: dev
        vars: {window: 1 hour}
        streaming:
          output_mode: append
          stall_after: 10 minutes
        on_failure: {action: fail, backoff: 7 seconds}
    """,
    "profiles.yml": """
        profiles:
          base:
            paths: {warehouse: wh, checkpoints: chk}
            nodes:
              "*":
                on_failure: {max_restarts: 9}
          dev:
            extends: base
            nodes:
              "*":
                streaming:
                  trigger: {type: available_now}
              "tag:gold":
                streaming:
                  pool: gold_pool
              totals:
                output:
                  options: {mergeSchema: "true"}
    """,
    "nodes/events.yml": """
        input: {format: rate, options: {rowsPerSecond: 5}}
        output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
    """,
    "nodes/totals.yml": """
        description: Totals
        tags: [gold]
        input:
          ref: events
          watermark: {column: timestamp, delay: "{{ var('window') }}"}
        output: {format: delta, path: "{{ target.paths.warehouse }}/totals"}
        on_failure: {action: restart}
    """,
}


def explain(tauro, project, node="totals", *extra):
    result = tauro("compile", "--project-dir", project, "--explain", node, "-o", "json", *extra)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return document, {s["setting"]: s for s in document["settings"]}


def test_every_setting_names_its_layer_file_and_line(make_project, tauro):
    project = make_project(PROJECT)
    document, settings = explain(tauro, project)
    assert document["layers"] == [
        "project defaults (tauro_project.yml)", "node file (nodes/totals.yml)",
        "profile 'dev' nodes.\"*\" (profiles.yml)", "profile 'dev' nodes.\"tag:gold\" (profiles.yml)",
        "profile 'dev' nodes.totals (profiles.yml)"]

    def where(setting):
        entry = settings[setting]
        return entry["layer"], entry["file"], entry["line"]

    assert where("description") == ("node file", "nodes/totals.yml", 1)
    assert where("on_failure.action") == ("node file", "nodes/totals.yml", 7)
    assert where("on_failure.backoff") == ("project defaults", "tauro_project.yml", 7)
    assert where("streaming.stall_after") == ("project defaults", "tauro_project.yml", 6)
    # "*" exists in both dev and base: the trigger comes from dev's, max_restarts from base's
    assert where("streaming.trigger.type") == ("profile 'dev' nodes.\"*\"", "profiles.yml", 12)
    assert where("on_failure.max_restarts") == ("profile 'base' nodes.\"*\"", "profiles.yml", 6)
    assert where("streaming.pool") == ("profile 'dev' nodes.\"tag:gold\"", "profiles.yml", 15)
    assert where("output.options.mergeSchema") == ("profile 'dev' nodes.totals",
                                                   "profiles.yml", 18)
    assert settings["input.path"]["layer"] == "derived: input.ref -> the output of node 'events'"
    assert settings["streaming.checkpoint_location"]["layer"].startswith(
        "derived: profile 'dev' paths.checkpoints")
    assert settings["output.mode"]["layer"] == "default (Tauro)"
    assert settings["input.watermark.delay"]["vars"] == [
        {"name": "window", "from": "project vars (tauro_project.yml)"}]


def test_vars_from_the_command_line_are_named(make_project, tauro):
    project = make_project(PROJECT)
    _, settings = explain(tauro, project, "totals", "--vars", "{window: 5 minutes}")
    delay = settings["input.watermark.delay"]
    assert delay["value"] == "5 minutes"
    assert delay["layer"] == "--vars, used by the node file"
    assert (delay["file"], delay["line"]) == ("nodes/totals.yml", 5)
    assert settings["input.watermark.column"]["layer"] == "node file"  # same line, no var


def test_text_output_and_unknown_node(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project, "--explain", "totals")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Node 'totals' (nodes/totals.yml:1), profile 'dev'"
    pool = next(line for line in lines if line.lstrip().startswith("streaming.pool "))
    assert "gold_pool" in pool and "profile 'dev' nodes.\"tag:gold\" (profiles.yml:15)" in pool
    assert not (project / "target" / "manifest.json").exists()   # explain writes nothing
    result = tauro("compile", "--project-dir", project, "--explain", "total")
    assert result.exit_code == 2
    assert "no node named 'total'" in result.stderr and "did you mean 'totals'?" in result.stderr


def test_explain_masks_secrets(make_project, tauro):
    files = dict(PROJECT)
    files["nodes/events.yml"] = """
        input:
          format: kafka
          options:
            kafka.bootstrap.servers: "b:9092"
            subscribe: t
            kafka.sasl.jaas.config: "{{ env_var('JAAS') }}"
        output: {format: delta, path: "{{ target.paths.warehouse }}/events"}
    """
    project = make_project(files)
    result = tauro("compile", "--project-dir", project, "--explain", "events",
                   env={"JAAS": "very-secret-jaas-77"})
    assert result.exit_code == 0, result.output
    assert "very-secret-jaas-77" not in result.output
    assert "kafka.sasl.jaas.config" in result.stdout and "***" in result.stdout


def test_a_problem_in_a_profile_value_points_at_profiles_yml(make_project, tauro):
    files = dict(PROJECT)
    files["profiles.yml"] = PROJECT["profiles.yml"].replace(
        "trigger: {type: available_now}", "trigger: {type: available_nowx}").replace(
        "pool: gold_pool", "pool: \"bad pool!\"")
    project = make_project(files)
    result = tauro("compile", "--project-dir", project)
    assert result.exit_code == 2
    err = result.stderr
    # one problem for both nodes the "*" override reaches, at its line in profiles.yml
    assert err.count("found:    available_nowx") == 1, err
    assert ("profiles.yml:12: Input should be 'processing_time', 'once', 'available_now' or "
            "'continuous' (set by profile 'dev' nodes.\"*\", for nodes events, totals)") in err
    assert "profiles.yml:15:" in err and "streaming.pool" in err
    assert "nodes/totals.yml:" not in err and "nodes/events.yml:" not in err


def test_a_node_file_value_hidden_by_a_profile_still_points_at_the_node_file(make_project,
                                                                             tauro):
    files = dict(PROJECT)
    files["nodes/totals.yml"] = PROJECT["nodes/totals.yml"].rstrip(" ") + (
        "        streaming: {trigger: {type: sometimes}}\n")
    project = make_project(files)
    result = tauro("compile", "--project-dir", project)
    assert result.exit_code == 2
    assert "nodes/totals.yml:8:" in result.stderr, result.stderr
    assert "(in the node file; profile 'dev' overrides it)" in result.stderr
    assert "profiles.yml" not in result.stderr
