"""The Recording tab's take: the session worker, its messages, and what the tab shows as its
events arrive (countdown, timer, per-camera figures, the result, the next take's name).

``TakeRunner`` is a mixin of ``RecordingTab`` (console/tui/tabs/recording.py), which holds the
form, the widgets and the state these use. It lives apart because it is one feature with its
own thread: ``_launch`` starts the worker, which borrows the cameras from the CameraPool, runs
``RecordingSession`` (drivers/recording/session.py) and registers it as a job; every session
event comes back as a ``RecordingEventMessage`` and the end as ``RecordingFinished``, handled
here on the UI thread; ``_finish`` gives the form and the preview back. Stopping (ctrl+s,
quitting) and worker failures stay with the tab.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message

from camdeck.console.tui.camera_pool import lent_opener
from camdeck.console.tui.tabs.take_name import next_take_name


class RecordingEventMessage(Message):
    """A RecordingEvent from the session worker; a newer "progress" replaces an older one."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (isinstance(message, RecordingEventMessage) and message.event.kind == "progress"
                and self.event.kind == "progress")


class RecordingFinished(Message):
    """The session ended (its SessionResult)."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class TakeRunner:
    """The Recording tab's take from start to result (see the module doc)."""

    # ---------------------------------------------------------------- the worker

    def _launch(self, request: Any) -> None:
        self.state = "starting"
        self._stop_requested = False
        self._session_name = request.session
        self.last_result, self.last_error = None, ""
        self._set_form_enabled(False)
        self.table.set_cameras([spec.name for spec in request.cameras])
        self.status.update(f"opening {', '.join(s.name for s in request.cameras)}…")
        if self.pause_check.value:
            self._preview_pause.hold()
        taps: dict = {}             # filled by the session as it opens the cameras; the preview reads them
        self.preview.start(taps, [spec.name for spec in request.cameras])
        self._record(request, getattr(self.app, "job_host", None), taps)

    @work(thread=True, exclusive=True, exit_on_error=False, group="recording")
    def _record(self, request: Any, host: Any = None, taps: dict | None = None) -> None:
        """Run the session on cameras borrowed from the pool; every event becomes a message.
        ``host`` (the app's JobHost) registers it as a job; the record is kept here, in the
        worker, because after a hang-up no message reaches the UI any more."""
        from camdeck.console.jobs import recording_state
        from camdeck.drivers.recording.frame_tap import tapping
        from camdeck.drivers.recording.session import RecordingSession

        job = None
        with self.pool.borrow([spec.name for spec in request.cameras], by="recording") as cams:
            session = RecordingSession(request, self.pool.ctx, open_camera=tapping(lent_opener(cams), taps if taps is not None else {}),
                                       progress=lambda event: self.post_message(RecordingEventMessage(event)))
            self.session = session
            if host is not None:
                session.preflight()       # bad input is said in the tab, not registered as a job
                job = host.start("record", f"session {request.session} ({', '.join(s.name for s in request.cameras)})",
                                 stop=session.request_stop, outputs=session.paths.planned(),
                                 plan="manual: until stopped" if request.duration_s is None
                                 else f"timer: {request.duration_s:g} s")
            if self._exit_requested or self._stop_requested:   # quit or ctrl+s while the cameras opened
                session.cancel()
            try:
                result = session.run()
            except BaseException as err:
                if host is not None:
                    host.end(job, "failed", " ".join((str(err) or type(err).__name__).split()))
                raise
            finally:
                self.session = None
        if host is not None:
            host.end(job, recording_state(result.outcome), result.result_text, result.files or None)
        self.post_message(RecordingFinished(result))   # after the loan: the preview may resume at once

    # ---------------------------------------------------------------- messages

    def on_recording_event_message(self, message: RecordingEventMessage) -> None:
        event = message.event
        if event.kind == "countdown":
            if self.state == "stopping":
                return      # ctrl+s came first: the session is being cancelled
            self.state = "countdown"
            self.timer.show_countdown(event.countdown_s or 0)
            self.status.update("countdown: ctrl+s cancels")
        elif event.kind in ("started", "progress"):
            if self.state != "stopping":
                self.state = "recording"
            self._elapsed = (float(event.elapsed_s or 0.0), time.monotonic())
            self.timer.show_running(event.elapsed_s, event.remaining_s)
            if event.kind == "started":
                self.status.update("recording: ctrl+s stops")
        elif event.kind in ("camera_fault", "disk_low"):
            self.notify(event.message, title="recording", severity="warning", timeout=10)
            self.status.update(f"[b]warning:[/b] {event.message}")
        if event.cameras:
            self.table.update_stats(event.cameras)

    def on_recording_finished(self, message: RecordingFinished) -> None:
        result = message.result
        self.last_result = result
        self._finish()
        if result.outcome == "cancelled":
            self.timer.show_idle("cancelled")
            self.status.update("countdown cancelled: nothing was written")
            return
        self.table.update_stats(result.cameras)
        self._advance_name(result.session)
        self.timer.show_finished(result.elapsed_s, result.outcome.replace("_", " "))
        text = f"session {result.session}: {result.outcome.replace('_', ' ')}; data file {result.data_file}"
        if result.warnings:
            text += "\n" + "\n".join(result.warnings)
        self.status.update(text)

    def _advance_name(self, recorded: str) -> None:
        """After a take, the form names the next one (take_001 -> take_002), unless the operator
        already typed another name meanwhile."""
        from camdeck.drivers.recording.data_file import SessionPaths

        if self.name_input.value.strip() != recorded:
            return
        folder = Path(self.folder_input.value.strip() or ".")
        count = max(1, len(self.last_result.cameras) if self.last_result is not None else 1)
        self.name_input.value = next_take_name(
            recorded, taken=lambda name: bool(SessionPaths(folder, name, count).existing()))

    def _finish(self) -> None:
        """The take is over (or never started): the form, the take preview and the Cameras tab's
        preview come back."""
        self.state = "idle"
        self.session = None
        self.preview.stop()
        self._set_form_enabled(True)
        self._preview_pause.release()
