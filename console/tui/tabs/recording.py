"""The Recording tab: a dual-camera H.264 session with timer, countdown, presets and a preview.

The session (drivers.recording.session.RecordingSession) runs in a thread worker; its events come
back as messages (the worker and those messages: console/tui/tabs/take_runner.py). Widgets never
touch a driver. Keys (in the footer): ctrl+r record, ctrl+s stop (or cancel the countdown), ctrl+l apply the preset picked in the list (live while
recording, through the session, which logs the change), ctrl+o save each camera's own controls
under a name the dialog asks for (console/tui/tabs/take_presets.py does the driver work), v the
preview of both cameras during a take (off by default; console/tui/tabs/take_preview.py: it reads
the recorder's last frames, never captures). An existing session or preset is replaced only after
the confirm dialog. c opens the camera form of the camera under the table's cursor (during a take
its edits go through the session and the resolution and frame rate wait for the next take;
console/tui/tabs/take_controls.py). ctrl+s works from any tab and any field (an app binding with priority).
Read-only (``camdeck tui --read-only``) turns ctrl+r and ctrl+o off.

The session records from the app's open cameras: it borrows them from the CameraPool for its
whole run (``open_camera=`` hands out the lent ones), so the Cameras tab cannot read them
meanwhile and a camera busy elsewhere (a reconstruction) is refused with the holder's name.
The checkbox also pauses the whole preview while recording (the other cameras too: CPU for
the encoders on a Pi).

Quitting while a session runs: the app asks first (``running_jobs``), then ``stop_for_exit``
stops the session as ctrl+s would (a countdown is cancelled) and the app waits for the worker,
so the files are finished and the data file says the operator stopped it. Unmounting asks
the same stop (a safety net: the camera pool waits for the cameras to come back), except after
a hang-up: then the session goes on to its planned end (console/tui/job_host.py). The session
is a job: other consoles list it, and ``camdeck jobs stop ID`` stops it as ctrl+s would.
"""
from __future__ import annotations

from rich.markup import escape   # error text is shown verbatim: 'camdeck[fleet]' is not markup
import time
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from camdeck.console.tui.camera_pool import CameraPool
from camdeck.console.tui.tabs.cameras import PreviewPause
from camdeck.console.tui.screens.confirm_overwrite import ConfirmOverwrite
from camdeck.console.tui.tabs.take_controls import TakeCameraForm
from camdeck.console.tui.tabs.take_presets import PresetKeys
from camdeck.console.tui.tabs.take_preview import TakePreview
from camdeck.console.tui.tabs.take_name import default_session_name
from camdeck.console.tui.tabs.take_runner import TakeRunner
from camdeck.console.tui.widgets.recording_cameras import RecordingCameraTable
from camdeck.console.tui.widgets.recording_timer import RecordingTimer, clock_text, timer_suggester


def _default_cameras(settings) -> list[str]:
    for rig in settings.rigs.values():
        if rig.type == "recorder":
            return list(rig.cameras)
    return [name for name, spec in settings.cameras.items() if spec.kind == "picam"][:2]


