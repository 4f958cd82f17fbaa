"""Recording sessions: two or more cameras, H.264 to files, timers, countdown, presets, faults.

A ``RecordingSession`` composes, per camera, an encoder (drivers/recording/encoders.py: libx264
for simulated and USB cameras, the Pi's hardware encoder through picamera2) with an
``AnnexBFileOutput`` (drivers/recording/h264_output.py: the destination), and writes the session data file
(drivers/recording/data_file.py). It is UI-free: it reports ``RecordingEvent`` objects through
a progress callback that the CLI turns into rich output and the TUI into messages.

Lifecycle of ``run()``:

1. pre-flight, before any camera opens: safe session name, writable folder, no existing
   session files (unless overwrite), enough free disk space;
2. open the cameras, check the preset's values against every camera's control ranges
   (BadPreset, bad input, before anything starts), apply it (controls a camera lacks are
   noted, not forced);
3. countdown (``cancel()`` ends the session here: nothing is written);
4. the cameras start together (a barrier), each in its capture thread; an encoder thread
   per camera drains a bounded queue (a full queue counts as dropped frames);
5. until the timer ends, ``request_stop()``, the disk runs low, or every camera failed;
   a camera that fails stops alone: its file is closed and stays playable;
6. encoders drained, files fsync'd and closed, the data file replaced atomically.

Step 6 runs however step 5 ends. When the session itself fails after the start (the free
space cannot be read because the drive went away, the progress callback raises), the
error does not escape ``run()``: the cameras are stopped and joined, the files finished,
and the data file written, and the result has outcome "error" with the error among its
warnings (the data file's Notes). A callback that raised is not called again. Only
KeyboardInterrupt / SystemExit propagate, after the same clean-up. If the final data file
cannot be written, the outcome is "error" too (the video and timestamp files are complete).

Timing uses the driver context's clock (``DriverContext.clock``), else the clock the cameras
report they stamp frames with (``camera.clock``: a simulated camera's runs ``time_factor``
times faster, so the session speeds up with it), else ``time.monotonic_ns``.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from camdeck.fileio.atomic import write_text_atomic
from camdeck.drivers.base import CameraSpec, Clock, camera_clock
from camdeck.drivers.recording.encoders import CameraStats, CameraTrack
from camdeck.drivers.errors import CameraDisconnected, ControlError, DriverError
from camdeck.drivers.recording.presets import BadPreset, Preset, apply_preset, check_preset
from camdeck.drivers.recording.data_file import (
    CameraRecord, SessionPaths, SessionRecord, camera_configuration, check_disk_space, check_no_existing,
    check_output_folder, check_session_name, free_bytes, remove_files, render_data_file,
)
from camdeck.drivers.recording.take import (
    TakeFacts, open_take_output, run_armed, take_files, take_segments, take_timecodes,
)

__all__ = ["CameraStats", "RecordingEvent", "RecordingRequest", "RecordingSession", "SessionResult", "session_clock"]

BITS_PER_PIXEL_ESTIMATE = 0.2     # libx264 ultrafast crf 23: a generous size estimate for the disk check


@dataclass(frozen=True)
class RecordingRequest:
    """What to record.

    Attributes:
        session: the session name (safe characters only).
        folder: the output folder (created if missing).
        cameras: the camera specs, in file order (camera 1, camera 2, ...).
        duration_s: timer mode length in seconds, or None for manual mode.
        countdown_s: seconds of countdown before the cameras start (0: none).
        preset: controls applied to every camera before the start.
        overwrite: replace an existing session of the same name.
        flush_interval_s: files are fsync'd at least this often.
        min_free_bytes: recording stops (with a warning) when free space falls below.
        crf, encoder_preset, bitrate: libx264 settings (bitrate also for the Pi encoder).
        format: "h264" (raw Annex B) or "mp4" (fragmented, pts = timestamps); drivers/recording/take.py.
        segment_s: split each camera's file at a keyframe every this many seconds (None: one file).
        pretrigger_s: arm first and keep this many seconds before the trigger (0: start at once).
    """

    session: str
    folder: Path
    cameras: Sequence[CameraSpec]
    duration_s: float | None = None
    countdown_s: float = 0.0
    preset: Preset | None = None
    overwrite: bool = False
    flush_interval_s: float = 1.0
    min_free_bytes: int = 200 * 10**6
    crf: int = 23
    encoder_preset: str = "ultrafast"
    bitrate: int | None = None
    format: str = "h264"
    segment_s: float | None = None
    pretrigger_s: float = 0.0

    @property
    def mode(self) -> str:
        return "manual" if self.duration_s is None else "timer"


@dataclass(frozen=True)
class RecordingEvent:
    """What a session reports: ``kind`` is one of "opened", "countdown", "started",
    "progress", "camera_fault", "disk_low", "stopping", "finished", "cancelled"."""

    kind: str
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    countdown_s: float | None = None
    cameras: tuple[CameraStats, ...] = ()
    message: str = ""


@dataclass
class SessionResult:
    """The outcome of a session. ``ok`` is false after a camera fault or a disk-low stop."""

    session: str
    folder: Path
    outcome: str                  # complete, stopped, disk_low, camera_fault, error, cancelled
    elapsed_s: float
    files: list[Path] = field(default_factory=list)
    data_file: Path | None = None
    cameras: tuple[CameraStats, ...] = ()
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in ("complete", "stopped")

    @property
    def result_text(self) -> str:
        """The data file's Result line for this outcome (``complete (stopped by the operator)``)."""
        return _outcome_text(self.outcome, self.warnings)


