"""`camdeck monitor ...`: the PTZ fleet jobs. For now `collect-references`; `run` and `history` join this sub-app."""
from __future__ import annotations

from typing import Any, Optional

import typer

from camdeck.console.cli import bounds, common

app = typer.Typer(help="PTZ fleet monitoring: reference scans, offset runs, history.", no_args_is_help=True)


def _progress_bar(label: str):
    """A rich progress bar on stderr and the ``progress(stage, done, total)`` callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=common.stderr_console(), transient=True)
    task = bar.add_task(label, total=None)

    def update(stage: str, done: int, total: int) -> None:
        bar.update(task, total=total, completed=done, description=f"{label} ({stage})")
    return bar, update


@app.command("collect-references")
def collect_references(
    device: Optional[str] = typer.Option(None, "--device", metavar="DEPLOYMENT[/CAMERA]",
                                         callback=bounds.non_empty("--device", "sim-site/ptz-1"),
                                         help="Which cameras (default: every PTZ camera)."),
    horizontal_stops: Optional[int] = typer.Option(None, "--horizontal-stops",
                                                   callback=bounds.count("--horizontal-stops", 1, 360),
                                                   help="Pan stops, 1 to 360 (default \\[monitor] horizontal_stops, 16)."),
    vertical_stops: Optional[int] = typer.Option(None, "--vertical-stops",
                                                 callback=bounds.count("--vertical-stops", 1, 180),
                                                 help="Tilt stops, 1 to 180 (default \\[monitor] vertical_stops, 6)."),
    settle: str = typer.Option("1s", "--settle", help="Time without motion before each capture (camera time)."),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="Limit per stop (default \\[monitor] timeout_s)."),
    features: Optional[str] = typer.Option(None, "--features", help="sift | disk | none (default \\[monitor] features)."),
    restart: bool = typer.Option(False, "--restart", help="Start over instead of resuming an interrupted scan."),
) -> None:
    """Grid-scan each camera: move, wait for stability, capture, extract features; resumable.

    Writes DATA_DIR/scans/DEPLOYMENT/CAMERA/reference/ (images/, features/, manifest.json) and,
    with \\[storage] s3_bucket set, uploads it to S3 (what S3 refuses waits in the spool).
    SIGINT/SIGTERM: the camera in progress stops at its next move or wait and is reported
    failed ("stopped by signal"; its frames so far stay, for a resume), the rest are skipped,
    tunnels are stopped, the summary is printed, and the exit code is 1.
    """
    from camdeck.console.cli.signals import stop_on_signals
    from camdeck.monitoring.devices import select_devices
    from camdeck.monitoring.fleet import StopRequest

    settings = common.settings()
    settle_s = bounds.parse_seconds(settle, "--settle", 0.0, 3600.0)
    timeout_s = bounds.parse_seconds(timeout, "--timeout", 0.001, 86400.0) if timeout else None
    if features is not None and features not in ("sift", "disk", "none"):
        raise common.BadInput(f"--features {features!r}: unknown; fix: use sift, disk or none")
    method = "" if features == "none" else features
    devices = select_devices(settings, device)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    quiet = common.json_mode()
    options = dict(horizontal=horizontal_stops, vertical=vertical_stops, settle_s=settle_s, timeout_s=timeout_s,
                   features=method, restart=restart)
    with stop_on_signals(StopRequest()) as stop:
        for ref in devices:
            if stop.is_set():
                skipped.append(ref.id)
                continue
            row = _collect_one(settings, ref, options, stop, quiet)
            rows.append(row)
            if not quiet:
                _show_row(row)
        failed = sum(1 for r in rows if not r["success"])
        summary: dict[str, Any] = {"devices": rows, "failed": failed}
        if stop.is_set():
            summary.update(stopped=True, skipped=skipped, stop_reason=stop.reason)
        if quiet:
            common.emit_json(summary)
        elif stop.is_set():
            common.stdout_console().print(f"[red]{stop.reason}[/red]: not started: {', '.join(skipped) or 'none'}",
                                          highlight=False)
    if failed or stop.is_set():
        raise typer.Exit(1)


def _collect_one(settings, ref, options: dict[str, Any], stop, quiet: bool) -> dict[str, Any]:
    """One camera's reference scan -> its row of the summary (failures in the row; bad input raised)."""
    from camdeck.drivers.errors import DriverError, Stopped
    from camdeck.monitoring.cloud_reference import upload_collected_reference
    from camdeck.monitoring.errors import MonitoringError
    from camdeck.monitoring.scans import collect_references as collect

    row: dict[str, Any] = {"deployment": ref.deployment, "camera": ref.camera}
    bar, progress = (None, None) if quiet else _progress_bar(ref.id)
    try:
        if bar is not None:
            bar.start()
        result = collect(settings, ref.id, progress=progress, stop=stop, **options)
        row.update(success=True, folder=str(result.folder), manifest=str(result.manifest_path),
                   frames=result.frames, captured=result.captured, resumed=result.resumed, error=None)
        up = upload_collected_reference(settings, ref.deployment, ref.camera, result.folder)
        if up is not None:
            row["upload"] = {"location": up.location, "uploaded": up.uploaded, "spooled": up.spooled}
    except (DriverError, MonitoringError) as err:
        if getattr(err, "bad_input", False):
            raise
        stopped = isinstance(err, Stopped) and stop.is_set()
        row.update(success=False, error=stop.reason if stopped else " ".join(str(err).split()))
    finally:
        if bar is not None:
            bar.stop()
    return row


def _show_row(row: dict[str, Any]) -> None:
    console = common.stdout_console()
    name = f"{row['deployment']}/{row['camera']}"
    if row["success"]:
        resumed = f", {row['resumed']} resumed" if row["resumed"] else ""
        console.print(f"{name}: {row['frames']} frames{resumed} -> {row['folder']}")
        up = row.get("upload")
        if up:
            spooled = f", {up['spooled']} spooled for the next run" if up["spooled"] else ""
            console.print(f"{name}: {up['uploaded']} files -> {up['location']}{spooled}")
    else:
        console.print(f"[red]{name}: failed[/red]: {row['error']}")


from camdeck.console.cli import monitor_run as _monitor_run  # noqa: E402  (run and history: the fleet monitoring issue)

_monitor_run.register(app)

