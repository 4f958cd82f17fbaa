"""`camdeck monitor run` and `camdeck monitor history`: fleet offset runs and their results.

Attached to the `monitor` group by console/cli/monitor.py. Thin: parse options, call
monitoring.fleet / monitoring.history, show progress on stderr and results on stdout
(``--json``: one object). Exit 0 when every device was processed, 1 when any failed or the
run was stopped, 2 for bad input (device, shard, durations).

SIGINT or SIGTERM (a scheduler's deadline) stops a run cleanly (:func:`_run_until_signalled`):
the device in flight ends within seconds and is recorded as failed "stopped by signal
(SIGTERM)", the rest are skipped, every tunnel is stopped, and the summary is printed.
"""
from __future__ import annotations

from typing import Any, Optional

import typer

from camdeck.console.cli import bounds, common

HISTORY_LIMIT = 100_000     # rows: more than a fleet writes in years, and SQLite's LIMIT takes it


def register(group: typer.Typer) -> None:
    """Add `run` and `history` to the `monitor` sub-app."""
    group.command("run")(run)
    group.command("history")(history)


def run(
    device: Optional[str] = typer.Option(None, "--device", metavar="DEPLOYMENT/CAMERA",
                                         callback=bounds.non_empty("--device", "sim-site/ptz-1"),
                                         help="One device (or one deployment); default: every PTZ camera."),
    stabilize_time: Optional[str] = typer.Option(None, "--stabilize-time",
                                                 help="Stillness before a capture, e.g. 30s "
                                                      "(default \\[monitor] stabilize_time_s)."),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="Limit per wait or move, e.g. 300s "
                                                                  "(default \\[monitor] timeout_s)."),
    active: bool = typer.Option(False, "--active", help="Drive to reference stops instead of waiting "
                                                        "where the camera stands."),
    shard: Optional[str] = typer.Option(None, "--shard", metavar="i/N",
                                        help="Process only shard i of N (i from 0), for schedulers."),
) -> None:
    """Measure every device's mount offset: query, offsets, history, uploads, Slack. Exit 1 if any failed.

    SIGINT/SIGTERM: the current device is recorded as failed ("stopped by signal"; after
    `camdeck jobs stop ID`, who asked), the rest are skipped, tunnels are stopped, the summary is
    printed, and the exit code is 1.
    """
    from camdeck.monitoring.fleet import FleetProgress, parse_shard

    settings = common.settings()
    stabilize_s = bounds.parse_seconds(stabilize_time, "--stabilize-time", 0.0, 3600.0) if stabilize_time else None
    timeout_s = bounds.parse_seconds(timeout, "--timeout", 1.0, 86400.0) if timeout else None
    if timeout_s is not None and timeout_s <= 0:
        raise common.BadInput("--timeout must be more than 0; fix: write e.g. --timeout 300s")
    shard_pair = parse_shard(shard)
    quiet = common.json_mode()
    bar = None
    progress = None
    if not quiet:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=common.stderr_console(), transient=True)
        task = bar.add_task("fleet run", total=None)
        err_console = common.stderr_console()

        def show(event: FleetProgress) -> None:
            bar.update(task, total=event.count, completed=event.index + (event.stage in ("done", "failed")),
                       description=f"{event.device}: {event.stage} {event.message}"[:70])
            if event.stage in ("done", "failed"):
                colour = "red" if event.stage == "failed" else ("yellow" if "ALERT" in event.message else "green")
                err_console.print(f"[{colour}]{event.device}[/{colour}]: {event.message}", highlight=False)
        progress = show
        bar.start()
    from camdeck.console.cli.job_scope import cli_job

    # A job: `camdeck jobs` lists it and it survives a hang-up. SIGTERM/SIGINT stay the fleet run's
    # own (a recorded stop, _run_until_signalled), which is also how `camdeck jobs stop` ends it.
    with cli_job("fleet-run", f"fleet run {device or 'all devices'}" + (f" shard {shard}" if shard else ""),
                 plan="active" if active else "passive", stop_signals=False) as job:
        guarded = job.guard(progress, bar.stop if bar is not None else None) if progress else None
        report = _run_until_signalled(settings, dict(device=device, shard=shard_pair, stabilize_time_s=stabilize_s,
                                                     timeout_s=timeout_s, active=active, progress=guarded),
                                      job.guard(bar.stop) if bar is not None else None, quiet,
                                      lambda signum: job.requested_stop())
        done = f"{len(report.devices) - report.failed} of {len(report.devices)} devices processed"
        job.finish("stopped" if report.stopped else "failed" if report.failed else "finished",
                   f"{report.stop_reason}: {done}" if report.stopped else done)
    if report.failed or report.stopped:
        raise typer.Exit(1)