def session_clock(ctx: Any, cameras: Sequence[Any] = ()) -> Clock:
    """The clock that times a session: the context's when one is injected, else the clock the
    first camera stamps frames with (a camera on another clock has its timestamps rebased
    to its first frame, see CameraTrack), else the OS's monotonic clock.

    Args:
        ctx: the DriverContext (its ``clock``, or None).
        cameras: the opened cameras, in file order.
    """
    if ctx.clock is not None:
        return ctx.clock
    if cameras:
        return camera_clock(cameras[0])
    return time.monotonic_ns


class RecordingSession:
    """One recording session over two cameras or more (see the module docstring).

    Args:
        request: what to record.
        ctx: the DriverContext cameras are opened with (its clock, else the cameras', times the session).
        progress: called with each RecordingEvent, from the thread running ``run()``.
        open_camera: opens a spec (default: drivers.registry.open_camera).
        disk_free: free bytes of a folder (injectable for tests).
        tick_s: wall seconds between progress events.

    Thread-safety: ``request_stop()`` and ``cancel()`` may be called from any thread
    (a signal handler, a TUI key) while ``run()`` runs.
    """

    def __init__(self, request: RecordingRequest, ctx: Any = None, *,
                 progress: Callable[[RecordingEvent], None] | None = None,
                 open_camera: Callable[[CameraSpec, Any], Any] | None = None,
                 disk_free: Callable[[Path], int] = free_bytes, tick_s: float = 0.25) -> None:
        if len(request.cameras) < 1:
            raise DriverError("a recording session needs at least one camera", "pass --cameras A,B")
        from camdeck.drivers.registry import DriverContext, open_camera as registry_open

        self.request = request
        self.ctx = ctx if ctx is not None else DriverContext()
        self.clock: Clock = session_clock(self.ctx)     # the cameras' clock once they are open
        self.paths = SessionPaths(Path(request.folder), request.session, len(request.cameras), request.format)
        self._progress = progress or (lambda event: None)
        self._open = open_camera or registry_open
        self._disk_free = disk_free
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._cancel = threading.Event()
        self._trigger = threading.Event()     # armed (pre-trigger): the take starts when it is set
        self._stop_reason = "stopped"
        self._stop_note: str | None = None    # who asked to stop, for the data file's Notes
        self._callback_failed = False     # the progress callback raised
        self._quiet = False               # then it is not called again while the session ends
        self.tracks: list[CameraTrack] = []
        self.cameras: list[Any] = []      # open while run() runs

    def _emit(self, event: RecordingEvent) -> None:
        try:
            self._progress(event)
        except BaseException:
            self._callback_failed = True
            raise

    # -------- control (any thread)
    def request_stop(self, reason: str | None = None) -> None:
        """Finish the session cleanly (manual mode's stop key, SIGINT/SIGTERM); cancels a countdown.

        Args:
            reason: who asked (``camdeck jobs stop (ana@pi, ...)``, ``SIGTERM``); the data file's
                Notes name it under the result "complete (stopped by the operator)".
        """
        if reason and self._stop_note is None:
            self._stop_note = f"stop requested by {reason}"
        if not self.tracks:
            self._cancel.set()
        self._stop.set()

    def trigger(self, by: str = "the trigger") -> None:
        """Start the take of an armed session (pre-trigger); any thread. ``by`` goes to the data file."""
        self._trigger.by = by
        self._trigger.set()

    def cancel(self) -> None:
        """Cancel during the countdown (nothing is written); after the start, same as request_stop."""
        self._cancel.set()
        self._stop.set()

    def apply_preset(self, preset: Preset) -> list[Any]:
        """Apply ``preset`` live to every open camera of the session (any thread).

        Returns one AppliedPreset per camera; a camera that has failed is skipped.
        """
        done = []
        for cam in list(self.cameras):
            try:
                done.append(apply_preset(cam, preset))
            except CameraDisconnected:
                continue
        return done

    def save_preset(self, store: Any, name: str, camera_index: int = 1) -> Preset:
        """Save the live controls of camera ``camera_index`` (from 1) as preset ``name``."""
        if not 1 <= camera_index <= len(self.cameras):
            raise DriverError(f"no camera {camera_index} is open in this session", "start the session first")
        return store.save_from_camera(name, self.cameras[camera_index - 1])

    # -------- checks
    def estimated_bytes(self) -> int:
        """A generous size estimate for a timer session (0 in manual mode)."""
        if self.request.duration_s is None:
            return 0
        total = 0
        for spec in self.request.cameras:
            w, h = spec.resolution or (1920, 1080)
            total += int(w * h * 30 * BITS_PER_PIXEL_ESTIMATE / 8 * self.request.duration_s)
        return total

    def preflight(self) -> list[Path]:
        """Every check that needs no camera; returns the old files an overwrite will replace.

        Raises:
            UnsafeSessionName, OutputNotWritable, SessionExists, NotEnoughDiskSpace (all bad input).
        """
        check_session_name(self.request.session)
        check_output_folder(self.paths.folder)
        old = check_no_existing(self.paths, self.request.overwrite)
        check_disk_space(self.paths.folder, self.request.min_free_bytes + self.estimated_bytes(), self._disk_free)
        return old

    # -------- the session
    def _stats(self) -> tuple[CameraStats, ...]:
        return tuple(t.stats() for t in self.tracks)

    def run(self) -> SessionResult:
        """Record the session; see the module docstring for the steps.

        Raises:
            the pre-flight errors (bad input), BadPreset (a preset value a camera cannot
            take, checked before the start) and any error opening a camera; faults after
            the start never raise: they are in the result (outcome "camera_fault",
            "disk_low" or "error"), except KeyboardInterrupt/SystemExit, which propagate
            once the files are finished.
        """
        old = self.preflight()
        req = self.request
        cameras: list[Any] = self.cameras
        try:
            for spec in req.cameras:
                cameras.append(self._open(spec, self.ctx))
            self.clock = session_clock(self.ctx, cameras)
            notes = self._apply_start_preset(cameras) if req.preset is not None else []
            self._emit(RecordingEvent("opened", message=", ".join(c.name for c in cameras)))
            if req.pretrigger_s <= 0 and not self._countdown():   # armed: the countdown runs in _record
                self._emit(RecordingEvent("cancelled", message="cancelled during the countdown; nothing was written"))
                return SessionResult(req.session, self.paths.folder, "cancelled", 0.0)
            return self._record(cameras, old, notes)
        finally:
            self.cameras = []
            for cam in cameras:
                try:
                    cam.close()
                except Exception:  # closing is best effort; the files are already complete
                    pass

    def _apply_start_preset(self, cameras: list[Any]) -> list[str]:
        """Check the request's preset against every open camera, then apply it (before the start).

        A value a camera cannot take is bad input: BadPreset names the preset, the control
        and the allowed range, before any camera starts or any file is written.
        """
        preset = self.request.preset
        for cam in cameras:            # every camera first: none is changed when one cannot take it
            check_preset(cam, preset)
        notes = []
        for cam in cameras:
            try:
                done = apply_preset(cam, preset)
            except ControlError as err:   # a rule the ranges do not show (ExposureTime vs frame duration)
                raise BadPreset(f"{preset.describe()} cannot be applied to camera {cam.name!r}: {err.message}",
                                f"{err.fix + '; ' if err.fix else ''}edit the preset file or save the preset again") from None
            if done.skipped:
                notes.append(f"preset {preset.name!r}: {cam.name} has no {', '.join(done.skipped)}")
        return notes

    def _countdown(self) -> bool:
        """Count down on the session clock; False when cancelled."""
        total = max(0.0, float(self.request.countdown_s))
        if total <= 0:
            return not self._cancel.is_set()
        end = self.clock() + int(total * 1e9)
        shown = None
        while True:
            left = (end - self.clock()) / 1e9
            if self._cancel.is_set():
                return False
            if left <= 0:
                return True
            whole = int(left) + (1 if left % 1 else 0)
            if whole != shown:
                shown = whole
                self._emit(RecordingEvent("countdown", countdown_s=float(whole)))
            step = min(0.05, max(left, 0.001))
            sleep = getattr(self.clock, "sleep", None)
            if sleep is not None:   # a simulated clock: its own seconds (a manual clock moves at once)
                sleep(step)
            else:
                self._cancel.wait(step)

    def _record(self, cameras: list[Any], old: list[Path], notes: list[str]) -> SessionResult:
        req = self.request
        armed = req.pretrigger_s > 0      # the files open at the trigger (drivers/recording/take.py)

        def replace_old() -> None:
            # again, after the countdown: nothing may have appeared since the pre-flight check
            remove_files(sorted(set(old) | set(check_no_existing(self.paths, req.overwrite))))

        if not armed:
            replace_old()
        configs = [camera_configuration(spec, cam) for spec, cam in zip(req.cameras, cameras)]
        self.tracks = [CameraTrack(i + 1, spec, cam, self.paths.video(i + 1), self.paths.timecodes(i + 1), self.clock,
                                   flush_interval_s=req.flush_interval_s, crf=req.crf,
                                   encoder_preset=req.encoder_preset, bitrate=req.bitrate,
                                   output=open_take_output(req.format, self.paths, i + 1, segment_s=req.segment_s,
                                                           pretrigger_s=req.pretrigger_s,
                                                           flush_interval_s=req.flush_interval_s))
                       for i, (spec, cam) in enumerate(zip(req.cameras, cameras))]
        created = datetime.now(timezone.utc)
        record = SessionRecord(name=req.session, folder=self.paths.folder, mode=req.mode, duration_s=req.duration_s,
                               countdown_s=req.countdown_s, preset=req.preset.name if req.preset else None,
                               created_utc=created, start_utc=created, flush_interval_s=req.flush_interval_s,
                               notes=list(notes),
                               cameras=[CameraRecord(t.index, t.spec.name, t.spec.label, self.paths.video(t.index),
                                                     self.paths.timecodes(t.index), configuration=configs[i],
                                                     encoder=t.encoder_parameters())
                                        for i, t in enumerate(self.tracks)],
                               take=TakeFacts(req.format, req.segment_s, req.pretrigger_s))

        def write_data() -> None:
            write_text_atomic(self.paths.data, render_data_file(record, socket.gethostname(), _version()))

        if not armed:
            write_data()
        barrier = threading.Barrier(len(self.tracks))
        zero_ns = self.clock()
        start_wall = datetime.now(timezone.utc)
        watch_from = zero_ns
        warnings: list[str] = []
        if armed:
            took = run_armed(self.tracks, barrier, zero_ns, record.take, clock=self.clock, countdown_s=req.countdown_s,
                             triggered=self._trigger, stopped=lambda: self._stop.is_set() or self._cancel.is_set(),
                             emit=lambda kind, **kw: self._emit(RecordingEvent(kind, **kw)),
                             before_files=lambda: (replace_old(), write_data()))
            if took is None:
                self._emit(RecordingEvent("cancelled", message="cancelled while armed; nothing was written"))
                return SessionResult(req.session, self.paths.folder, "cancelled", 0.0)
            start_wall += timedelta(microseconds=(took[0] - zero_ns) / 1000)
            zero_ns, watch_from = took      # timestamps count from the take's zero, the timer from the trigger
        try:
            if not armed:
                for t in self.tracks:
                    t.start(barrier, zero_ns)
            self._emit(RecordingEvent("started", remaining_s=req.duration_s, cameras=self._stats()))
            outcome = self._watch(watch_from, warnings)
        except Exception as err:  # the session itself failed (free space unreadable, a progress callback raised)
            elapsed_s = (self.clock() - zero_ns) / 1e9
            warnings.append(f"recording stopped after {elapsed_s:.1f} s by an error: {_one_line(err)}; "
                            "the files hold everything recorded up to then")
            outcome = "error"
            self._quiet = self._callback_failed      # a callback that raised is not called again
            barrier.abort()      # a camera still waiting to start gives up
        except BaseException:    # KeyboardInterrupt, SystemExit: finish the files, then let it through
            barrier.abort()
            self._quiet = True
            warnings.append("recording interrupted; the files hold everything recorded up to then")
            self._finish(record, zero_ns, start_wall, "error", warnings)
            raise
        return self._finish(record, zero_ns, start_wall, outcome, warnings)

    def _notify(self, event: RecordingEvent) -> None:
        """Report ``event`` while the session ends: a callback that fails is not called again,
        and its failure never stops the files from being finished."""
        if self._quiet:
            return
        try:
            self._emit(event)
        except Exception:
            self._quiet = True

    def _finish(self, record: SessionRecord, zero_ns: int, start_wall: datetime, outcome: str,
                warnings: list[str]) -> SessionResult:
        """Stop and join every camera, then write the final data file (runs whatever ended the session)."""
        req = self.request
        elapsed_s = (self.clock() - zero_ns) / 1e9
        self._notify(RecordingEvent("stopping", elapsed_s=elapsed_s, cameras=self._stats(), message=outcome))
        for t in self.tracks:
            t.request_stop()
        for t in self.tracks:
            t.join()
        end_wall = datetime.now(timezone.utc)
        stats = self._stats()
        if outcome in ("complete", "stopped") and any(t.status == "fault" for t in self.tracks):
            outcome = "camera_fault"     # a camera failed while the files were being finished
            warnings += [f"camera {t.index} ({t.spec.name}) failed while finishing its file: {t.fault}"
                         for t in self.tracks if t.status == "fault"]
        record.result = _outcome_text(outcome, warnings)
        record.end_utc, record.elapsed_s = end_wall, elapsed_s
        if self._stop_note is not None and outcome == "stopped":
            record.notes.append(self._stop_note)
        record.notes += warnings
        for t, cam_rec, st in zip(self.tracks, record.cameras, stats):
            self._fill_camera_record(t, cam_rec, st, start_wall)
        try:
            write_text_atomic(self.paths.data, render_data_file(record, socket.gethostname(), _version()))
        except OSError as err:  # the drive is full or gone: the video and timestamp files are what there is
            outcome = "error"
            warnings.append(f"the data file {self.paths.data} could not be written ({_one_line(err)}); "
                            "the video and timestamp files are complete")
        files = [self.paths.data] + [p for t in self.tracks
                                     for p in take_files(t.output, self.paths.video(t.index), self.paths.timecodes(t.index))]
        result = SessionResult(req.session, self.paths.folder, outcome, elapsed_s, files=files,
                               data_file=self.paths.data, cameras=stats, warnings=warnings)
        self._notify(RecordingEvent("finished", elapsed_s=elapsed_s, cameras=stats, message=outcome))
        return result

    def _watch(self, zero_ns: int, warnings: list[str]) -> str:
        """Wait until the session should end; returns the outcome (warnings go to ``warnings``)."""
        req = self.request
        faulted: set[int] = set()
        next_disk_check = 0.0
        while True:
            elapsed = (self.clock() - zero_ns) / 1e9
            for t in self.tracks:
                if t.status == "fault" and t.index not in faulted:
                    faulted.add(t.index)
                    msg = f"camera {t.index} ({t.spec.name}) failed after {t.fault_elapsed_s or elapsed:.1f} s " \
                          f"and {t.frames} frames: {t.fault}; the other cameras go on"
                    warnings.append(msg)
                    self._emit(RecordingEvent("camera_fault", elapsed_s=elapsed, cameras=self._stats(), message=msg))
            if len(faulted) == len(self.tracks):
                return "camera_fault"
            if req.duration_s is not None and elapsed >= req.duration_s:
                return "camera_fault" if faulted else "complete"
            if self._stop.is_set():
                return "camera_fault" if faulted else "stopped"
            wall = time.monotonic()
            if wall >= next_disk_check:
                next_disk_check = wall + 1.0
                free = self._disk_free(self.paths.folder)
                if free < req.min_free_bytes:
                    msg = (f"disk space low ({free / 1e6:.0f} MB free in {self.paths.folder}, below "
                           f"{req.min_free_bytes / 1e6:.0f} MB): recording stopped after {elapsed:.1f} s; files are complete")
                    warnings.append(msg)
                    self._emit(RecordingEvent("disk_low", elapsed_s=elapsed, cameras=self._stats(), message=msg))
                    return "disk_low"
            remaining = None if req.duration_s is None else max(0.0, req.duration_s - elapsed)
            self._emit(RecordingEvent("progress", elapsed_s=elapsed, remaining_s=remaining, cameras=self._stats()))
            wait_s = self.tick_s
            if remaining is not None:
                wait_s = min(wait_s, max(0.005, remaining / max(self.ctx.time_factor, 1.0)))
            self._stop.wait(wait_s)

    def _fill_camera_record(self, t: CameraTrack, rec: CameraRecord, st: CameraStats, start_wall: datetime) -> None:
        try:
            rec.times_ms = take_timecodes(t.output, self.paths.timecodes(t.index))
        except OSError:
            rec.times_ms = []
        if rec.times_ms:
            rec.start_utc = start_wall + timedelta(milliseconds=rec.times_ms[0])
            rec.end_utc = start_wall + timedelta(milliseconds=rec.times_ms[-1])
        rec.frames, rec.dropped, rec.bytes_written = len(rec.times_ms), st.dropped, t.output.bytes_written
        rec.segments = take_segments(t.output)
        if rec.segments:       # a segmented take: its first part (TAKE FILES lists them all)
            rec.video, rec.timecodes = rec.segments[0].video, rec.segments[0].timecodes
        rec.encoder = t.encoder_parameters()
        if t.status == "fault":
            rec.status = "fault (the file holds every frame up to the fault and is playable)"
            rec.fault = f"after {t.fault_elapsed_s or 0:.3f} s and {rec.frames} frames: {t.fault}"
        else:
            rec.status = "ok"
        if t.rebased:
            rec.status += "; its clock differs from the session clock, timestamps count from its first frame"


def _outcome_text(outcome: str, warnings: list[str]) -> str:
    return {"complete": "complete (the timer ran out)",
            "stopped": "complete (stopped by the operator)",
            "disk_low": "stopped early: disk space low",
            "camera_fault": "camera fault (see the CAMERA sections)",
            "error": "stopped early by an error (see Notes); the files hold everything up to then",
            }.get(outcome, outcome)


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: " + " ".join((str(err) or "").split())


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("camdeck")
    except Exception:  # not installed (running from a checkout)
        return ""
