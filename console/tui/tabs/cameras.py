"""The Cameras tab: every configured camera, a live preview of one, and its controls.

Threads: drivers are blocking, so every driver call runs in a thread worker (the probe, the
stream and the controls workers: console/tui/tabs/camera_workers.py). Workers never touch
widgets; they post ``CameraStatus``, ``CameraControls`` and ``PreviewFrame`` messages, which
this module handles. One ``on_worker_state_changed`` turns every worker failure into one
visible error.

The cameras belong to the app's CameraPool (console/tui/camera_pool.py): every driver call
runs inside ``pool.use(name)``. While another tab borrows a camera (a recording, say) its
row and the preview say "in use by ..."; the preview resumes when the camera comes back.

Keys: e/E g/G exposure and gain, c the controls form, p pause, a ASCII, ``/`` filters the
table (console/tui/widgets/table_filter.py), j/k move in it. What the keys do is in
console/tui/tabs/camera_keys.py.

The preview plumbing the workers use (frame analysis, rate meter, control and error mapping)
lives in console/tui/tabs/preview.py; ``PreviewPause`` here lets other tabs pause this tab's
preview while their jobs read the cameras.
"""
from __future__ import annotations

from rich.markup import escape   # error text is shown verbatim: 'camdeck[fleet]' is not markup
import threading
from dataclasses import replace
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.worker import Worker, WorkerState

from camdeck.console.tui.camera_pool import CameraInUse, CameraPool
from camdeck.console.tui.tabs.camera_keys import CameraKeys
from camdeck.console.tui.tabs.camera_workers import CameraWorkers
from camdeck.console.tui.messages import CameraControls, CameraState, CameraStatus, ControlField, PreviewFrame
from camdeck.console.tui.tabs.preview import PreviewRequest, _stale, error_state
from camdeck.console.tui.widgets.camera_panel import CameraPanel
from camdeck.console.tui.widgets.camera_table import CameraTable
from camdeck.console.tui.widgets.preview import PreviewView
from camdeck.console.tui.widgets.table_filter import TableFilter
from camdeck.drivers.errors import DriverError, NotSupported

METER_EVERY_S = 1.0           # link meter refresh period (and the side panel's on a thin link)


class CamerasLent(Message):
    """The pool lent ``names`` to ``holder``, or got them back (``holder`` None)."""

    def __init__(self, names: tuple[str, ...], holder: str | None) -> None:
        super().__init__()
        self.names, self.holder = names, holder


