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
4. the encoders open, then the cameras start together (a barrier), each in its capture
   thread; an encoder thread per camera drains a bounded queue (a full queue counts as
   dropped frames). The take's zero, from which its timer runs and its timestamps count, is
   the moment every camera delivers steadily: the latest camera's first steady frame
   (drivers/recording/camera_track.py, CameraTrack); the time the cameras take to start is not
   part of the take, and every file starts within a frame of the others;
5. until the timer ends, ``request_stop()``, the disk runs low or full, or every camera
   failed; a camera that fails stops alone: its file is closed and stays playable; a full
   disk (ENOSPC) ends the take for every camera, each file cut back to its last complete
   frame, in step with its timestamps;
6. encoders drained, files fsync'd and closed, the data file replaced atomically (a reserve
   file held beside it since the start is given up first, so a full disk can still be told).

The take's files come from drivers/recording/take.py: raw .h264 or fragmented .mp4 (``format``),
split into parts at keyframes (``segment_s``). With ``pretrigger_s`` the session is armed after
step 2 instead of counting down: the cameras start as in step 4 and a rolling buffer keeps
the last seconds; at ``trigger()`` (or the countdown's end) the files open and begin with the
buffered frames, whose first is the take's zero; a stop while armed writes nothing.

Every camera is pinned to ``fps`` (FrameDurationLimits, drivers/recording/frame_rate.py) before
the preset; a take whose drop rate passes ``max_drop_pct`` on any camera ends "complete with
drops" (``ok`` false). Changes made during the take (``set_controls``, ``apply_preset``) are
logged with their time in ``{session}_events.txt`` and the data file (drivers/recording/take_log.py).

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

This module holds steps 1 to 3 and the controls any thread may call; steps 4 to 6, the take's
own run, are ``TakeRun`` in drivers/recording/take_run.py, which the session inherits.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

from camdeck.drivers.base import CameraSpec, Clock
from camdeck.drivers.recording.camera_track import CameraStats, CameraTrack
from camdeck.drivers.errors import CameraDisconnected, ControlError, DriverError
from camdeck.drivers.recording.presets import BadPreset, Preset, apply_preset, check_preset
from camdeck.drivers.recording.data_file import (
    SessionPaths, check_disk_space, check_no_existing, check_output_folder, check_session_name, free_bytes,
)
from camdeck.drivers.recording.frame_rate import pin_frame_rate
from camdeck.drivers.recording.take_log import TakeChanges, TakeLog, control_values
from camdeck.drivers.recording.take_run import TakeRun
from camdeck.drivers.recording.session_types import (  # noqa: F401  (callers import them from here)
    RecordingEvent, RecordingRequest, SessionResult, session_clock,
)

__all__ = ["CameraStats", "RecordingEvent", "RecordingRequest", "RecordingSession", "SessionResult", "session_clock"]

BITS_PER_PIXEL_ESTIMATE = 0.2     # libx264 ultrafast crf 23: a generous size estimate for the disk check


class RecordingSession(TakeChanges, TakeRun):
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
        self.log: TakeLog | None = None   # the take's events file, from the start of the take
        self._change_lock = threading.Lock()

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
        """Apply ``preset`` live to every open camera of the session (any thread); during a take
        each control it changes is logged with its time (events file and data file).

        Returns one AppliedPreset per camera; a camera that has failed is skipped.
        """
        done = []
        for index, cam in enumerate(list(self.cameras), 1):
            with self._change_lock:
                before = control_values(cam) if self.log is not None else {}
                try:
                    done.append(apply_preset(cam, preset))
                except CameraDisconnected:
                    continue
                self.log_change(index, cam, f"preset {preset.name!r}", before)
        return done

    def save_preset(self, store: Any, name: str) -> Preset:
        """Save each open camera's own live controls as preset ``name`` (any thread)."""
        if not self.cameras:
            raise DriverError("no camera is open in this session", "start the session first")
        return store.save_from_cameras(name, list(self.cameras))

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
            notes = [n for cam in cameras for n in pin_frame_rate(cam, req.fps)] if req.fps else []
            notes += self._apply_start_preset(cameras) if req.preset is not None else []
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
            if done.note(preset.name):
                notes.append(done.note(preset.name))
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
