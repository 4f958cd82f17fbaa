"""`camdeck jobs` and `camdeck jobs stop ID`: the running and recent jobs, from any terminal.

The records are console/jobs.py's (DATA_DIR/jobs/ID.json), so the same --data-dir (or config)
as the job's must be used. ``camdeck jobs`` lists id, kind, state, pid, started, what it is and
its output paths; ``--json`` prints ``{"folder", "jobs": [record, ...]}``, each record as the
job wrote it with ``state`` made effective ("died" when its process is gone).

``camdeck jobs stop ID`` leaves a stop request, sends the job's process SIGTERM and waits for
its record to reach a final state: a recording finishes its files and its data file says
"complete (stopped by the operator)". Exit codes: 0 stopped (or already over); 1 the job died
or failed, could not be signalled, or did not stop within --timeout; 2 no such job, or one on
another host.
"""
from __future__ import annotations

import os
from typing import Any

import typer

from camdeck.console.cli import bounds, common

app = typer.Typer(help="Running and recent jobs (recordings, captures, reconstructions, fleet runs); "
                       "`camdeck jobs stop ID` stops one cleanly.",
                  invoke_without_command=True, no_args_is_help=False)


def _registry():
    from camdeck.console.jobs import JobRegistry

    return JobRegistry(_data_dir())


def _data_dir():
    """The data folder exactly as every command finds it (console/config_paths.py), reading only
    the config's ``console.data_dir``: `camdeck jobs stop` must start fast, and must work when
    the rest of the config has an error (stopping a job is what is needed then)."""
    import tomllib

    from camdeck.console.config_paths import DATA_ENV, find_config, find_data_dir
    from camdeck.fileio.bounded import CONFIG_CAP, UnreadableFile, read_text

    opts = common.OPTIONS
    if opts.data_dir is not None or os.environ.get(DATA_ENV):
        return find_data_dir(opts.data_dir, None).path
    try:
        choice = find_config(opts.config)
        # bounded: a FIFO would block this read forever, /dev/zero would fill the memory
        written = tomllib.loads(read_text(choice.path, what="--config", cap=CONFIG_CAP)).get("console", {}).get("data_dir")
    except (OSError, ValueError, AttributeError, RecursionError, UnreadableFile):
        return common.settings().data_dir        # unreadable: the full load says why, with the fix
    return find_data_dir(None, written if isinstance(written, str) else None, str(choice.path)).path


@app.callback(invoke_without_command=True)
def jobs(ctx: typer.Context,
         limit: int = typer.Option(20, "--limit", callback=bounds.count("--limit", 1, 10_000),
                                   help="Show the running jobs and the newest finished ones, this many in all "
                                        "(1 to 10000).")) -> None:
    """List the running and recent jobs: id, kind, state, pid, started, outputs."""
    if ctx.invoked_subcommand is not None:
        return
    registry = _registry()
    records = registry.listing(limit)
    if common.json_mode():
        common.emit_json({"folder": str(registry.folder), "jobs": [r.view() for r in records]})
        return
    if not records:
        common.stderr_console().print(f"no jobs in {registry.folder}", highlight=False)
        return
    from rich import box
    from rich.table import Table

    table = Table(title=f"jobs ({registry.folder})", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("pid", justify="right", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("job / outputs", ratio=1)
    for r in records:
        state = r.effective_state()
        colour = {"running": "green", "stopping": "yellow", "died": "red", "failed": "red"}.get(state)
        what = f"{r.title}; {r.plan}" if r.plan else r.title
        if r.outcome:
            what += f"\n{r.outcome}"
        what += _outputs(r.outputs)
        table.add_row(r.id, r.kind, f"[{colour}]{state}[/{colour}]" if colour else state, str(r.pid),
                      _local(r.started), what)
    common.stdout_console().print(table)


def _outputs(paths: list[str]) -> str:
    """The output paths, short: one folder line, then the file names (a table cell at 80 columns)."""
    from pathlib import Path

    if not paths:
        return ""
    parents = {str(Path(p).parent) for p in paths}
    if len(parents) == 1 and len(paths) > 1:
        return f"\n{parents.pop()}/\n  " + ", ".join(Path(p).name for p in paths)
    return "".join(f"\n{p}" for p in paths)


def _local(stamp: str) -> str:
    from datetime import datetime

    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return stamp
    return when.strftime("%H:%M:%S" if when.date() == datetime.now().date() else "%m-%d %H:%M")


@app.command("stop")
def stop(job_id: str = typer.Argument(..., metavar="ID", help="The job's id (a unique prefix will do)."),
         timeout: str = typer.Option("60s", "--timeout", help="How long to wait for the job to finish its files.")) -> None:
    """Stop a job cleanly and wait until its record says it stopped."""
    from camdeck.console.jobs import ACTIVE_STATES, JobError, stop_job

    timeout_s = bounds.parse_seconds(timeout, "--timeout", 0.1, 600.0)
    registry = _registry()
    before = registry.get(job_id).effective_state()
    try:
        record = stop_job(registry, job_id, by="camdeck jobs stop", timeout_s=timeout_s)
    except JobError as err:
        if getattr(err, "bad_input", False):
            raise
        common.stderr_console().print(str(err), highlight=False)
        raise typer.Exit(1)
    state = record.effective_state()
    if before not in ACTIVE_STATES:
        _report(record, f"job {record.id} is not running ({state})")
    elif state in ACTIVE_STATES:
        _report(record, f"job {record.id} is still {state} after {timeout_s:g} s; fix: wait, then check with camdeck jobs")
        raise typer.Exit(1)
    else:
        _report(record, f"job {record.id}: {state}")
    if state in ("died", "failed"):
        raise typer.Exit(1)      # it is over, but did not end well: its outcome says why


def _report(record: Any, line: str) -> None:
    if common.json_mode():
        common.emit_json(record.view())
        return
    out = common.stdout_console()
    out.print(line + (f": {record.outcome}" if record.outcome else ""), highlight=False)
    for path in record.outputs:
        out.print(f"  {path}", highlight=False)


def register(root: typer.Typer) -> None:
    """Add the `jobs` group to the root app."""
    root.add_typer(app, name="jobs")

