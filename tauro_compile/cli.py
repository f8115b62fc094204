"""The `tauro` command: thin click commands that build options, call a task, map errors to exit codes."""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tauro_compile.errors import TauroError

TEMPLATES = ("files-to-delta", "kafka-to-delta", "rate-to-console")


def _parse_vars(ctx: click.Context, param: click.Parameter, value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    from tauro_compile.compiler.yaml_source import YamlDuplicateKeyError, YamlSyntaxError, load_yaml

    try:
        data = load_yaml(value)
    except YamlDuplicateKeyError as exc:
        raise click.BadParameter("; ".join(d.message for d in exc.duplicates)) from None
    except YamlSyntaxError as exc:
        raise click.BadParameter(f"not valid YAML: {exc.message}") from None
    if not isinstance(data, dict):
        raise click.BadParameter("expected a YAML mapping, e.g. --vars '{start_date: 2024-01-01}'")
    return data


def project_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every project command shares, declared once."""
    decorators = [
        click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("."), show_default=True,
                     help="Directory holding tauro_project.yml."),
        click.option("--profile", "-p", default=None,
                     help="Profile to use (else $TAURO_PROFILE, else the project's default)."),
        click.option("--profiles-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Directory holding profiles.yml (else the project, else ~/.tauro)."),
        click.option("--vars", "vars_", callback=_parse_vars, default=None,
                     help="Project vars as YAML, e.g. '{start_date: 2024-01-01}'."),
        click.option("--select", "-s", multiple=True,
                     help="Nodes to include (dbt syntax: name, +name, name+1, tag:x, path:dir, a,b)."),
        click.option("--exclude", multiple=True, help="Nodes to leave out (same syntax)."),
        click.option("--debug", is_flag=True, help="Show Python tracebacks."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _options(project_dir: Path, profile: str | None, profiles_dir: Path | None,
             vars_: dict[str, Any], select: tuple[str, ...], exclude: tuple[str, ...],
             debug: bool):
    from tauro_compile.compiler.options import ProjectOptions

    def split(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(part for v in values for part in v.split())

    return ProjectOptions(project_dir=project_dir, profile=profile, profiles_dir=profiles_dir,
                          vars=vars_, select=split(select), exclude=split(exclude), debug=debug)


def handle_errors(func: Callable[..., int]) -> Callable[..., None]:
    """Run a command; map TauroError to its message and exit code, tracebacks only with --debug."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        debug = bool(kwargs.get("debug"))
        from tauro_compile.console import default_console

        console = default_console(plain=kwargs.get("output") == "json")
        if kwargs.get("log_format") == "json":
            from tauro_compile.console import JsonConsole

            console = JsonConsole()
        try:
            code = func(*args, console=console, **kwargs)
            sys.stdout.flush()
        except BrokenPipeError:
            _quiet_closed_pipe()
            sys.exit(0)
        except TauroError as exc:
            if debug:
                raise
            console.err(f"Error: {exc.render()}")
            log_path = getattr(exc, "log_path", None)
            if log_path:
                console.err(f"Log: {log_path}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            console.err("Interrupted.")
            sys.exit(130)
        except Exception as exc:  # a bug in Tauro, not in the user's project
            if debug:
                raise
            console.err(f"Internal error: {type(exc).__name__}: {exc}\n"
                        "Run again with --debug for the traceback, and please report it.")
            sys.exit(1)
        sys.exit(code or 0)

    return wrapper


def _quiet_closed_pipe() -> None:
    """The reader of stdout went away (`tauro ls | head -1`): end quietly, like other CLIs.

    Python would otherwise complain once more when it flushes stdout at exit.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (tests)
        pass


def _print_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from tauro_compile.environment import versions_text

    click.echo(versions_text())
    ctx.exit(0)


def log_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """-v/--verbose, --log-format and --log-path, declared once for the commands that log."""
    decorators = [
        click.option("--verbose", "-v", is_flag=True,
                     help="Also show Spark's and pyspark's warnings and errors on the terminal "
                          "(they are always in the run's log file)."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, envvar="TAURO_LOG_FORMAT",
                     help="json: every line Tauro prints is one JSON object."),
        click.option("--log-path", type=click.Path(file_okay=False, path_type=Path),
                     default=None, envvar="TAURO_LOG_PATH",
                     help="Directory for the run logs (default: <target>/logs)."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def refresh_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--yes and --include-side-outputs, for the commands that clear nodes."""
    decorators = [
        click.option("--yes", "-y", is_flag=True,
                     help="Do not ask for confirmation (scripts); the preview is still printed."),
        click.option("--include-side-outputs", is_flag=True,
                     help="Also empty the nodes' quarantine and dead-letter Delta tables."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def paused_gc(func: Callable[..., int]) -> Callable[..., int]:
    """Pause the cyclic GC while a short-lived command runs, and restore it after.

    Compiling allocates many small, acyclic objects: the collector's passes over them cost
    over a third of a large project's compile and free nothing. Only the CLI tunes the GC (a
    library call such as `compile_project` never touches process-wide state), and never for
    `tauro run`, which lives for days. Restored on return, for in-process callers (tests).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> int:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_versions,
              help="Show the versions of tauro, pyspark, delta-spark, Python and Java.")
def main() -> None:
    """Tauro: compile and run Spark Structured Streaming pipelines from YAML nodes."""


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--template", "-t", type=click.Choice(TEMPLATES), default="files-to-delta",
              show_default=True, help="Project template.")
@click.option("--force", is_flag=True, help="Write into a non-empty directory.")
@click.option("--debug", is_flag=True, help="Show Python tracebacks.")
@handle_errors
def init(directory: Path, template: str, force: bool, debug: bool, console: Any) -> int:
    """Create a new project in DIRECTORY from a template."""
    from tauro_compile.tasks.init import run_init

    return run_init(directory, template=template, force=force, console=console)


@main.command()
@project_options
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--all-profiles", is_flag=True,
              help="Validate under every profile at once (CI); writes nothing.")
@click.option("--explain", "explain", metavar="NODE", default=None,
              help="Show every effective setting of NODE and the layer that set it "
                   "(project defaults, node file, profile overrides, --vars); writes nothing.")
@click.option("--no-cache", is_flag=True,
              help="Compile from scratch; ignore and remove target/compile_cache.json.")
@handle_errors
@paused_gc
def compile(output: str, all_profiles: bool, explain: str | None, no_cache: bool,
            console: Any, **kw: Any) -> int:
    """Validate the project and write target/manifest.json; print the plan."""
    from tauro_compile.tasks.compile import run_compile, run_compile_all_profiles

    if explain is not None:
        if all_profiles:
            raise click.UsageError("--explain and --all-profiles cannot be combined")
        from tauro_compile.tasks.explain import run_explain

        return run_explain(_options(**kw), explain, output=output, console=console)
    if all_profiles:
        return run_compile_all_profiles(_options(**kw), console=console)
    return run_compile(_options(**kw), output=output, console=console, use_cache=not no_cache)


@main.command()
@project_options
@click.option("--fail-fast", is_flag=True, help="Stop every node as soon as one fails.")
@click.option("--plain", is_flag=True, help="Plain progress lines even on a terminal.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics on this port (0: a free one; "
                   "else the profile's metrics.port).")
@click.option("--preview", "preview", type=click.IntRange(0, 1000), default=None,
              metavar="N",
              help="Read back the first N rows of each final output after the summary "
                   "(0: never). Default: 5 rows of the outputs this run wrote to, on a "
                   "terminal only.")
@click.option("--full-refresh", is_flag=True,
              help="First clear the selected nodes (checkpoints, outputs) after a preview "
                   "and a confirmation; see `tauro reset`.")
@refresh_options
@log_options
@handle_errors
def run(fail_fast: bool, plain: bool, metrics_port: int | None, preview: int | None,
        verbose: bool, log_format: str, log_path: Path | None, console: Any,
        full_refresh: bool, yes: bool, include_side_outputs: bool, **kw: Any) -> int:
    """Compile, then run the selected nodes on Spark in dependency order.

    Spark's and the JVM's output goes to a log file per run under target/logs/ (its path is
    printed at the start and with any failure); -v also shows their warnings here.
    """
    from tauro_compile.environment import process_started_at
    from tauro_compile.run_logs import LogOptions
    from tauro_compile.tasks.run import run_run

    if plain and log_format != "json":
        from tauro_compile.console import PlainConsole

        console = PlainConsole()
    request = _refresh_request(yes, include_side_outputs) if full_refresh else None
    if not full_refresh and (yes or include_side_outputs):
        from tauro_compile.errors import UsageError

        raise UsageError("--yes and --include-side-outputs only apply with --full-refresh",
                         hint="add --full-refresh, or use `tauro reset` to only clear")
    return run_run(_options(**kw), console=console, fail_fast=fail_fast,
                   metrics_port=metrics_port, preview_rows=preview,
                   log_options=LogOptions(verbose, log_format, log_path),
                   started_at=process_started_at(), full_refresh=request)


def _refresh_request(yes: bool, include_side_outputs: bool) -> Any:
    from tauro_compile.tasks.reset import RefreshRequest, stdin_is_terminal

    return RefreshRequest(yes=yes, include_side_outputs=include_side_outputs,
                          interactive=stdin_is_terminal(),
                          confirm=lambda q: click.confirm(q, default=False, err=True))


@main.command()
@project_options
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@handle_errors
def plan(output: str, console: Any, **kw: Any) -> int:
    """Check each selected node's query and what it would do to its checkpoint; run nothing.

    Starts Spark locally, analyses every query against its real input schema (every node's
    errors at once), then prints one verdict per node: new, unchanged, compatible change,
    or incompatible with its checkpoint (with the remedy), and what is downstream of it.
    Exit code 0: nothing incompatible; 1: a node is incompatible or its query does not
    analyse; 2: the project is invalid.
    """
    from tauro_compile.tasks.plan import run_plan

    return run_plan(_options(**kw), console=console, output=output)


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options that find a project's run (`status`, `stop`): project, profile, vars."""
    decorators = [
        click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=Path("."), show_default=True,
                     help="Directory holding tauro_project.yml."),
        click.option("--profile", "-p", default=None,
                     help="Profile of the run (else $TAURO_PROFILE, else the project's default)."),
        click.option("--profiles-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Directory holding profiles.yml."),
        click.option("--vars", "vars_", callback=_parse_vars, default=None,
                     help="Project vars as YAML (when paths depend on them)."),
        click.option("--debug", is_flag=True, help="Show Python tracebacks."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


@main.command()
@run_options
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--watch", "-w", is_flag=True, help="Refresh every 2 seconds until Ctrl-C.")
@handle_errors
def status(output: str, watch: bool, console: Any, **kw: Any) -> int:
    """Show the project's run: running / ended / dead, and every node's progress."""
    from tauro_compile.tasks.status import run_status_command

    return run_status_command(_options(select=(), exclude=(), **kw), console, output=output,
                              watch=watch)


@main.command()
@run_options
@click.option("--timeout", default="60s", show_default=True,
              help="How long to wait for a clean stop (e.g. 60s, 5m).")
@click.option("--force", is_flag=True, help="Kill the run (this host) if it has not stopped "
                                            "after --timeout.")
@handle_errors
def stop(timeout: str, force: bool, console: Any, **kw: Any) -> int:
    """Stop the project's run cleanly from any shell, wait, and say how it ended."""
    from tauro_compile.tasks.stop import run_stop

    return run_stop(_options(select=(), exclude=(), **kw), console, timeout=timeout,
                    force=force)


@main.command()
@project_options
@log_options
@handle_errors
def debug(verbose: bool, log_format: str, log_path: Path | None, console: Any,
          **kw: Any) -> int:
    """Check this machine and project: Python, Java, jars, pyspark/delta, master, paths.

    Each check says OK, FAIL (with how to fix it) or SKIP; exit code 1 when one fails.
    Nothing is started: no JVM, no query.
    """
    from tauro_compile.tasks.debug import run_debug

    return run_debug(_options(**kw), console=console, log_path=log_path)


@main.command("ls")
@project_options
@click.option("--output", "-o", type=click.Choice(["name", "json", "path"]), default="name",
              show_default=True)
@handle_errors
@paused_gc
def ls_(output: str, console: Any, **kw: Any) -> int:
    """List the selected nodes."""
    from tauro_compile.tasks.ls import run_ls

    return run_ls(_options(**kw), output=output, console=console)


@main.command()
@project_options
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid",
              show_default=True)
@handle_errors
@paused_gc
def graph(fmt: str, console: Any, **kw: Any) -> int:
    """Print the DAG of the selected nodes (mermaid or Graphviz dot)."""
    from tauro_compile.tasks.graph import run_graph

    return run_graph(_options(**kw), fmt=fmt, console=console)


@main.group()
def docs() -> None:
    """The project's documentation page: lineage graph and node reference (target/docs/)."""


@docs.command("generate")
@run_options
@handle_errors
@paused_gc
def docs_generate(console: Any, **kw: Any) -> int:
    """Compile, then write target/docs/index.html: one self-contained page, no network."""
    from tauro_compile.tasks.docs import run_docs_generate

    return run_docs_generate(_options(select=(), exclude=(), **kw), console=console)


@docs.command("serve")
@run_options
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port on 127.0.0.1 (0: any free port).")
@handle_errors
def docs_serve(port: int, console: Any, **kw: Any) -> int:
    """Serve target/docs/ on 127.0.0.1 until Ctrl-C (run `tauro docs generate` first)."""
    from tauro_compile.tasks.docs import run_docs_serve

    return run_docs_serve(_options(select=(), exclude=(), **kw), port=port, console=console)


@main.command()
@click.option("--debug", is_flag=True, help="Show Python tracebacks.")
@handle_errors
def schema(debug: bool, console: Any) -> int:
    """Print the JSON Schema of node files (for editor completion).

    \b
    VS Code (YAML extension): tauro schema > .vscode/tauro-node.schema.json, then either
    map it in settings ("yaml.schemas": {".vscode/tauro-node.schema.json": "nodes/**/*.yml"})
    or start a node file with
    # yaml-language-server: $schema=../.vscode/tauro-node.schema.json
    """
    from tauro_compile.tasks.schema import run_schema

    return run_schema(console=console)


@main.command()
@project_options
@refresh_options
@handle_errors
def reset(yes: bool, include_side_outputs: bool, console: Any, **kw: Any) -> int:
    """Clear the selected nodes so their next run starts over (nothing is run).

    Shows what it clears and asks first: checkpoints are moved aside to a timestamped backup,
    Delta outputs get a new empty version (undo with RESTORE ... TO VERSION AS OF n), file
    outputs are moved aside, Kafka topics are never deleted. Their downstream nodes must be
    selected too (`-s node+`). Refused while a run of the project holds its lock.
    """
    from tauro_compile.tasks.reset import run_reset

    return run_reset(_options(**kw), console, _refresh_request(yes, include_side_outputs))


@main.command("replay-dead-letters")
@click.argument("node")
@run_options
@click.option("--where", default=None,
              help="Only the dead letters matching this SQL condition on the dead-letter "
                   "table's columns, e.g. \"batch_id > 3\".")
@click.option("--dry-run", is_flag=True, help="Parse them and print the counts; write nothing.")
@handle_errors
def replay_dead_letters(node: str, where: str | None, dry_run: bool, console: Any,
                        **kw: Any) -> int:
    """Re-feed NODE's dead-lettered records through its parse and transforms into its output.

    Exactly once: records that parse now are written and marked replayed; those that still
    fail stay, with the new error. Running it again writes nothing twice.
    """
    from tauro_compile.tasks.replay import run_replay

    return run_replay(_options(select=(), exclude=(), **kw), console, node, where=where,
                      dry_run=dry_run)


__all__ = ["main"]
