"""The take itself, once a session's cameras are open: steps 4 to 6 of drivers/recording/session.py.

``TakeRun`` makes one ``CameraTrack`` per camera, writes the first data file and the reserve
beside it, starts the cameras together (or hands the armed phase to drivers/recording/take.py),
finds the take's zero in the cameras' first steady frames, watches the take until it should end
(timer, stop, low or full disk, every camera failed) and finishes it: cameras stopped and joined,
the events file closed, the final data file written atomically.

It lives apart from ``RecordingSession`` so the session module holds what comes before the take
(pre-flight, opening the cameras, the preset, the countdown) and the controls any thread may
call, and this one the take's own run. It is a mixin of ``RecordingSession`` (the way
take_log.py's ``TakeChanges`` is): it uses the session's attributes listed on the class.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from camdeck.fileio.atomic import write_text_atomic
from camdeck.drivers.base import Clock
from camdeck.drivers.recording.camera_track import CameraStats, CameraTrack, error_line
from camdeck.drivers.recording.data_file import (
    CameraRecord, SessionPaths, SessionRecord, applied_controls, camera_facts, camera_role, check_no_existing,
    remove_files, render_data_file,
)
from camdeck.drivers.recording.session_types import RecordingEvent, RecordingRequest, SessionResult

log = logging.getLogger(__name__)
from camdeck.drivers.recording.take import TakeFacts, open_take_output, run_armed, take_files
from camdeck.drivers.recording.take_end import (
    disk_full, disk_full_warning, fill_camera_record, final_outcome, hold_reserve, outcome_text,
)
from camdeck.drivers.recording.take_log import TakeLog, data_file_line

FIRST_FRAME_WAIT_S = 30.0         # wall seconds the take waits for every camera's first frame


class TakeRun:
    """The run of one take: tracks, first frames, the watch, the end (a RecordingSession mixin:
    it needs the attributes below, set by ``RecordingSession.__init__``, and ``_emit``)."""

    request: RecordingRequest
    ctx: Any
    clock: Clock
    paths: SessionPaths
    tick_s: float
    tracks: list[CameraTrack]
    log: TakeLog | None
    _stop: threading.Event
    _cancel: threading.Event
    _trigger: threading.Event
    _stop_note: str | None
    _callback_failed: bool
    _quiet: bool
    _disk_free: Callable[[Path], int]
    _emit: Callable[[RecordingEvent], None]

    def _stats(self) -> tuple[CameraStats, ...]:
        return tuple(t.stats() for t in self.tracks)

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
            warnings.append(f"recording stopped after {elapsed_s:.1f} s by an error: {error_line(err)}; "
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
        except Exception as err:  # noqa: BLE001 - any callback failure: one line, the files still get finished
            log.warning("recording: the progress callback failed on %r (%s); it is not called again",
                        event.kind, error_line(err))
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
            record.notes.append(f"the events file could not be written ({error_line(self.log.error)}); "
                                "the changes are listed here")
        for t, cam_rec, st in zip(self.tracks, record.cameras, stats):
            fill_camera_record(t, cam_rec, st, start_wall, float(getattr(self.ctx, "time_factor", 1.0) or 1.0))
        self.paths.reserve.unlink(missing_ok=True)    # its room is the final data file's
        try:
            write_text_atomic(self.paths.data, render_data_file(record, socket.gethostname(), _version()))
        except OSError as err:  # the drive is full or gone: the video and timestamp files are what there is
            outcome = "error"
            warnings.append(f"the data file {self.paths.data} could not be written ({error_line(err)}); "
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("camdeck")
    except PackageNotFoundError:  # not installed (running from a checkout)
        return ""