class RecordingTab(PresetKeys, TakeCameraForm, TakeRunner, Vertical):
    """Session form, big timer, per-camera figures; the session itself runs in a worker."""

    BINDINGS = [
        Binding("ctrl+r", "start", "Record"),
        Binding("ctrl+l", "apply_preset", "Apply preset"),
        Binding("ctrl+o", "save_preset", "Save preset"),
        Binding("v", "toggle_preview", "Preview"),
        Binding("c", "camera_form", "Camera"),
    ]

    DEFAULT_CSS = """
    RecordingTab {
        height: 1fr;
        padding: 0 1;
    }
    RecordingTab .form-row {
        height: 1;
        margin-bottom: 1;
    }
    RecordingTab .form-row Label {
        width: auto;
        padding: 0 1 0 0;
    }
    RecordingTab .form-row Input {
        width: 1fr;
        margin-right: 1;
    }
    RecordingTab #rec-mode {
        width: 14;
        margin-right: 1;
    }
    RecordingTab #rec-preset {
        width: 1fr;
        margin-right: 1;
    }
    RecordingTab #rec-duration, RecordingTab #rec-countdown {
        width: 8;
    }
    RecordingTab Checkbox {
        width: auto;
    }
    RecordingTab #rec-middle {
        height: auto;
    }
    RecordingTab #rec-status {
        width: 1fr;
        height: auto;
        padding: 1 1 0 1;
    }
    """

    def __init__(self, settings, *, pool: CameraPool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.pool = pool                    # the app's open cameras; the session borrows its own
        self._state = "idle"
        self.session: Any = None            # the running RecordingSession (set by the worker)
        self.last_result: Any = None
        self.last_error: str = ""
        self._preview_pause = PreviewPause(self)
        self._session_name = ""
        self._exit_requested = False        # the app is quitting: a session that appears now stops at once
        self._stop_requested = False        # ctrl+s before the session existed: it stops at once
        self._elapsed = (0.0, time.monotonic())   # (session's elapsed s, when it said so): the header counts on
        self.name_input = Input(default_session_name(), id="rec-session", compact=True, tooltip="session name")
        self.folder_input = Input(str(settings.data_dir / "recordings"), id="rec-folder", compact=True)
        self.cameras_input = Input(",".join(_default_cameras(settings)), id="rec-cameras", compact=True)
        self.mode_select = Select([("timer", "timer"), ("manual", "manual")], value="timer", allow_blank=False,
                                  id="rec-mode", compact=True)
        self.duration_input = Input("1m", id="rec-duration", compact=True, suggester=timer_suggester(),
                                    tooltip="timer: 1m to 60m in 0.5m steps (the origin's), or any time up to 60m")
        self.countdown_input = Input("0s", id="rec-countdown", compact=True)
        self.preset_select: Select[str] = Select([], prompt="no preset", id="rec-preset", compact=True)
        self.pause_check = Checkbox("pause preview while recording", True, id="rec-pause", compact=True)
        self.timer = RecordingTimer()
        self.status = Static("ctrl+r records; ctrl+s stops.", id="rec-status")
        self.table = RecordingCameraTable(drop_limit_pct=settings.record.max_drop_pct)
        self.preview = TakePreview(ascii=settings.console.ascii_preview)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Label("session")
            yield self.name_input
            yield Label("folder")
            yield self.folder_input
        with Horizontal(classes="form-row"):
            yield Label("cameras")
            yield self.cameras_input
            yield self.mode_select
            yield Label("time")
            yield self.duration_input
            yield Label("countdown")
            yield self.countdown_input
        with Horizontal(classes="form-row"):
            yield Label("preset")
            yield self.preset_select
            yield self.pause_check
        with Horizontal(id="rec-middle"):
            yield self.timer
            yield self.status
        yield self.table
        yield self.preview

    @property
    def state(self) -> str:
        """"idle", "starting", "countdown", "recording" or "stopping"."""
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        changed = value != self._state
        self._state = value
        if changed and self.is_mounted:
            self.app.refresh_bindings()     # the footer shows ctrl+s Stop on every tab while one runs

    def on_mount(self) -> None:
        self.table.set_cameras(_default_cameras(self.settings))
        self.reload_presets()

    def on_unmount(self) -> None:
        # Safety net when the app goes without asking (the quit guard stopped it already):
        # a session still running stops cleanly; the pool waits for its cameras. Not after a
        # hang-up: the session outlives the UI and ends as planned.
        if not getattr(getattr(self.app, "job_host", None), "hung_up", False):
            self._request_stop()

    # ---------------------------------------------------------------- quitting (the app asks)

    def running_jobs(self) -> list[str]:
        """What quitting would stop, one phrase each (none when idle)."""
        if self.state == "idle":
            return []
        what = {"starting": "a recording starting", "countdown": "a recording countdown",
                "stopping": "a recording finishing its files"}.get(self.state, "a recording")
        return [f"{what} (session {self._session_name!r})"]

    def header_badges(self) -> list[str]:
        """The status header's words for this tab's job: REC, the elapsed time and the session."""
        name = self._session_name
        if self.state == "idle":
            return []
        if self.state == "recording":
            elapsed_s, at = self._elapsed
            return [f"REC {clock_text(elapsed_s + time.monotonic() - at)} {name}"]
        if self.state == "countdown":
            return [f"REC in {self.timer.text} {name}"]
        return [f"REC {self.state} {name}"]

    def output_folder(self) -> Path | None:
        """Where the running session writes (None when idle): the header watches its disk."""
        return Path(self.folder_input.value.strip() or ".") if self.state != "idle" else None

    def stop_for_exit(self) -> list[Worker]:
        """Stop the session cleanly (cancel a countdown); returns the workers to wait for."""
        self._request_stop()
        if self.state != "idle":
            self.state = "stopping"
            self.status.update("quitting: finishing the files…")
        return [w for w in self.app.workers if w.node is self and not w.is_finished]

    def _request_stop(self) -> None:
        self._exit_requested = True
        session = self.session
        if session is None:
            return      # not started yet: the worker stops it as soon as it exists
        if self.state == "countdown":
            session.cancel()
        else:
            session.request_stop()


    def focus_target(self):
        """The widget that takes the keyboard when this tab is shown (the app focuses it)."""
        return self.table

    # ---------------------------------------------------------------- the form

    def _request(self, overwrite: bool) -> Any:
        """The RecordingRequest the form describes; raises BadInput/DriverError with the fix."""
        from camdeck.console.cli.bounds import parse_seconds
        from camdeck.console.cli.common import BadInput
        from camdeck.drivers.recording.presets import PresetStore
        from camdeck.drivers.recording.session import RecordingRequest
        from camdeck.drivers.registry import find_spec

        names = [n.strip() for n in self.cameras_input.value.split(",") if n.strip()]
        if not names or len(set(names)) != len(names):
            raise BadInput("cameras: give distinct camera names, comma-separated; fix: e.g. lightroom,darkroom")
        specs = [find_spec(self.pool.specs, n) for n in names]   # the pool's: a resolution chosen in the camera form
        duration_s = None
        if self.mode_select.value == "timer":
            duration_s = parse_seconds(self.duration_input.value, "time", 0.1, 3600.0)
            if duration_s <= 0:
                raise BadInput("time: must be more than 0; fix: e.g. 60s, or choose manual mode")
        countdown_s = parse_seconds(self.countdown_input.value or "0s", "countdown", 0.0, 120.0)
        preset_name = self.selected_preset()
        preset = PresetStore(self.settings.data_dir).load(preset_name) if preset_name else None
        return RecordingRequest(session=self.name_input.value.strip(), folder=Path(self.folder_input.value.strip()),
                                cameras=specs, duration_s=duration_s, countdown_s=countdown_s, preset=preset,
                                overwrite=overwrite, fps=self.settings.record.fps or None,
                                max_drop_pct=self.settings.record.max_drop_pct, format=self.settings.record.format)

    def _set_form_enabled(self, enabled: bool) -> None:
        focused = self.screen.focused if self.is_attached else None
        if not enabled and focused is not None and focused is not self.table and self in focused.ancestors:
            # A disabled field drops the focus, and with it every key of this tab (ctrl+s):
            # hand the keyboard to the table first.
            self.screen.set_focus(self.table)
        for widget in (self.name_input, self.folder_input, self.cameras_input, self.mode_select,
                       self.duration_input, self.countdown_input):
            widget.disabled = not enabled

    # ---------------------------------------------------------------- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only (``camdeck tui --read-only``): no recording, no preset file replaced."""
        if self.settings.console.read_only and action in ("start", "save_preset"):
            return False
        return True

    def action_start(self) -> None:
        if getattr(self.app, "quitting", False) or self.settings.console.read_only:
            return      # stopping the jobs to quit, or read-only: start nothing new
        if self.state != "idle":
            self.notify("a session is already running (ctrl+s stops it)", severity="warning", timeout=3)
            return
        from camdeck.drivers.recording.data_file import SessionPaths, check_session_name

        try:
            request = self._request(overwrite=False)
            check_session_name(request.session)
        except Exception as err:  # bad input: said once, the form stays as typed
            self._show_error(err)
            return
        existing = SessionPaths(request.folder, request.session, len(request.cameras)).existing()
        if existing:
            def answer(replace: bool | None) -> None:
                if replace:
                    try:
                        self._launch(self._request(overwrite=True))
                    except Exception as err:  # the form changed under the dialog: say it once
                        self._show_error(err)
                else:
                    self.status.update(f"kept session {request.session!r}: choose another name to record")

            self.app.push_screen(ConfirmOverwrite(request.session, [p.name for p in existing]), answer)
            return
        self._launch(request)

    def action_stop(self) -> None:
        """ctrl+s (from any tab): stop the session cleanly, or cancel its countdown; a session
        still opening its cameras stops as soon as it exists."""
        if self.state in ("idle", "stopping"):
            return
        counting = self.state in ("starting", "countdown")     # nothing written yet
        self.state = "stopping"
        self._stop_requested = True
        self.status.update("cancelling: nothing is written…" if counting else "stopping: finishing the files…")
        session = self.session
        if session is None:
            return      # still opening the cameras: the worker cancels it as soon as it exists
        if counting:    # cancel(): nothing is written before the start, a clean stop after it
            session.cancel()
        else:
            session.request_stop()

    def action_toggle_preview(self) -> None:
        """v: the preview of both cameras during a take, on or off (it reads the recorder's frames)."""
        on = self.preview.toggle()
        self.notify(f"take preview {'on' if on else 'off'}", timeout=2)

    # ---------------------------------------------------------------- worker failures

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker failure becomes something the operator sees."""
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "recording":
            self._finish()
            self.timer.show_idle("not started")
        self._show_error(event.worker.error)

    def _show_error(self, err: BaseException) -> None:
        text = " ".join((str(err) or type(err).__name__).split())
        self.last_error = text
        self.status.update(f"[b]error:[/b] {escape(text)}")
        self.notify(escape(text), title=type(err).__name__, severity="error", timeout=8)
