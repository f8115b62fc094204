"""`tauro status`: the state of a project's run from any shell (no JVM, nothing written).

Exit code 0 whatever the run's state (read it from the text, or `--output json`'s
`run.state`); 2 when the project or profile cannot be read.
"""

from __future__ import annotations

import json
import time

from tauro_compile.compiler.options import ProjectOptions
from tauro_compile.console import Console
from tauro_compile.errors import EXIT_OK

WATCH_SECONDS = 2.0


def run_status_command(options: ProjectOptions, console: Console, *, output: str = "text",
                       watch: bool = False, interval: float = WATCH_SECONDS,
                       max_updates: int | None = None) -> int:
    """Print the status once, or every `interval` seconds with `--watch` until Ctrl-C."""
    from tauro_compile.runner.status import render_status, run_status
    from tauro_compile.tasks.locate import locate_run

    where = locate_run(options)

    def document() -> dict:
        return run_status(where.project, where.profile, where.target_dir, where.state_dir,
                          shared=where.shared)

    if not watch:
        _show(console, document(), output, render_status, pretty=True)
        return EXIT_OK
    live = _live(console) if output == "text" else None
    shown = 0
    try:
        while max_updates is None or shown < max_updates:
            doc = document()
            if live is not None:
                from rich.text import Text

                live.update(Text(render_status(doc) + f"\n\n(every {interval:g}s; Ctrl-C to quit)"),
                            refresh=True)
            else:
                _show(console, doc, output, render_status, pretty=False)
            shown += 1
            if max_updates is not None and shown >= max_updates:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
    return EXIT_OK


def _show(console: Console, doc: dict, output: str, render, *, pretty: bool) -> None:
    if output == "json":
        # --watch: one document per line (JSON Lines), so a tool can follow it
        console.out(json.dumps(doc, indent=2 if pretty else None, default=str))
    else:
        console.out(render(doc))
        if not pretty:
            console.out("")


def _live(console: Console):
    """A rich Live display on a terminal, else None (plain: one block per update)."""
    if not getattr(console, "is_terminal", False) or not hasattr(console, "rich"):
        return None
    from rich.live import Live

    live = Live(console=console.rich, auto_refresh=False, transient=False)  # type: ignore[attr-defined]
    live.start()
    return live
