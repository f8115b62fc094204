"""`tauro docs generate` / `tauro docs serve`: the project's lineage and node reference page.

`generate` compiles the project (writing the manifest and compiled YAML as `tauro compile`
does), then writes `target/docs/index.html`: one self-contained file (inline CSS and
JavaScript, the graph drawn as inline SVG; nothing is fetched from the network), built from
the masked artifacts plus `target/run_results.json` when a run left one. `serve` serves
that folder on 127.0.0.1 with the standard library's HTTP server until Ctrl-C.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import time
from collections.abc import Iterator
from typing import Any

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console, shown_path
from tauro_compile.errors import UsageError
from tauro_compile.signals import handled_stop_signals

DOCS_DIR = "docs"
PAGE_FILE = "index.html"


def run_docs_generate(options: ProjectOptions, console: Console | None = None) -> int:
    """Compile and write target/docs/index.html; exit code."""
    from tauro_compile.compiler.artifacts import COMPILED_DIR
    from tauro_compile.compiler.compile import compile_project
    from tauro_compile.compiler.manifest import load_manifest, write_atomically
    from tauro_compile.docs.page import page_data, render_page
    from tauro_compile.runner.results import read_run_results

    started = time.perf_counter()
    compiled = compile_project(options)
    manifest = load_manifest(compiled.target_dir)
    try:
        run_results = read_run_results(compiled.target_dir)
    except (OSError, ValueError):  # a run writing it right now, or a damaged file
        run_results = None
        if console is not None:
            console.err("Warning: target/run_results.json could not be read; "
                        "the page shows no run status")
    data = page_data(manifest, compiled_dir=compiled.target_dir / COMPILED_DIR,
                     project_dir=compiled.project.project_dir, run_results=run_results,
                     secrets=compiled.secret_values)
    path = compiled.target_dir / DOCS_DIR / PAGE_FILE
    text = render_page(data)
    write_atomically(path, text)
    if console is not None:
        for warning in compiled.warnings:
            console.err(f"Warning: {warning.render()}")
        size = len(text.encode("utf-8"))
        runs = " with the last run's status" if data["run"] else ""
        console.out(f"Wrote {shown_path(path)} ({len(compiled.nodes)} nodes{runs}, "
                    f"{size / 1024:.0f} KiB, {time.perf_counter() - started:.2f} s)")
        console.out("Open it in a browser, or run `tauro docs serve`.")
    return 0


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the docs folder without a log line per request."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib's name)
        return


def run_docs_serve(options: ProjectOptions, port: int, console: Console,
                   ready: Any = None) -> int:
    """Serve target/docs on 127.0.0.1:`port` until Ctrl-C (exit 0)."""
    from tauro_compile.compiler.project import load_project

    folder = load_project(options.project_dir).target_dir / DOCS_DIR
    if not (folder / PAGE_FILE).is_file():
        raise UsageError(f"no docs page at {shown_path(folder / PAGE_FILE)}",
                         hint="run `tauro docs generate` first")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise UsageError(f"cannot serve on 127.0.0.1:{port}: {exc.strerror or exc}",
                         hint="choose another port with --port (0: any free port)") from None
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    console.out(f"Serving {shown_path(folder / PAGE_FILE)} at {url} (Ctrl-C to stop)")
    if ready is not None:
        ready(server)
    try:
        with _stopped_by_signals():
            server.serve_forever()
    except KeyboardInterrupt:
        console.out("Stopped.")
    finally:
        server.server_close()
    return 0


@contextlib.contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (systemd, docker stop) stop the server, even when the
    process was started with SIGINT ignored (a background job of a script, nohup), where
    Python's own Ctrl-C handling is off. Main thread only; the old handlers come back."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with handled_stop_signals(interrupt):
        yield
