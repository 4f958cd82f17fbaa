"""`camdeck record`: a recording session over two cameras or more (drivers/recording/session.py).

Timer mode (``--duration 90s``) stops by itself; manual mode (``--manual``, the default
when no duration is given) records until SIGINT, SIGTERM or ``camdeck jobs stop ID``, then
finishes the files cleanly. The session is a job (console/cli/job_scope.py): ``camdeck jobs``
lists it, and it goes on when the terminal hangs up (SIGHUP), its output then in the job log.

Limits: the origin's timer runs 1 to 60 minutes in 0.5 minute steps and its countdown 0 to
120 s. ``--countdown`` outside 0-120 s and ``--duration`` over 60 min are exit 2; ``--duration``
keeps sub-minute takes (down to 100 ms) because scripts and tests need short ones, while the
TUI's timer offers the origin's steps (docs/design.md, "Recording").

Exit codes: 0 complete; 1 a camera failed mid-session, the disk ran low or full (the files
hold everything up to then, in step with their timestamps), or a camera dropped more than
``record.max_drop_pct`` of its frames ("complete with drops"); 2 bad input (unsafe name,
existing session without --overwrite, unwritable folder, unknown camera or preset, a preset
value a camera cannot take, a limit out of range). A countdown cancelled (SIGINT/SIGTERM before the cameras start) exits 1 with
"cancelled before recording started; nothing was written": nothing was recorded, by
the operator's choice. (130 stays for a KeyboardInterrupt that reaches the top level.)
"""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import typer

from camdeck.console.cli import bounds, common


CANCELLED = "cancelled before recording started; nothing was written"


def register(app: typer.Typer) -> None:
    """Add the `record` command to the root app."""
    app.command("record")(record)


def _default_cameras(settings) -> list[str]:
    for rig in settings.rigs.values():
        if rig.type == "recorder":
            return list(rig.cameras)
    raise common.BadInput("--cameras is missing and config.toml has no recorder rig; fix: pass --cameras A,B")


def _take_options(settings, fmt: str | None, segment: str | None, pretrigger: str | None):
    """--format (default: config.toml's ``record.format``), --segment, --pretrigger, checked."""
    if fmt is None:
        fmt = settings.record.format
    if fmt not in ("h264", "mp4"):
        raise common.BadInput(f"--format {fmt!r}: not a recording format; fix: give --format h264 or --format mp4")
    segment_s = None if segment is None else bounds.parse_seconds(segment, "--segment", 1.0, 86400.0)
    pretrigger_s = 0.0 if pretrigger is None else bounds.parse_seconds(pretrigger, "--pretrigger", 0.5, 60.0)
    return fmt, segment_s, pretrigger_s


