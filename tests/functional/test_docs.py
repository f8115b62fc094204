"""`tauro docs generate` / `tauro docs serve`: the page's content, escaping, secrets, serving."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from docs_support import DOCS_PROJECT, ENV, EVIL, KEY_PASSWORD, generate, page_payload

from tauro_compile.docs.page import script_json


def test_generate_writes_one_page_with_every_node_and_its_details(make_project, tauro,
                                                                   monkeypatch):
    project = generate(make_project, tauro, monkeypatch)
    page = project / "target" / "docs" / "index.html"
    data = page_payload(page)
    assert sorted(data["nodes"]) == ["clean", "publish", "raw"]
    kinds = {e["id"]: e["kind"] for e in data["graph"]["elements"]}
    assert kinds["source:events"] == "source"
    assert kinds["topic:events"] == "topic" and kinds["topic:published"] == "topic"
    assert kinds["quarantine:clean"] == "quarantine"
    assert kinds["dead_letter:raw"] == "dead_letter"
    ids = [e["id"] for e in data["graph"]["elements"]]
    edges = {(ids[a], ids[b]) for a, b in data["graph"]["edges"]}
    assert {("topic:events", "source:events"), ("source:events", "node:raw"),
            ("node:raw", "node:clean"), ("node:clean", "node:publish"),
            ("node:publish", "topic:published"), ("node:clean", "quarantine:clean"),
            ("node:raw", "dead_letter:raw")} <= edges
    # Layers follow the data: every edge goes left to right.
    x = {e["id"]: e["x"] for e in data["graph"]["elements"]}
    assert all(x[a] < x[b] for a, b in edges)
    clean = data["nodes"]["clean"]
    assert clean["tags"] == ["silver"] and clean["description"] == "Clean events"
    assert clean["trigger"] == {"type": "available_now", "interval": None}
    assert clean["output_mode"] == "append"
    assert clean["checkpoint_location"] == str(project / "chk" / "clean")
    assert clean["input"]["location"] == str(project / "wh" / "raw")
    assert clean["upstream"] == ["raw"] and clean["downstream"] == ["publish"]
    assert clean["contract"]["policy"] == "quarantine"
    assert clean["contract"]["path"] == "contracts/clean.yaml"
    assert [r["name"] for r in clean["contract"]["rules"]]  # the required rule on id
    assert "id" in clean["contract"]["rules"][0]["description"]
    assert "input: {ref: raw}" in clean["compiled_yaml"]
    assert data["nodes"]["publish"]["output"]["location"] == "topic published"
    assert clean["run"] is None and data["run"] is None
    text = page.read_text(encoding="utf-8")
    # Self-contained: no external script, style, image or font.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text


def test_secrets_never_reach_the_page(make_project, tauro, monkeypatch):
    project = generate(make_project, tauro, monkeypatch)
    text = (project / "target" / "docs" / "index.html").read_text(encoding="utf-8")
    for secret in ("pw-Zx81q", KEY_PASSWORD, "PlainLoginModule"):
        assert secret not in text
    options = page_payload(project / "target" / "docs" / "index.html")["nodes"]["publish"][
        "output"]["options"]
    assert options["kafka.sasl.jaas.config"] == "***"
    assert options["kafka.ssl.key.password"] == "***"


def test_embedded_text_cannot_close_the_script_or_inject_markup(make_project, tauro,
                                                                monkeypatch):
    project = generate(make_project, tauro, monkeypatch)
    text = (project / "target" / "docs" / "index.html").read_text(encoding="utf-8")
    data_script = text.split('id="tauro-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data_script and ">" not in data_script and "&" not in data_script
    assert text.count("<script") == 2 and text.count("</script>") == 2  # data + the page's
    raw = page_payload(project / "target" / "docs" / "index.html")["nodes"]["raw"]
    assert raw["description"] == ("Raw events </script><script>window.pwned=1</script> "
                                  "<!-- & <b>bold</b>")
    assert "<i>odd</i>" in raw["tags"]
    # The page's script inserts values as text, never as markup.
    assert "innerHTML" not in text and "insertAdjacentHTML" not in text


def test_script_json_escapes_every_breaking_sequence():
    encoded = script_json({"d": EVIL})
    for bad in ("<", ">", "&", "\u2028"):
        assert bad not in encoded
    assert json.loads(encoded) == {"d": EVIL}


def test_last_run_status_and_counts_are_shown(make_project, tauro, monkeypatch):
    project = generate(make_project, tauro, monkeypatch)
    results = {
        "metadata": {"run_results_version": 2, "project": "shop", "profile": "dev",
                     "run_id": "r1", "status": "failed", "started_at": "2026-01-01T00:00:00+00:00"},
        "nodes": {
            "raw": {"status": "succeeded", "rows_in": 120, "rows_out": 118, "batches": 3,
                    "counts": {"dead_letters": 2}, "error": "x"},
            "clean": {"status": "failed", "rows_in": 7, "rows_out": None, "batches": 1,
                      "error_summary": f"auth failed for {KEY_PASSWORD}"},
        },
    }
    (project / "target" / "run_results.json").write_text(json.dumps(results))
    result = tauro("docs", "generate", "--project-dir", project, env=ENV)
    assert result.exit_code == 0, result.output
    assert "with the last run's status" in result.stdout
    data = page_payload(project / "target" / "docs" / "index.html")
    assert data["run"]["status"] == "failed"
    assert data["nodes"]["raw"]["run"]["rows_in"] == 120
    assert data["nodes"]["raw"]["run"]["rows_out"] == 118
    assert data["nodes"]["raw"]["run"]["counts"] == {"dead_letters": 2}
    assert data["nodes"]["clean"]["run"]["status"] == "failed"
    assert data["nodes"]["publish"]["run"] is None
    # a secret in a run's error text (should the run have missed it) is masked on the page
    assert data["nodes"]["clean"]["run"]["error_summary"] == "auth failed for ***"
    assert KEY_PASSWORD not in (project / "target" / "docs" / "index.html").read_text()


def test_generate_on_an_invalid_project_exits_2_and_writes_no_page(make_project, tauro,
                                                                   monkeypatch):
    files = dict(DOCS_PROJECT)
    files["nodes/clean.yml"] = "input: {ref: nope}\noutput: {format: delta, path: x}\n"
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    project = make_project(files)
    result = tauro("docs", "generate", "--project-dir", project, env=ENV)
    assert result.exit_code == 2
    assert "nodes/clean.yml" in result.stderr and "nope" in result.stderr
    assert not (project / "target" / "docs" / "index.html").exists()


def test_serve_without_a_page_says_to_generate(make_project, tauro):
    project = make_project(DOCS_PROJECT)
    result = tauro("docs", "serve", "--project-dir", project)
    assert result.exit_code == 2
    assert "no docs page" in result.stderr and "tauro docs generate" in result.stderr


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# Started as a background job of a script (or under nohup), a process inherits SIGINT
# ignored, which turns Python's own Ctrl-C handling off: serve still stops, on both signals.
@pytest.mark.parametrize(("stop", "sigint_ignored_at_start"), [
    (signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, True)])
def test_serve_serves_the_page_on_localhost_and_stops_on_ctrl_c(make_project, tauro,
                                                               monkeypatch, stop,
                                                               sigint_ignored_at_start):
    project = generate(make_project, tauro, monkeypatch)
    tauro_bin = Path(sys.executable).parent / "tauro"
    process = subprocess.Popen([str(tauro_bin), "docs", "serve", "--port", "0",
                                "--project-dir", str(project)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **ENV},
                               preexec_fn=_ignore_sigint if sigint_ignored_at_start else None)
    try:
        line = process.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)", line)
        assert match, line
        with urllib.request.urlopen(match.group(1), timeout=60) as response:
            body = response.read().decode("utf-8")
        assert body == (project / "target" / "docs" / "index.html").read_text(encoding="utf-8")
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Stopped." in out and "Traceback" not in err


def test_docs_generate_and_explain_never_import_pyspark(make_project, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    project = make_project(DOCS_PROJECT)
    code = (
        "import sys\n"
        "from tauro_compile.cli import main\n"
        "for args in (['docs', 'generate'], ['compile', '--explain', 'clean']):\n"
        "    try:\n"
        f"        main(args + ['--project-dir', {str(project)!r}])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'spark' in m)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **ENV}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (project / "target" / "docs" / "index.html").is_file()
