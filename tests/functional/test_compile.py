"""`tauro compile` on valid projects: the plan, the manifest, the compiled files, no JVM."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tauro_compile.compiler.manifest import MANIFEST_VERSION, load_manifest

PROJECT = {
    "tauro_project.yml": """
        name: shop
        version: "1.0"
        profile: dev
        vars:
          min_amount: 10
        streaming:
          trigger: {type: processing_time, interval: "30 seconds"}
        sources:
          landing_orders:
            format: file_stream
            path: "{{ target.paths.landing }}/orders"
            file_format: json
            schema: "order_id STRING, customer_id STRING, amount DOUBLE, ts TIMESTAMP"
    """,
    "profiles.yml": """
        profiles:
          base:
            spark: {master: "local[2]", conf: {spark.sql.shuffle.partitions: 2}}
            paths: {landing: data/landing, warehouse: data/warehouse, checkpoints: data/chk}
          dev:
            extends: base
            nodes:
              "*": {streaming: {trigger: {type: available_now}}}
          prod:
            extends: base
            paths: {warehouse: /srv/warehouse}
            vars: {min_amount: 100}
            fail_fast: true
    """,
    "macros/filters.jinja": """
        {% macro positive(column) %}{{ column }} > 0{% endmacro %}
    """,
    "transforms/__init__.py": "",
    "transforms/orders.py": """
        from pyspark.sql import DataFrame


        def deduplicate(df: DataFrame) -> DataFrame:
            return df.dropDuplicates(["order_id"])
    """,
    "nodes/bronze/raw_orders.yml": """
        description: Orders as landed
        tags: [bronze]
        input:
          source: landing_orders
          watermark: {column: ts, delay: 10 minutes}
        output:
          format: delta
          path: "{{ target.paths.warehouse }}/bronze/raw_orders"
    """,
    "nodes/silver/clean_orders.yml": """
        tags: [silver]
        input: {ref: raw_orders}
        transforms:
          - sql: "SELECT * FROM {{ input }} WHERE {{ positive('amount') }} AND amount >= {{ var('min_amount') }}"
          - python: transforms.orders:deduplicate
        output:
          format: delta
          path: "{{ target.paths.warehouse }}/silver/clean_orders"
    """,
    "nodes/gold/marts.yml": """
        nodes:
          - name: customer_totals
            tags: [gold]
            input: {ref: clean_orders}
            transforms:
              - sql: "SELECT customer_id, sum(amount) AS total FROM {{ input }} GROUP BY customer_id"
            output: {format: delta, path: "{{ target.paths.warehouse }}/gold/customer_totals"}
            streaming: {output_mode: complete}
          - name: order_feed
            tags: [gold]
            input: {ref: clean_orders}
            transforms:
              - sql: "SELECT * FROM {{ input }} JOIN delta.`{{ ref('customer_totals') }}` USING (customer_id)"
            output:
              format: kafka
              options: {kafka.bootstrap.servers: "localhost:9092", topic: order_feed}
    """,
}


def test_compile_writes_plan_manifest_and_compiled_files(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project)
    assert result.exit_code == 0, result.output
    out = result.stdout
    # The plan, in start order, one generation after the other.
    assert out.index("raw_orders") < out.index("clean_orders") < out.index("customer_totals")
    assert "Generation 1:" in out and "Generation 4:" in out
    assert f"delta {project}/data/warehouse/bronze/raw_orders" in out
    assert f"checkpoint: {project}/data/chk/clean_orders" in out
    assert "trigger: available_now, output mode: complete" in out
    assert "[silver]" in out
    assert "Wrote" in out and "manifest.json" in out

    manifest = load_manifest(project / "target" / "manifest.json")
    meta = manifest["metadata"]
    assert meta["manifest_version"] == MANIFEST_VERSION
    assert meta["project_name"] == "shop" and meta["profile"] == "dev"
    assert meta["selected"] == ["raw_orders", "clean_orders", "customer_totals", "order_feed"]
    nodes = manifest["nodes"]
    assert set(nodes) == {"shop.raw_orders", "shop.clean_orders", "shop.customer_totals",
                          "shop.order_feed"}
    clean = nodes["shop.clean_orders"]
    assert clean["file"] == "nodes/silver/clean_orders.yml" and clean["line"] == 1
    assert clean["depends_on"] == {"nodes": ["shop.raw_orders"], "sources": []}
    assert clean["checksum"].startswith("sha256:") and len(clean["checksum"]) == 7 + 64
    assert clean["checkpoint_location"] == f"{project}/data/chk/clean_orders"
    assert clean["trigger"] == {"type": "available_now", "interval": None}
    assert clean["bounded"] is True
    assert clean["config"]["input"] == {**clean["config"]["input"], "format": "delta",
                                        "path": f"{project}/data/warehouse/bronze/raw_orders"}
    assert clean["config"]["transforms"][0]["sql"] == (
        "SELECT * FROM {{ input }} WHERE amount > 0 AND amount >= 10"
    )
    assert nodes["shop.raw_orders"]["depends_on"]["sources"] == ["source.shop.landing_orders"]
    assert nodes["shop.customer_totals"]["line"] == 2  # the list item in marts.yml
    # ref() in a string resolves to the upstream's real path and is an edge.
    feed_sql = nodes["shop.order_feed"]["config"]["transforms"][0]["sql"]
    assert f"delta.`{project}/data/warehouse/gold/customer_totals`" in feed_sql
    assert manifest["parent_map"] == {
        "shop.raw_orders": [],
        "shop.clean_orders": ["shop.raw_orders"],
        "shop.customer_totals": ["shop.clean_orders"],
        "shop.order_feed": ["shop.clean_orders", "shop.customer_totals"],
    }
    assert manifest["child_map"]["shop.clean_orders"] == ["shop.customer_totals", "shop.order_feed"]
    assert manifest["sources"]["source.shop.landing_orders"]["config"]["path"] == (
        f"{project}/data/landing/orders"
    )

    compiled = project / "target" / "compiled"
    assert sorted(p.name for p in compiled.iterdir()) == [
        "clean_orders.yml", "customer_totals.yml", "order_feed.yml", "raw_orders.yml"]
    clean_text = (compiled / "clean_orders.yml").read_text()
    assert "amount >= 10" in clean_text and "{{ input }}" in clean_text
    assert clean_text.count("\n") == (project / "nodes/silver/clean_orders.yml").read_text().count("\n")
    assert f"{project}/data/warehouse/gold/customer_totals" in (compiled / "order_feed.yml").read_text()


def test_profile_changes_paths_vars_and_triggers(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project, "--profile", "prod", "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    nodes = {n["name"]: n for n in plan["nodes"]}
    assert nodes["clean_orders"]["output"]["location"] == "/srv/warehouse/silver/clean_orders"
    assert nodes["clean_orders"]["trigger"] == {"type": "processing_time", "interval": "30 seconds"}
    manifest = load_manifest(project / "target")
    sql = manifest["nodes"]["shop.clean_orders"]["config"]["transforms"][0]["sql"]
    assert sql.endswith("amount >= 100")


def test_json_output_is_only_json(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project, "--output", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)  # nothing but the document on stdout
    assert plan["project"] == "shop" and plan["profile"] == "dev"
    assert plan["generations"] == [["raw_orders"], ["clean_orders"], ["customer_totals"],
                                   ["order_feed"]]
    feed = plan["nodes"][-1]
    assert feed["name"] == "order_feed" and feed["generation"] == 4
    assert feed["output"] == {"format": "kafka", "location": "topic order_feed",
                              "servers": "localhost:9092"}
    assert feed["depends_on"] == ["clean_orders", "customer_totals"]
    assert plan["manifest"].endswith("target/manifest.json")


def test_select_and_exclude_shape_the_plan(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project, "-o", "json",
                   "--select", "+customer_totals", "--exclude", "raw_orders")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [n["name"] for n in plan["nodes"]] == ["clean_orders", "customer_totals"]
    manifest = load_manifest(project / "target")
    assert manifest["metadata"]["selected"] == ["clean_orders", "customer_totals"]
    assert len(manifest["nodes"]) == 4  # the manifest keeps every node


def test_vars_on_the_command_line_win(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project, "--vars", "{min_amount: 7}")
    assert result.exit_code == 0, result.output
    sql = load_manifest(project / "target")["nodes"]["shop.clean_orders"]["config"][
        "transforms"][0]["sql"]
    assert sql.endswith("amount >= 7")


def test_profile_from_environment(make_project, tauro):
    project = make_project(PROJECT)
    result = tauro("compile", "--project-dir", project, env={"TAURO_PROFILE": "prod"})
    assert result.exit_code == 0, result.output
    assert load_manifest(project / "target")["metadata"]["profile"] == "prod"


def test_profiles_dir_option(make_project, tauro, tmp_path):
    files = dict(PROJECT)
    profiles = files.pop("profiles.yml")
    project = make_project(files)
    elsewhere = make_project({"profiles.yml": profiles}, name="config")
    assert tauro("compile", "--project-dir", project).exit_code == 2  # no profiles.yml found
    result = tauro("compile", "--project-dir", project, "--profiles-dir", elsewhere)
    assert result.exit_code == 0, result.output


def test_compile_does_not_import_pyspark(make_project, tmp_path):
    """`tauro compile` must never start (or even import) the JVM side, contracts included."""
    import shutil

    project = make_project(PROJECT)
    example = tmp_path / "example"
    shutil.copytree(Path(__file__).resolve().parents[2] / "example_project", example,
                    ignore=shutil.ignore_patterns("target", "data"))
    code = (
        "import sys\n"
        "from tauro_compile.compiler.compile import compile_project\n"
        "from tauro_compile.compiler.options import ProjectOptions\n"
        f"for project in ({str(project)!r}, {str(example)!r}):\n"
        "    plan = compile_project(ProjectOptions(project_dir=project)).to_run_plan()\n"
        "    assert len(plan.nodes) >= 4, plan\n"
        "    assert any(n.config.contract for n in plan.nodes) == (project.endswith('example'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j', 'delta')))\n"
        # networkx (~0.2 s to import) is only for finding the path of a cycle
        "print('networkx' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "False"]


def test_to_run_plan(make_project):
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.compiler.options import ProjectOptions

    project = make_project(PROJECT)
    compiled = compile_project(ProjectOptions(project_dir=project, profile="prod",
                                              select=("clean_orders+",)))
    plan = compiled.to_run_plan()
    assert [n.name for n in plan.nodes] == ["clean_orders", "customer_totals", "order_feed"]
    # raw_orders is not selected, so it is not an upstream to wait for in this plan.
    assert plan.node("clean_orders").depends_on == ()
    assert plan.node("order_feed").depends_on == ("clean_orders", "customer_totals")
    assert plan.node("clean_orders").unique_id == "shop.clean_orders"
    assert plan.python_paths == (project,)
    assert plan.project_dir == project and plan.target_dir == project / "target"
    assert plan.fail_fast is True and plan.profile == "prod"
    assert plan.spark.master == "local[2]" and plan.spark.app_name == "tauro-shop"
    assert plan.spark.conf == {"spark.sql.shuffle.partitions": "2"}


def test_second_compile_is_identical_and_stable(make_project, tauro):
    project = make_project(PROJECT)
    assert tauro("compile", "--project-dir", project).exit_code == 0
    first = load_manifest(project / "target")
    assert tauro("compile", "--project-dir", project).exit_code == 0
    second = load_manifest(project / "target")
    for doc in (first, second):
        doc["metadata"].pop("generated_at")
    assert first == second


def test_compiled_files_of_removed_nodes_are_cleaned(make_project, tauro):
    project = make_project(PROJECT)
    assert tauro("compile", "--project-dir", project).exit_code == 0
    (project / "nodes/gold/marts.yml").unlink()
    assert tauro("compile", "--project-dir", project).exit_code == 0
    names = sorted(p.name for p in (project / "target" / "compiled").iterdir())
    assert names == ["clean_orders.yml", "raw_orders.yml"]


def test_example_project_compiles_with_both_profiles(tauro, tmp_path):
    import shutil

    repo = Path(__file__).resolve().parents[2]
    project = tmp_path / "example"
    shutil.copytree(repo / "example_project", project,
                    ignore=shutil.ignore_patterns("target", "data"))
    for profile in ("dev", "prod"):
        result = tauro("compile", "--project-dir", project, "--profile", profile)
        assert result.exit_code == 0, result.output
        assert load_manifest(project / "target")["metadata"]["profile"] == profile


def test_compiling_leaves_the_garbage_collector_as_it_found_it(make_project, tauro):
    """Library calls never change process-wide state; the CLI restores what it tunes."""
    import gc

    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.compiler.options import ProjectOptions

    project = make_project(PROJECT)
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    compile_project(ProjectOptions(project_dir=project))
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    assert tauro("compile", "--project-dir", project).exit_code == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:  # a caller that paused the collector itself keeps it paused
        assert tauro("ls", "--project-dir", project).exit_code == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