@contextmanager
def stop_on_signals(stop):
    """While inside, SIGINT and SIGTERM call ``stop()`` instead of killing the process."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: stop())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Display:
    """Turns RecordingEvents into a live rich table (stderr), or nothing in --json mode."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.console = common.stderr_console()
        self.live = None

    def gone(self) -> None:
        """The terminal hung up: show nothing more (stopping Live would write to the job log)."""
        self.quiet, self.live = True, None

    def __call__(self, event) -> None:
        if self.quiet:
            return
        if event.kind == "countdown":
            self.console.print(f"[bold]starting in {event.countdown_s:.0f}[/bold]")
        elif event.kind == "started":
            from rich.live import Live

            # auto_refresh off: every write happens here, in the session's thread, where a
            # hang-up's failed write is caught (JobScope.guard) instead of killing a refresh thread.
            self.live = Live(self._table(event), console=self.console, auto_refresh=False, transient=False)
            self.live.start(refresh=True)
        elif event.kind in ("progress", "stopping", "finished") and self.live is not None:
            self.live.update(self._table(event), refresh=True)
            if event.kind == "finished":
                self.live.stop()
                self.live = None
                if not self.console.is_terminal:
                    self.console.line()
        elif event.kind in ("camera_fault", "disk_low", "disk_full"):
            self.console.print(f"[yellow]warning:[/yellow] {event.message}")
        elif event.kind == "cancelled":
            pass     # record() prints the one line (stderr) once run() has returned
        elif event.kind == "armed":     # pre-trigger: record_trigger.py says how to start the take
            self.console.print(f"[bold]{event.message}; Enter or kill -USR1 {os.getpid()} starts the take[/bold]",
                               soft_wrap=True)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    @staticmethod
    def _table(event):
        from rich.table import Table

        timer = f"elapsed {event.elapsed_s:6.1f} s"
        if event.remaining_s is not None:
            timer += f"   remaining {event.remaining_s:6.1f} s"
        table = Table(title=timer)
        for col in ("camera", "frames", "fps", "dropped", "file size", "status"):
            table.add_column(col, justify="right" if col in ("frames", "fps", "dropped", "file size") else "left")
        for cam in event.cameras:
            table.add_row(f"{cam.index} {cam.name}", str(cam.frames), f"{cam.fps:.1f}", str(cam.dropped),
                          _size(cam.bytes_written), cam.status if not cam.fault else f"fault: {cam.fault}")
        return table


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def _result_json(result) -> dict[str, Any]:
    return {"session": result.session, "folder": str(result.folder), "outcome": result.outcome, "ok": result.ok,
            "result": result.result_text,
            "elapsed_s": round(result.elapsed_s, 3), "data_file": str(result.data_file) if result.data_file else None,
            "files": [str(p) for p in result.files], "warnings": result.warnings, "changes": result.changes,
            "cameras": [{"index": c.index, "name": c.name, "frames": c.frames, "dropped": c.dropped,
                         "drop_pct": round(100.0 * c.dropped / (c.frames + c.dropped), 3) if c.frames + c.dropped else 0.0,
                         "bytes": c.bytes_written, "status": c.status, "fault": c.fault} for c in result.cameras]}


