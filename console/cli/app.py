"""The camdeck CLI: root app, global options, and the one place errors become exit codes.

Exit codes: 0 done; 1 the job ran and something failed; 2 bad input.
Keep this module and every command module free of heavy imports at module level:
``camdeck --help`` must stay fast (tests/console/test_import_hygiene.py guards it).
"""
from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from camdeck.console import __version__
from camdeck.console.cli import boundary, common

app = typer.Typer(
    name="camdeck",
    help="Terminal control console for camera rigs: ZWO ASI stereo, Pi camera recorders, ONVIF PTZ fleets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        if common.json_mode():
            common.emit_json({"version": __version__})
        else:
            print(f"camdeck {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
    config: Optional[str] = typer.Option(None, "--config", metavar="PATH",
                                         help="Config file (else $CAMDECK_CONFIG, ./config.toml, the user config "
                                              "~/.config/camdeck/config.toml, the site config /etc/camdeck/config.toml, "
                                              "the built-in simulated rig). `camdeck config path` shows the choice."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", metavar="DIR",
                                           help="Data folder (else $CAMDECK_DATA_DIR, else the config's data_dir, "
                                                "else the user data folder ~/.local/share/camdeck)."),
    json_out: bool = typer.Option(False, "--json", help="Print exactly one JSON object on stdout (streams: JSON lines); "
                                                        "logs become JSON lines on stderr."),
    verbose: int = typer.Option(0, "-v", "--verbose", count=True,
                                help="More log lines on stderr: -v info, -vv debug (else $CAMDECK_LOG_LEVEL, "
                                     "else warnings)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Log errors only."),
    log_file: Optional[str] = typer.Option(None, "--log-file", metavar="PATH",
                                           help="Also append plain log lines, with tracebacks, to this file "
                                                "(the TUI logs only there; default: the user log folder's tui.log)."),
) -> None:
    """Global options work before and after the command; main() gathers them from argv."""


@app.command("tui")
def tui(
    read_only: bool = typer.Option(False, "--read-only",
                                   help="Look, do not touch: turn off every key that records, moves a camera "
                                        "or deletes (also the config's console.read_only)."),
) -> None:
    """Start the terminal console (Textual) on the configured rig; it logs to a file, never to the terminal."""
    from camdeck.console import logs
    from camdeck.console.tui.terminal import terminal_problem

    problem = terminal_problem()
    if problem:   # TERM=dumb/unknown: escape codes would be printed as text
        raise common.BadInput(problem)
    from camdeck.console.tui.app import run_app

    opts = common.OPTIONS
    path = logs.configure(logs.choose_level(opts.verbose, opts.quiet, os.environ.get(logs.LEVEL_ENV)),
                          log_file=opts.log_file or logs.default_tui_log_file(), stderr=False)
    opts.log_file = str(path)   # a crash's line points at the file that keeps its trace (boundary.py)
    run_app(common.settings(), read_only=read_only or None)


# ---- command groups: one module per group (docs/design.md, console/cli); each imports only typer at module level ----
from camdeck.console.cli import (  # noqa: E402
    bench as _bench,
    calibrate as _calibrate,
    cameras as _cameras,
    capture as _capture,
    config_cmd as _config,
    doctor as _doctor,
    jobs as _jobs,
    monitor as _monitor,
    offsets as _offsets,
    pointcloud as _pointcloud,
    reconstruct as _reconstruct,
    record as _record,
    sim as _sim,
)

app.add_typer(_cameras.app, name="cameras")
_record.register(app)
_capture.register(app)
app.add_typer(_calibrate.app, name="calibrate")
_pointcloud.register(app)
_reconstruct.register(app)
from camdeck.console.cli import grid as _grid  # noqa: E402  (on its own line: other groups join the list above)
app.add_typer(_grid.app, name="grid")
_bench.register(app)
_offsets.register(app)
app.add_typer(_monitor.app, name="monitor")
app.add_typer(_sim.app, name="sim")
_doctor.register(app)
_jobs.register(app)
app.add_typer(_config.app, name="config")
from camdeck.console.cli import presets as _presets  # noqa: E402  (its own line, as grid)
app.add_typer(_presets.app, name="presets")


def _click_classes(name: str) -> tuple[type, ...]:
    """``name`` from click and from typer's vendored copy (typer >= 0.29 raises its own)."""
    import importlib

    found = []
    for module_name in ("typer._click.exceptions", "click.exceptions", "typer.exceptions"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        cls = getattr(module, name, None)
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


def _group_without_command(args: list[str]) -> str:
    """The command path when ``args`` name a group but none of its commands, else "".

    An unknown name is not "no command": typer says it is unknown (``camdeck --json frobnicate``).
    """
    command = typer.main.get_command(app)
    path = ["camdeck"]
    for token in args:
        if token.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(token)
        if sub is None:
            return ""  # an unknown command or an argument: typer's own error names it
        command, path = sub, path + [token]
    if getattr(command, "invoke_without_command", False):
        return ""      # a group that does something alone (`camdeck jobs` lists)
    return " ".join(path) if getattr(command, "commands", None) else ""


def run(argv: list[str]) -> int:
    """Run the CLI on ``argv`` (without the program name) and return the exit code.

    Nothing escapes as a traceback: console/cli/boundary.py turns every exception into an exit
    code and one line.
    """
    return boundary.guarded(lambda: _run(argv), lambda: common.OPTIONS)


def _run(argv: list[str]) -> int:
    try:
        opts, rest = common.extract_global_options(argv)
    except common.BadInput as err:
        return boundary.fail(boundary.message_of(err), 2, "--json" in argv)
    common.set_options(opts)
    from camdeck.console import logs

    try:
        logs.configure(logs.choose_level(opts.verbose, opts.quiet, os.environ.get(logs.LEVEL_ENV)),
                       json_lines=opts.json, log_file=opts.log_file)
    except logs.LoggingError as err:  # -q with -v, a bad CAMDECK_LOG_LEVEL or --log-file
        return boundary.fail(boundary.message_of(err), 2, opts.json)
    exits = _click_classes("Exit")
    no_args_help = _click_classes("NoArgsIsHelpError")
    usage_errors = _click_classes("UsageError")
    click_errors = _click_classes("ClickException")
    aborts = _click_classes("Abort")
    if opts.json and not {"--help", "-h", "--version"} & set(rest):
        missing = _group_without_command(rest)
        if missing:  # typer would print rich help on stdout; under --json only one object goes there
            return boundary.fail(f"no command given; fix: name one, see {missing} --help", 2, True)
    try:
        result = app(args=rest, prog_name="camdeck", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except exits as done:
        return int(getattr(done, "exit_code", 0) or 0)
    except no_args_help as err:
        print(err.format_message(), file=sys.stderr)
        return 2
    except usage_errors as err:
        ctx = getattr(err, "ctx", None)
        where = f"; fix: see {ctx.command_path} --help" if ctx is not None else ""
        return boundary.fail(f"{err.format_message().rstrip('.')}{where}", 2, opts.json)
    except click_errors as err:
        return boundary.fail(err.format_message(), 2, opts.json)
    except aborts:
        boundary.write_err("camdeck: aborted")
        return 130
    # Everything else (a bug, an interrupt, a reader that left) is boundary.guarded's.


def main() -> None:
    """Console-script entry point."""
    sys.exit(boundary.flush_at_exit(run(sys.argv[1:])))


if __name__ == "__main__":  # pragma: no cover
    main()
