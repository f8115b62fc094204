"""Build the docs page: manifest + compiled YAML + run results + contracts -> one HTML file.

Everything shown comes from artifacts that are already masked (`target/manifest.json`,
`target/compiled/<node>.yml`, `target/run_results.json`), and the whole payload is masked
once more with the compile's known secret values before it is embedded. The payload is
JSON inside `<script type="application/json">` with `<`, `>`, `&` and the JavaScript line
separators escaped as `\\uXXXX`, so no text can close the script element; the page's own
script inserts every value with `textContent`, never as HTML.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from tauro_compile.docs.lineage import Lineage
from tauro_compile.streaming.secrets import mask_structure

PAGE_TEMPLATE = "page.html"
_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                 "\u2028": "\\u2028", "\u2029": "\\u2029"}
_RUN_FIELDS = ("status", "reason", "rows_in", "rows_out", "batches", "started_at",
               "ended_at", "duration_s", "error_summary", "counts")


def script_json(data: Any) -> str:
    """`data` as JSON that is safe inside a <script> element (no `</script>`, no `<!--`)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    for char, escape in _JSON_ESCAPES.items():
        if char in text:
            text = text.replace(char, escape)
    return text


def render_page(data: dict[str, Any]) -> str:
    """The HTML page with `data` embedded."""
    template = resources.files("tauro_compile.docs").joinpath(PAGE_TEMPLATE).read_text("utf-8")
    head, tail = template.split("__DATA__", 1)
    head = head.replace("__TITLE__", html.escape(f"Tauro docs: {data['project']}"))
    return head + script_json(data) + tail


def page_data(manifest: dict[str, Any], *, compiled_dir: Path, project_dir: Path,
              run_results: dict[str, Any] | None, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the page shows, as one JSON-able mapping (masked)."""
    meta = manifest["metadata"]
    nodes = {n["name"]: n for n in manifest["nodes"].values()}
    by_uid = {n["unique_id"]: n["name"] for n in nodes.values()}
    children: dict[str, list[str]] = {}
    for uid, kids in manifest.get("child_map", {}).items():
        children[by_uid.get(uid, uid)] = [by_uid.get(k, k) for k in kids]
    runs = _runs(run_results, meta)
    contracts = _ContractCache(project_dir)
    detail = {
        name: _node_detail(node, by_uid, children.get(name, []), compiled_dir, project_dir,
                           runs.get(name), contracts)
        for name, node in sorted(nodes.items())
    }
    data = {
        "project": meta["project_name"],
        "profile": meta["profile"],
        "generated_at": meta["generated_at"],
        "manifest": "target/manifest.json",
        "node_count": len(nodes),
        "run": _run_summary(run_results, meta),
        "graph": Lineage(manifest).to_data(),
        "nodes": detail,
    }
    return mask_structure(data, secrets)


def _runs(run_results: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per node name, the last run's status and counts (only a run of this project)."""
    if not run_results or (run_results.get("metadata") or {}).get("project") != meta["project_name"]:
        return {}
    out = {}
    for name, record in (run_results.get("nodes") or {}).items():
        if isinstance(record, dict):
            out[name] = {key: record.get(key) for key in _RUN_FIELDS}
    return out


def _run_summary(run_results: dict[str, Any] | None, meta: dict[str, Any]) -> dict[str, Any] | None:
    if not run_results:
        return None
    head = run_results.get("metadata") or {}
    if head.get("project") != meta["project_name"]:
        return None
    return {key: head.get(key) for key in ("run_id", "status", "profile", "started_at", "ended_at")}


def _endpoint(section: dict[str, Any] | None) -> dict[str, Any] | None:
    if not section:
        return None
    options = dict(section.get("options") or {})
    location = section.get("table_name") or section.get("path")
    if not location:
        for key in ("subscribe", "subscribePattern", "assign", "topic"):
            if options.get(key):
                location = f"{key} {options[key]}"
                break
    return {
        "format": section.get("format"),
        "file_format": section.get("file_format"),
        "location": location,
        "servers": options.pop("kafka.bootstrap.servers", None),
        "options": options,
        "watermark": section.get("watermark"),
    }


def _sink_text(section: dict[str, Any] | None) -> str | None:
    if not section:
        return None
    where = section.get("table_name") or section.get("path") or section.get("topic") or ""
    return f"{section.get('format', '')} {where}".strip()


def _node_detail(node: dict[str, Any], by_uid: dict[str, str], downstream: list[str],
                 compiled_dir: Path, project_dir: Path, run: dict[str, Any] | None,
                 contracts: _ContractCache) -> dict[str, Any]:
    config = node["config"]
    name = node["name"]
    compiled_path = compiled_dir / f"{name}.yml"
    try:
        compiled_yaml = compiled_path.read_text(encoding="utf-8")
    except OSError:
        compiled_yaml = None
    failure = config.get("on_failure") or {}
    transforms = []
    for step in config.get("transforms") or []:
        if isinstance(step, dict):
            transforms.append(step.get("sql") or f"python: {step.get('python')}")
    contract = config.get("contract")
    return {
        "name": name,
        "file": node["file"],
        "line": node["line"],
        "description": node.get("description"),
        "tags": node.get("tags") or [],
        "upstream": [by_uid[u] for u in node["depends_on"]["nodes"] if u in by_uid],
        "sources": [u.split(".", 2)[-1] for u in node["depends_on"]["sources"]],
        "downstream": downstream,
        "input": _endpoint(config.get("input")),
        "output": _endpoint(config.get("output")),
        "trigger": node["trigger"],
        "output_mode": node["output_mode"],
        "checkpoint_location": node["checkpoint_location"],
        "query_name": node["query_name"],
        "on_failure": (f"{failure.get('action')}" + (f" (up to {failure.get('max_restarts')}, "
                       f"backoff {failure.get('backoff')})" if failure.get("action") == "restart"
                       else "")) if failure else None,
        "transforms": transforms,
        "contract": contracts.describe(contract) if contract else None,
        "dead_letter": _sink_text((config.get("input") or {}).get("dead_letter")),
        "compiled_file": f"target/compiled/{name}.yml",
        "compiled_yaml": compiled_yaml,
        "config": config,   # shown as YAML by the page's script, for the selected node only
        "run": run,
    }


class _ContractCache:
    """Contracts loaded once per file (many nodes may share one)."""

    def __init__(self, project_dir: Path) -> None:
        self.project_dir = project_dir
        self.loaded: dict[str, dict[str, Any]] = {}

    def describe(self, contract: dict[str, Any]) -> dict[str, Any]:
        path = str(contract.get("path") or "")
        full = path if os.path.isabs(path) else os.path.join(self.project_dir, path)
        if full not in self.loaded:
            self.loaded[full] = self._load(full)
        shown = os.path.relpath(full, self.project_dir) if full.startswith(
            str(self.project_dir)) else path
        return {"path": shown, "policy": contract.get("policy"),
                "quarantine": _sink_text(contract.get("quarantine")), **self.loaded[full]}

    @staticmethod
    def _load(path: str) -> dict[str, Any]:
        from tauro_compile.contracts import ContractError, load_contract

        try:
            found = load_contract(path)
        except ContractError as exc:  # compile already validated it; a race with an edit
            return {"id": None, "version": None, "rules": [], "not_enforced": [],
                    "error": str(exc)}
        return {
            "id": found.id, "version": found.version, "error": None,
            "rules": [{"name": e.name, "description": e.description,
                       "threshold": e.threshold.describe(), "severity": e.severity}
                      for e in found.expectations],
            "not_enforced": list(found.not_enforced),
        }