def record(
    cameras: Optional[str] = typer.Option(None, "--cameras", metavar="A,B",
                                          help="Camera names, comma-separated, in file order (default: the recorder rig)."),
    session: Optional[str] = typer.Option(None, "--session", metavar="NAME",
                                          help="Session name: letters, digits, '-', '_', '.' (default: session-DATE-TIME)."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR", help="Output folder (default: DATA_DIR/recordings)."),
    duration: Optional[str] = typer.Option(None, "--duration", metavar="90s",
                                           help="Timer mode: record this long (100ms to 60m)."),
    manual: bool = typer.Option(False, "--manual", help="Manual mode: record until SIGINT/SIGTERM (the default)."),
    countdown: str = typer.Option("0s", "--countdown", metavar="10s", help="Countdown before the cameras start (0-120 s)."),
    fps: Optional[float] = typer.Option(None, "--fps", metavar="30", callback=bounds.number("--fps", 0.0, 240.0),
                                        help="Pin every camera to this frame rate (0: each its own; default: record.fps)."),
    preset: Optional[str] = typer.Option(None, "--preset", metavar="NAME", help="Apply this saved preset first."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing session of the same name."),
    crf: int = typer.Option(23, "--crf", min=0, max=51, help="libx264 quality (lower is better and larger)."),
    min_free_mb: float = typer.Option(200.0, "--min-free-mb", min=0.0,
                                      help="Stop cleanly when free disk space falls below this."),
    fmt: Optional[str] = typer.Option(None, "--format", metavar="h264|mp4",
                                      help="h264 (raw) or mp4 (fragmented, each frame's timestamp as its pts); "
                                           "default: config.toml's record.format (h264)."),
    segment: Optional[str] = typer.Option(None, "--segment", metavar="5m",
                                          help="Split each camera's file at a keyframe this often (1s to 24h)."),
    pretrigger: Optional[str] = typer.Option(None, "--pretrigger", metavar="10s",
                                             help="Arm first and keep this much before the trigger (0.5s to 60s); "
                                                  "the take starts on Enter, SIGUSR1 or at the end of --countdown."),
) -> None:
    """Record H.264 from several cameras at once: one .h264 (or .mp4) per camera, timestamps, a data file."""
    from camdeck.console.cli.job_scope import cli_job
    from camdeck.console.cli.record_trigger import trigger_on_enter_or_sigusr1
    from camdeck.console.jobs import recording_state
    from camdeck.drivers.recording.data_file import SessionPaths
    from camdeck.drivers.recording.presets import PresetStore
    from camdeck.drivers.recording.session import RecordingRequest, RecordingSession
    from camdeck.drivers.registry import find_spec

    settings = common.settings()
    if duration is not None and manual:
        raise common.BadInput("--duration and --manual exclude each other; fix: give one of them")
    duration_s = None
    if duration is not None:
        duration_s = bounds.parse_seconds(duration, "--duration", 0.1, 3600.0)
        if duration_s <= 0:
            raise common.BadInput(f"--duration {duration}: must be more than 0; fix: write e.g. --duration 90s")
    countdown_s = bounds.parse_seconds(countdown, "--countdown", 0.0, 120.0)
    fps_value = settings.record.fps if fps is None else fps
    names = [n.strip() for n in cameras.split(",")] if cameras is not None else _default_cameras(settings)
    if not names or any(not n for n in names) or len(set(names)) != len(names):
        raise common.BadInput(f"--cameras {cameras!r}: give distinct camera names, comma-separated; fix: --cameras A,B")
    specs = [find_spec(settings.cameras, n) for n in names]
    fmt, segment_s, pretrigger_s = _take_options(settings, fmt, segment, pretrigger)
    if session is None:
        session = datetime.now().strftime("session-%Y%m%d-%H%M%S")
    loaded = PresetStore(settings.data_dir).load(preset) if preset else None
    request = RecordingRequest(session=session, folder=out if out is not None else settings.data_dir / "recordings",
                               cameras=specs, duration_s=duration_s, countdown_s=countdown_s, preset=loaded,
                               overwrite=overwrite, crf=crf, min_free_bytes=int(min_free_mb * 1e6),
                               fps=fps_value or None, max_drop_pct=settings.record.max_drop_pct,
                               format=fmt, segment_s=segment_s, pretrigger_s=pretrigger_s)
    display = _Display(quiet=common.json_mode())
    paths = SessionPaths(Path(request.folder), request.session, len(request.cameras), fmt)
    plan = "manual: until stopped" if duration_s is None else f"timer: {duration_s:g} s"
    show = [display]
    recording = RecordingSession(request, settings.driver_context(), progress=lambda event: show[0](event))
    recording.preflight()      # bad input exits 2 before a job is registered
    with cli_job("record", f"session {session} ({', '.join(names)})", plan=plan, outputs=paths.planned()) as job:
        show[0] = job.guard(display, display.gone)
        job.stop_with(recording.request_stop)
        try:
            with trigger_on_enter_or_sigusr1(recording, pretrigger_s > 0):
                result = recording.run()
        finally:
            job.guard(display.close)()
        job.finish(recording_state(result.outcome), result.result_text if result.outcome != "cancelled" else CANCELLED,
                   result.files or paths.planned())
    if common.json_mode():
        common.emit_json(_result_json(result))
    elif result.outcome != "cancelled":
        common.stdout_console().print(
            f"session {result.session}: {result.result_text}, {result.elapsed_s:.1f} s; data file {result.data_file}")
    if result.outcome == "cancelled":
        common.stderr_console().print(CANCELLED)
        raise typer.Exit(1)
    if not result.ok:
        for warning in result.warnings:
            common.stderr_console().print(f"[yellow]warning:[/yellow] {warning}")
        raise typer.Exit(1)
