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
"""
from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from camdeck.fileio.atomic import write_text_atomic
from camdeck.drivers.base import CameraSpec, Clock
from camdeck.drivers.recording.camera_track import CameraStats, CameraTrack
from camdeck.drivers.errors import CameraDisconnected, ControlError, DriverError
from camdeck.drivers.recording.presets import BadPreset, Preset, apply_preset, check_preset
from camdeck.drivers.recording.data_file import (
    CameraRecord, SessionPaths, SessionRecord, applied_controls, camera_facts, camera_role, check_disk_space,
    check_no_existing, check_output_folder, check_session_name, free_bytes, remove_files,
    render_data_file,
)
from camdeck.drivers.recording.take import TakeFacts, open_take_output, run_armed, take_files
from camdeck.drivers.recording.frame_rate import pin_frame_rate
from camdeck.drivers.recording.take_end import (
    disk_full, disk_full_warning, fill_camera_record, final_outcome, hold_reserve, outcome_text,
)
from camdeck.drivers.recording.take_log import TakeChanges, TakeLog, control_values, data_file_line
from camdeck.drivers.recording.session_types import (  # noqa: F401  (callers import them from here)
    RecordingEvent, RecordingRequest, SessionResult, session_clock,
)

__all__ = ["CameraStats", "RecordingEvent", "RecordingRequest", "RecordingSession", "SessionResult", "session_clock"]

BITS_PER_PIXEL_ESTIMATE = 0.2     # libx264 ultrafast crf 23: a generous size estimate for the disk check
FIRST_FRAME_WAIT_S = 30.0         # wall seconds the take waits for every camera's first frame


class RecordingSession(TakeChanges):
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

    def _record(self, cameras: list[Any], old: list[Path], notes: list[str]) -> SessionResult:
        req = self.request
        armed = req.pretrigger_s > 0      # the files open at the trigger (drivers/recording/take.py)

        def replace_old() -> None:
            # again, after the countdown: nothing may have appeared since the pre-flight check
            remove_files(sorted(set(old) | set(check_no_existing(self.paths, req.overwrite))))

        if not armed:
            replace_old()
        self.tracks = [CameraTrack(i + 1, spec, cam, self.paths.video(i + 1), self.paths.timecodes(i + 1), self.clock,
                                   flush_interval_s=req.flush_interval_s, crf=req.crf,
                                   encoder_preset=req.encoder_preset, bitrate=req.bitrate,
                                   output=open_take_output(req.format, self.paths, i + 1, segment_s=req.segment_s,
                                                           pretrigger_s=req.pretrigger_s,
                                                           flush_interval_s=req.flush_interval_s))
                       for i, (spec, cam) in enumerate(zip(req.cameras, cameras))]
        created = datetime.now(timezone.utc)
        first_part = 1 if req.segment_s else None      # a segmented take's files are parts from the start
        record = SessionRecord(name=req.session, folder=self.paths.folder, mode=req.mode, duration_s=req.duration_s,
                               countdown_s=req.countdown_s, preset=req.preset.name if req.preset else None,
                               created_utc=created, start_utc=created, flush_interval_s=req.flush_interval_s,
                               fps=req.fps, max_drop_pct=req.max_drop_pct, events_file=self.paths.events.name,
                               notes=list(notes),
                               cameras=[CameraRecord(t.index, t.spec.name, camera_role(t.spec),
                                                     self.paths.video(t.index, first_part),
                                                     self.paths.timecodes(t.index, first_part),
                                                     controls=applied_controls(t.spec, t.camera),
                                                     facts=camera_facts(t.spec, t.camera),
                                                     encoder=t.encoder_parameters())
                                        for t in self.tracks],
                               take=TakeFacts(req.format, req.segment_s, req.pretrigger_s))
        # armed: a change while the buffers fill is kept and written at the trigger, timed from the take's zero
        self.log = TakeLog(self.paths.events, self.clock)

        def open_files() -> None:
            write_text_atomic(self.paths.data, render_data_file(record, socket.gethostname(), _version()))
            hold_reserve(self.paths.reserve)
            self.log.open()

        if not armed:
            open_files()
        barrier = threading.Barrier(len(self.tracks))
        zero_ns = watch_from = self.clock()
        start_wall = datetime.now(timezone.utc)
        warnings: list[str] = []
        if armed:
            took = run_armed(self.tracks, barrier, record.take, first_frames=self._first_frames, clock=self.clock,
                             countdown_s=req.countdown_s, triggered=self._trigger,
                             stopped=lambda: self._stop.is_set() or self._cancel.is_set(),
                             emit=lambda kind, **kw: self._emit(RecordingEvent(kind, **kw)),
                             before_files=lambda: (replace_old(), open_files()))
            if took is None:
                self._emit(RecordingEvent("cancelled", message="cancelled while armed; nothing was written"))
                return SessionResult(req.session, self.paths.folder, "cancelled", 0.0)
            zero_ns, watch_from = took      # timestamps count from the take's zero, the timer from the trigger
        try:
            if not armed:
                for t in self.tracks:
                    t.prepare()
                for t in self.tracks:
                    t.start(barrier)
                zero_ns = watch_from = self._first_frames()
            start_wall = self._wall_at(zero_ns)
            self.log.set_zero(zero_ns)
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

    def _first_frames(self) -> int:
        """Wait until every camera delivers steadily (or fails, or a stop comes); the take's zero:
        the latest camera's first steady frame on the session clock (now, if none delivered),
        so the take starts when every camera is recording."""
        deadline = time.monotonic() + FIRST_FRAME_WAIT_S
        while time.monotonic() < deadline and not self._stop.is_set():
            if all(t.first_frame.is_set() for t in self.tracks):
                break
            self._stop.wait(0.005)
        firsts = [t.first_ts for t in self.tracks if t.first_ts is not None]
        zero_ns = max(firsts) if firsts else self.clock()
        for t in self.tracks:
            t.set_zero(zero_ns)
        return zero_ns

    def _wall_at(self, at_ns: int) -> datetime:
        """The wall-clock time of session-clock instant ``at_ns`` (a simulated clock may run faster)."""
        factor = float(getattr(self.ctx, "time_factor", 1.0) or 1.0)
        return datetime.now(timezone.utc) - timedelta(seconds=(self.clock() - at_ns) / 1e9 / factor)

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
        elapsed_s = max(0.0, (self.clock() - zero_ns) / 1e9)
        self._notify(RecordingEvent("stopping", elapsed_s=elapsed_s, cameras=self._stats(), message=outcome))
        for t in self.tracks:
            t.request_stop()
        for t in self.tracks:
            t.join()
        end_wall = self._wall_at(zero_ns) + timedelta(seconds=elapsed_s)
        stats = self._stats()
        operator = outcome == "stopped"
        outcome = final_outcome(outcome, self.tracks, req.max_drop_pct, warnings)
        record.result = outcome_text(outcome, operator)
        record.end_utc, record.elapsed_s, record.start_utc = end_wall, elapsed_s, start_wall
        if self._stop_note is not None and operator:
            record.notes.append(self._stop_note)
        record.notes += warnings
        self.log.close()
        record.changes = [data_file_line(line) for line in self.log.lines]
        if self.log.error is not None:
            record.notes.append(f"the events file could not be written ({_one_line(self.log.error)}); "
                                "the changes are listed here")
        for t, cam_rec, st in zip(self.tracks, record.cameras, stats):
            fill_camera_record(t, cam_rec, st, start_wall, float(getattr(self.ctx, "time_factor", 1.0) or 1.0))
        self.paths.reserve.unlink(missing_ok=True)    # its room is the final data file's
        try:
            write_text_atomic(self.paths.data, render_data_file(record, socket.gethostname(), _version()))
        except OSError as err:  # the drive is full or gone: the video and timestamp files are what there is
            outcome = "error"
            warnings.append(f"the data file {self.paths.data} could not be written ({_one_line(err)}); "
                            "the video and timestamp files are complete")
        files = [self.paths.data, self.paths.events] + [
            p for t in self.tracks for p in take_files(t.output, self.paths.video(t.index), self.paths.timecodes(t.index))]
        result = SessionResult(req.session, self.paths.folder, outcome, elapsed_s, files=files,
                               data_file=self.paths.data, cameras=stats, warnings=warnings, result=record.result,
                               changes=list(self.log.lines))
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
                    if disk_full(t):       # every camera writes to that disk: the take ends
                        msg = disk_full_warning(t)
                        warnings.append(msg)
                        self._emit(RecordingEvent("disk_full", elapsed_s=elapsed, cameras=self._stats(), message=msg))
                        return "disk_full"
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


def _one_line(err: BaseException) -> str:
    return f"{type(err).__name__}: " + " ".join((str(err) or "").split())


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("camdeck")
    except Exception:  # not installed (running from a checkout)
        return ""