class CamerasTab(CameraKeys, CameraWorkers, Vertical):
    """The camera table on top; the preview and the camera panel below."""

    BINDINGS = [
        Binding("e", "exposure(-1)", "Exp-", show=False),
        Binding("E", "exposure(1)", "Exp+", show=False),
        Binding("g", "gain(-1)", "Gain-", show=False),
        Binding("G", "gain(1)", "Gain+", show=False),
        Binding("c", "edit_controls", "Controls"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("a", "toggle_ascii", "ASCII"),
        Binding("slash", "filter", "Filter", key_display="/",
                tooltip="filter the table as you type; enter keeps the filter, esc clears it"),
        Binding("m", "cycle_quality", "Quality", show=False),
        Binding("minus", "preview_fps(-1)", "Fps-", show=False),
        Binding("plus,equals_sign", "preview_fps(1)", "Fps+", show=False),
    ]

    def __init__(self, settings, *, pool: CameraPool, live: bool = True, frame_limit: int | None = None,
                 preview_fps: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.live = live
        self.frame_limit = frame_limit if frame_limit is not None else (None if live else 1)
        self.pool = pool
        self.request = PreviewRequest(40, 12, settings.console.ascii_preview,
                                      preview_fps or settings.console.preview_fps)
        self.paused = False
        self.active = True
        self.current: str | None = None
        self._fields: dict[str, tuple[ControlField | None, ControlField | None]] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        self._pending_lock = threading.Lock()
        self._worker_cameras: dict[Worker, str] = {}
        self._streams: dict[str, Worker] = {}    # camera -> the stream worker that started it (under its lock)
        self._stream_worker: Worker | None = None
        self._select_timer = None
        self._probe_started = False
        self._stream_started = False
        self.table = CameraTable([self._initial_state(name, spec) for name, spec in settings.cameras.items()])
        self.filter = TableFilter(self.table, id="camera-filter")
        self.preview = PreviewView()       # the link meter is in the status header, shown once
        self._pending_frame: PreviewFrame | None = None   # the newest frame, waiting for the link
        self._panel_stats = None      # the newest frame's aids, for the panel on a thin link
        self._panel_state = None      # and the newest streaming state
        self.panel = CameraPanel(ascii=self.request.ascii)

    @staticmethod
    def _initial_state(name: str, spec: Any) -> CameraState:
        return CameraState(name=name, driver=spec.driver, model=spec.model, state="closed")


    def focus_target(self):
        """The widget that takes the keyboard when this tab is shown (the app focuses it)."""
        return self.table

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.filter
        with Horizontal(id="camera-view"):
            yield self.preview
            yield self.panel

    def on_mount(self) -> None:
        self.table.focus()
        link = self.app.link_monitor
        link.add_listener(self._on_link)
        self._on_link()
        self.set_interval(METER_EVERY_S, self._show_meter)
        self.pool.add_listener(lambda names, holder: self.post_message(CamerasLent(names, holder)))
        if not self.settings.cameras:
            self.preview.show_message("no cameras in the config; add a [cameras.NAME] table")

    def _start_probe(self) -> None:
        """Probe the other cameras once the first preview is up (or failed): on a small
        machine, opening every camera at start would delay the first frame."""
        if not self._probe_started:
            self._probe_started = True
            self._probe()

    def on_unmount(self) -> None:
        self.workers.cancel_node(self)   # the app closes the pool once every tab is gone

    # ---------------------------------------------------------------- selection

    def on_data_table_row_highlighted(self, event: CameraTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name == self.current:
            return
        self.current = name
        spec = self.settings.cameras[name]
        self.panel.select(self.table.state_of(name), spec.label)
        self.preview.show_message(f"{name}: opening…")
        if self._select_timer is not None:
            self._select_timer.stop()
        if self.live and self._stream_started:
            # Scrolling through the table should not start and stop every camera on the way.
            self._select_timer = self.set_timer(0.15, self._restart_stream)
        else:
            self.call_later(self._restart_stream)

    def set_active(self, active: bool) -> None:
        """Called by the app when the tab is shown or hidden: a hidden preview costs nothing."""
        if active == self.active:
            return
        self.active = active
        self._restart_stream()

    def _restart_stream(self) -> None:
        self._select_timer = None
        name = self.current
        if name is None:
            return
        if self.paused or not self.active:
            self.workers.cancel_group(self, "stream")
            if self.paused:
                self.preview.show_message(f"{name}: preview paused (p resumes)")
            return
        self._stream_started = True
        worker = self._stream_worker = self._stream(name, self.request)
        self._worker_cameras[worker] = name

    # ---------------------------------------------------------------- messages from workers

    def on_camera_status(self, message: CameraStatus) -> None:
        if _stale(message.source):
            return
        if message.probe:
            old = self.table.state_of(message.status.name)
            if old is not None and old.state != "closed":
                return  # the stream reported first; its state is the live one
        self._show_state(message.status)

    def on_camera_controls(self, message: CameraControls) -> None:
        self._fields[message.camera] = (message.exposure, message.gain)

    def on_preview_frame(self, message: PreviewFrame) -> None:
        if _stale(message.source):
            return
        if message.status is not None:
            self._show_state(message.status)
        self._start_probe()
        if message.camera != self.current:
            return
        if self._pending_frame is not None:
            self.app.link_monitor.frame_skipped()
        self._pending_frame = message
        self._show_pending()

    def _show_pending(self) -> None:
        """Show the newest frame if the terminal has taken the previous one; else keep it for later.

        A frame never queues behind the link: while the link drains, newer frames replace it.
        """
        message, link = self._pending_frame, self.app.link_monitor
        if message is None or not link.ready():
            return
        self._pending_frame = None
        if _stale(message.source) or message.camera != self.current:
            return
        cells = message.cells
        link.frame_shown(full=cells.dirty is None or cells.base != getattr(self.preview.cells, "serial", -1),
                         cells=cells.area[0] * cells.area[1])
        self.preview.show_cells(cells)
        self.request.shown = self.preview.cells
        # The panel is redrawn whole (about 2 KB): with every frame on a good link; on a thin one
        # (the preview below its top level) once a second from the meter's timer, in a round
        # of its own, so a frame's measured cost is the frame's.
        if link.at_top:
            self.panel.update_stats(message.stats)
        else:
            self._panel_stats = message.stats

    def _on_link(self) -> None:
        """The link drained (show the waiting frame) or the preview level changed (ask the worker for it)."""
        level = self.app.link_monitor.level
        request = self.request
        if (request.fps, request.depth, request.scale) != (level.fps, level.depth, level.scale):
            request.fps, request.depth, request.scale = level.fps, level.depth, level.scale
            self.panel.ascii = request.ascii
            self._show_meter()
        self._show_pending()

    def _show_meter(self) -> None:
        from camdeck.console.tui.widgets.status_header import StatusHeader

        for header in self.app.query(StatusHeader):   # the meter is shown there, once, on every tab
            header.refresh_line()
        state, stats = self._panel_state, self._panel_stats
        self._panel_state = self._panel_stats = None
        if state is not None:
            self.panel.update_state(state)
        if stats is not None:
            self.panel.update_stats(stats)

    def _show_state(self, status: CameraState) -> None:
        self.table.update_state(status)
        if self.app.link_monitor.at_top or status.state != "streaming":
            self.panel.update_state(status)
        else:
            self._panel_state = status   # a thin link: with the panel's once-a-second redraw

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures become something the operator sees."""
        worker = event.worker
        if event.state not in (WorkerState.ERROR, WorkerState.SUCCESS, WorkerState.CANCELLED):
            return
        name = self._worker_cameras.pop(worker, None)
        if worker.group == "stream":
            self._start_probe()
        if event.state == WorkerState.CANCELLED and name is not None:
            old = self.table.state_of(name)
            if old is not None and old.state in ("streaming", "timeout"):
                idle = "paused" if self.paused and name == self.current else "ready"
                self._show_state(replace(old, state=idle, fps=None))
        if event.state != WorkerState.ERROR:
            return
        err = worker.error
        if name is not None:
            spec = self.settings.cameras[name]
            old = self.table.state_of(name)
            state = error_state(err) if isinstance(err, DriverError) else "error"
            self._show_state(CameraState(name, spec.driver, spec.model, state,
                                         dropped=old.dropped if old else None, detail=str(err)))
            if name == self.current:
                self.preview.show_message(f"{name}: {state}\n{err}")
        if isinstance(err, (NotSupported, CameraInUse)):
            return  # expected states (a PTZ camera before its issue, a recording); the row and preview say so
        title = name or worker.group
        self.notify(escape(str(err) or type(err).__name__), title=f"{title}: {type(err).__name__}",
                    severity="error", timeout=8)

    def on_cameras_lent(self, message: CamerasLent) -> None:
        """Another tab borrowed cameras (stop previewing them), or gave them back (resume)."""
        for name in message.names:
            old = self.table.state_of(name)
            if old is None:
                continue
            if message.holder is not None:
                self._show_state(replace(old, state="in use", fps=None, detail=f"lent to {message.holder}"))
            elif old.state == "in use":
                self._show_state(replace(old, state="ready", detail=""))
        if self.current not in message.names:
            return
        if message.holder is not None:
            self.workers.cancel_group(self, "stream")
            self.preview.show_message(f"{self.current}: in use by {message.holder}\n"
                                      "the preview resumes when it is done")
        elif self._stream_worker is None or self._stream_worker.is_finished or self._stream_worker.is_cancelled:
            self._restart_stream()

    def on_preview_view_resized(self, event: PreviewView.Resized) -> None:
        self.request.cols, self.request.rows = event.cols, event.rows
        self.request.shown = self.preview.cells


class PreviewPause:
    """Pauses the Cameras tab's live preview while another tab's job reads the cameras, and
    on release resumes only a preview it paused (not one the operator paused meanwhile).

    Args:
        owner: any widget of the app (the tab that runs the job).
    """

    def __init__(self, owner) -> None:
        self._owner = owner
        self._paused: list[CamerasTab] = []

    def hold(self) -> None:
        self._paused = [tab for tab in self._owner.app.query(CamerasTab) if not tab.paused]
        for tab in self._paused:
            tab.action_toggle_pause()

    def release(self) -> None:
        for tab in self._paused:
            if tab.paused:
                tab.action_toggle_pause()
        self._paused = []