def _run_until_signalled(settings, run_args: dict[str, Any], stop_bar, quiet: bool, reason_for=None):
    """Run the fleet with SIGINT/SIGTERM turned into a recorded stop and print the report; returns it.

    The handlers stay until the summary is out, so a second signal cannot cut it short.
    ``reason_for(signum)``: who asked (a ``camdeck jobs stop`` request), recorded instead of the
    signal's name.
    """
    from camdeck.console.cli.signals import stop_on_signals
    from camdeck.monitoring.fleet import StopRequest, run_fleet

    with stop_on_signals(StopRequest(), reason_for) as stop:
        try:
            report = run_fleet(settings, stop=stop, **run_args)
        finally:
            if stop_bar is not None:
                stop_bar()
        if quiet:
            common.emit_json(report.to_dict())
        else:
            _show_run(report)
    return report


def _show_run(report) -> None:
    from rich.table import Table

    table = Table(title="fleet run", title_justify="left")
    table.add_column("device", overflow="fold")
    table.add_column("result", no_wrap=True)
    for axis in ("pitch°", "yaw°", "roll°"):
        table.add_column(axis, justify="right", no_wrap=True)
    table.add_column("error", overflow="fold", min_width=12)
    for d in report.devices:
        state = "[red]failed[/red]" if not d.success else ("[yellow]ALERT[/yellow]" if d.alert else "[green]ok[/green]")
        table.add_row(d.device, state, *(_deg(v) for v in (d.pitch_deg, d.yaw_deg, d.roll_deg)), d.error or "")
    console = common.stdout_console()
    console.print(table)
    console.print(f"{len(report.devices) - report.failed} of {len(report.devices)} devices processed"
                  + (f"; spool: {report.spool_sent} sent, {report.spool_remaining} waiting"
                     if report.spool_sent or report.spool_remaining else ""), highlight=False)
    if report.stopped:
        console.print(f"[red]{report.stop_reason or 'stopped'}[/red]: not started: "
                      f"{', '.join(report.skipped) or 'none'}", highlight=False)


def history(
    device: Optional[str] = typer.Option(None, "--device", metavar="DEPLOYMENT/CAMERA",
                                         callback=bounds.non_empty("--device", "sim-site/ptz-1"),
                                         help="One device or deployment; default: all."),
    limit: int = typer.Option(20, "--limit", callback=bounds.count("--limit", 1, HISTORY_LIMIT),
                              help=f"Newest N results (1 to {HISTORY_LIMIT})."),
    source: str = typer.Option("local", "--source", metavar="local|athena",
                               help="local: this machine's history database; athena: the fleet's "
                                    "results in the Athena table (every shard's)."),
) -> None:
    """List fleet-run results, newest first (from the history database, or the fleet's from Athena)."""
    from camdeck.monitoring.history import HistoryStore

    settings = common.settings()
    deployment, camera = _split_device(device)
    if source not in ("local", "athena"):
        raise common.BadInput(f"--source {source!r}: unknown; fix: use --source local or --source athena")
    store = HistoryStore.from_settings(settings.storage, settings.data_dir)
    where = str(store.path)
    if source == "athena":
        from camdeck.monitoring.cloud import CloudStore
        from camdeck.monitoring.cloud_history import athena_history

        cloud = CloudStore(settings.storage, settings.data_dir)
        where = f"Athena {settings.storage.athena_database}.{settings.storage.athena_table}"
        rows = athena_history(cloud, deployment, camera, limit)
    else:
        rows = store.query(deployment=deployment, device_id=camera, limit=limit) if store.path.exists() else []
    threshold = settings.slack.alert_threshold_deg
    if common.json_mode():
        common.emit_json({"source": source, "history": [dict(r.to_dict(), alert=r.is_alert(threshold)) for r in rows],
                          "count": len(rows)})
        return
    from rich import box
    from rich.table import Table

    table = Table(title=f"history ({where})", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("device", overflow="fold")
    table.add_column("mode", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for axis in ("pitch°", "yaw°", "roll°"):
        table.add_column(axis, justify="right", no_wrap=True)
    notes = []
    for r in rows:
        state = "[red]failed[/red]" if not r.success else ("[yellow]ALERT[/yellow]" if r.is_alert(threshold)
                                                           else "[green]ok[/green]")
        when = r.timestamp.replace("T", " ").rstrip("Z")[:16]
        table.add_row(when, f"{r.deployment}/{r.device_id}", r.mode, state,
                      *(_deg(v) for v in (r.pitch_offset_deg, r.yaw_offset_deg, r.roll_offset_deg)))
        if not r.success:
            notes.append(f"{when} {r.deployment}/{r.device_id}: {r.failure_logs}")
    console = common.stdout_console()
    console.print(table)
    for note in notes:
        console.print(f"  [red]{note}[/red]", highlight=False)
    if not rows:
        common.stderr_console().print("no results yet; run: camdeck monitor run", highlight=False)


def _split_device(device: str | None) -> tuple[str | None, str | None]:
    if not device:
        return None, None
    deployment, _, camera = device.partition("/")
    if not deployment or "/" in camera:
        raise common.BadInput(f"--device {device!r}: not DEPLOYMENT or DEPLOYMENT/CAMERA; "
                              "fix: write e.g. --device sim-site/ptz-1")
    return deployment, camera or None


def _deg(value: Any) -> str:
    return "" if value is None else f"{value:+.3f}"
