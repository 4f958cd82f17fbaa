"""`camdeck capture`: a still every N seconds into Redis (hash ``image:<unix-ts>``) or a folder.

``--sink redis://HOST:PORT/DB`` (``--sink redis`` is the configured URL; REDIS_URL wins),
or ``--sink dir:PATH``. Stills the sink cannot take (Redis away, the folder's disk full or
the folder gone) wait in DATA_DIR/spool and are sent when it is back (drivers/stills/). The
second still comes a full --every after the first. --json prints one JSON line per still and a last
line with the summary. Exit codes: 0 done; 1 the camera failed, a still could be neither
stored nor spooled (a full disk: the job stops there, with an "error" line and the summary),
or stills are still waiting in the spool at the end; 2 bad input, including a sink Redis
refuses (wrong password, no such database, rediss:// to a plain server): found before the
first still, or mid-run with the still in hand kept in the spool.

The capture is a job (console/cli/job_scope.py): ``camdeck jobs`` lists it, ``camdeck jobs stop
ID`` (or SIGINT/SIGTERM) ends it after the still in hand, and it goes on when the terminal hangs up.
"""
from __future__ import annotations

from typing import Optional

import typer

from camdeck.console.cli import bounds, common


def register(app: typer.Typer) -> None:
    """Add the `capture` command to the root app."""
    app.command("capture")(capture)


# Keys are image:<unix-ts> in whole seconds, so two stills need at least a second between them.
MIN_EVERY_S, MAX_EVERY_S = 1.0, 86400.0
MAX_COUNT = 10_000_000


def _capture_rig(settings):
    return next((rig for rig in settings.rigs.values() if rig.type == "capture"), None)


def capture(
    camera: Optional[str] = typer.Option(None, "--camera", metavar="NAME",
                                         help="Camera name (default: the capture rig's camera)."),
    every: Optional[str] = typer.Option(None, "--every", metavar="10s",
                                        help="Interval, 1s to 24h (default: the capture rig's every_s)."),
    count: Optional[int] = typer.Option(None, "--count", callback=bounds.count("--count", 1, MAX_COUNT),
                                        help="Stop after N stills (default: until stopped)."),
    sink: str = typer.Option("redis", "--sink", metavar="redis://HOST:PORT/DB|dir:PATH",
                             help="Where stills go (default: the configured Redis; REDIS_URL wins)."),
    image_format: Optional[str] = typer.Option(None, "--format", metavar="png|jpeg",
                                               help="Image encoding (default: the capture rig's format)."),
) -> None:
    """Capture a still every N seconds into Redis or a folder; survives a Redis restart."""
    from camdeck.drivers.registry import find_spec, open_camera
    from camdeck.drivers.stills.capture_job import run_periodic_capture
    from camdeck.drivers.stills.sinks import parse_sink

    from camdeck.console.cli.job_scope import cli_job

    settings = common.settings()
    rig = _capture_rig(settings)
    if camera is None:
        if rig is None:
            raise common.BadInput("--camera is missing and config.toml has no capture rig; fix: pass --camera NAME")
        camera = rig.cameras[0]
    if every is not None:
        every_s = bounds.parse_seconds(every, "--every", MIN_EVERY_S, MAX_EVERY_S)
    else:
        every_s = bounds.check_number(rig.options.get("every_s", 10.0) if rig else 10.0,
                                      f"rigs.{rig.name}.every_s" if rig else "--every", MIN_EVERY_S, MAX_EVERY_S,
                                      show=bounds.show_seconds)
    fmt = (image_format or (rig.options.get("format", "png") if rig else "png")).lower()
    if fmt not in ("png", "jpeg", "jpg"):
        raise common.BadInput(f"--format {image_format}: not an image format; fix: use --format png or --format jpeg")
    spec = find_spec(settings.cameras, camera)
    target = parse_sink(sink, data_dir=settings.data_dir, default_redis_url=settings.redis.url)
    as_json = common.json_mode()
    err = common.stderr_console()

    def show(event) -> None:
        if as_json:
            common.emit_json({"event": event.kind, "index": event.index, "key": event.key, "location": event.location,
                              "width": event.width, "height": event.height, "timestamp": event.timestamp,
                              "replayed": event.replayed, "pending": event.pending, "message": event.message})
        elif event.kind == "stored":
            extra = f" (and {event.replayed} from the spool)" if event.replayed else ""
            err.print(f"{event.index}: {event.key} -> {event.location}{extra}")
        elif event.kind == "spooled":
            err.print(f"[yellow]{event.index}: {event.key} kept in the spool ({event.pending} waiting): {event.message}[/yellow]")
        elif event.kind == "error":
            err.print(f"[red]capture failed:[/red] {event.message}")

    import threading

    stop = threading.Event()
    plan = f"every {every_s:g} s, " + (f"{count} stills" if count else "until stopped")
    try:
        target.open()      # inside: whatever fails from here on, the sink is closed
        with cli_job("capture", f"camera {spec.name} -> {target.describe()}", plan=plan,
                     outputs=[target.describe()]) as job:
            job.stop_with(lambda reason: stop.set())
            with open_camera(spec, settings.driver_context()) as cam:
                summary = run_periodic_capture(cam, target, every_s=every_s, count=count, image_format=fmt,
                                               stop_event=stop, progress=job.guard(show))
            state = "failed" if not summary.ok else ("stopped" if stop.is_set() else "finished")
            job.finish(state, f"{summary.captured} stills: {summary.stored} stored, {summary.spooled} spooled, "
                              f"{summary.pending} waiting" + (f" (stopped by {job.stop_reason})" if job.stop_reason else ""))
    finally:
        target.close()
    if not as_json:
        common.stdout_console().print(
            f"{summary.captured} stills: {summary.stored} stored, {summary.spooled} spooled, "
            f"{summary.replayed} sent from the spool, {summary.pending} still waiting ({target.describe()})"
            + (f", {summary.lost} lost" if summary.lost else ""))
    if summary.pending:
        err.print(f"[yellow]warning:[/yellow] {summary.pending} stills wait in the spool; the next run sends them")
    if summary.refused:     # the sink was refused mid-run (bad input); the still in hand is in the spool
        raise common.BadInput(summary.refused)
    if not summary.ok:
        raise typer.Exit(1)
