"""The Reconstruction tab: live voxel carving from the stereo rig, drawn as ASCII slices.

The job (fastcore.live.LiveReconstruction fed by drivers.reconstruction_source) runs in a
thread worker (the workers and their messages: console/tui/tabs/reconstruction_job.py). Its
progress callback (console/tui/live_pictures.py), on the job's thread, keeps at most
``preview_fps`` pictures a second: it copies the grid into the tab's one ``GridSnapshot`` (the
same buffer every time), renders the slice the operator asked for, and posts one
``SlicePicture`` (``can_replace``: a slow link drops stale pictures; a picture carries rows,
never a grid). Keys re-render the snapshot in a small worker; saving writes it in another.
Widgets never touch a driver. The job borrows the pair from the app's CameraPool only while
it runs (r): the tab may sit shown for hours, and the Cameras tab previews those cameras the
rest of the time. A camera busy elsewhere (a recording) is refused with the holder's name.

Keys (in the footer): r start/stop, [ ] move the slice ({ } by an eighth), x y z the axis,
m slice/max projection, s save the grid (.npy and .bin in DATA_DIR/reconstruction/),
- + the grid size (while stopped).

Quitting while the job runs: the app asks first (``running_jobs``), then ``stop_for_exit``
stops the job as r would and the app waits for the worker (the pair goes back to the pool);
unmounting asks the same stop (a safety net).
"""
from __future__ import annotations

from rich.markup import escape   # error text is shown verbatim: 'camdeck[fleet]' is not markup
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from camdeck.console.tui.camera_pool import CameraPool
from camdeck.console.tui.live_pictures import GridSnapshot
from camdeck.console.tui.tabs.cameras import PreviewPause
from camdeck.console.tui.tabs.reconstruction_job import (
    EXTENT_M, GridSaved, JobNews, ReconstructionWorkers, SlicePicture,
)
from camdeck.console.tui.widgets.reconstruction_slice import SlicePanel, SliceView
from camdeck.console.tui.widgets.reconstruction_stats import LiveFigures, ReconstructionStats

GRID_SIZES = (32, 48, 64, 96, 128, 192, 256)
DEFAULT_GRID = 64              # a preview is at most ~60 x 30 cells; + raises it for saving
_SLICE = Binding.Group("Slice", compact=True)
_AXIS = Binding.Group("Axis", compact=True)
_GRID = Binding.Group("Grid", compact=True)


def stereo_rig(settings) -> Any:
    """The rig to reconstruct from: asi-stereo if configured, else the first stereo rig, else None."""
    rigs = [r for r in settings.rigs.values() if r.type == "stereo"]
    return next((r for r in rigs if r.name == "asi-stereo"), rigs[0] if rigs else None)


class ReconstructionTab(ReconstructionWorkers, Vertical):
    """Slice panel and figures; the live job and every file write run in workers."""

    BINDINGS = [
        Binding("r", "start", "Start", tooltip="start the live reconstruction (opens the stereo pair)"),
        Binding("r", "stop", "Stop", tooltip="stop it (the last grid stays, to look at and save)"),
        Binding("left_square_bracket", "move(-1)", "Slice", key_display="[", group=_SLICE,
                tooltip="previous / next slice"),
        Binding("right_square_bracket", "move(1)", "Slice", key_display="]", group=_SLICE,
                tooltip="previous / next slice"),
        Binding("left_curly_bracket", "move(-8)", "Slice -1/8", key_display="{", show=False,
                tooltip="move the slice an eighth of the grid back / on"),
        Binding("right_curly_bracket", "move(8)", "Slice +1/8", key_display="}", show=False,
                tooltip="move the slice an eighth of the grid back / on"),
        Binding("x", "axis('x')", "Axis", group=_AXIS, tooltip="slice across x, y or z"),
        Binding("y", "axis('y')", "Axis", group=_AXIS, tooltip="slice across x, y or z"),
        Binding("z", "axis('z')", "Axis", group=_AXIS, tooltip="slice across x, y or z"),
        Binding("m", "toggle_max", "Max", tooltip="one slice / maximum projection along the axis"),
        Binding("s", "save", "Save", tooltip="save the grid (.npy and .bin) in DATA_DIR/reconstruction/"),
        Binding("minus", "grid(-1)", "Grid", key_display="-", group=_GRID, show=False,
                tooltip="smaller / bigger grid (while stopped)"),
        Binding("plus,equals_sign", "grid(1)", "Grid", key_display="+", group=_GRID, show=False,
                tooltip="smaller / bigger grid (while stopped)"),
    ]

    DEFAULT_CSS = """
    ReconstructionTab {
        height: 1fr;
    }
    ReconstructionTab > Horizontal {
        height: 1fr;
    }
    ReconstructionTab #recon-side {
        width: 30;
        height: 1fr;
    }
    ReconstructionTab #recon-status {
        width: 100%;
        height: auto;
        padding: 1 1 0 1;
        color: $text-muted;
    }
    """

    def __init__(self, settings, *, pool: CameraPool, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.pool = pool                         # the app's open cameras; the job borrows the pair
        self.rig = stereo_rig(settings)
        self._state = "idle"
        self.grid_size = DEFAULT_GRID            # N of the next run
        self.view = SliceView(index=DEFAULT_GRID // 2)
        self.snapshot = GridSnapshot()           # the one copy of the job's grid the tab keeps
        self.shown_version = 0                   # the snapshot version of the picture shown
        self.figures: LiveFigures | None = None
        self.voxel_size = EXTENT_M / DEFAULT_GRID
        self.grid_center: tuple = (0.0, 0.0, 0.0)
        self.saved: list[Path] = []
        self.last_error = ""
        self._job: Any = None
        self.source: Any = None                  # the running StereoSource (set by the worker)
        self._stop_asked = False
        self._preview_pause = PreviewPause(self)
        hint = "r starts the live reconstruction" if self.rig else "no stereo rig in the config"
        self.panel = SlicePanel(hint, id="recon-slice")
        self.stats = ReconstructionStats(id="recon-stats")
        self.status = Static(Text(self._idle_hint()), id="recon-status")

    @property
    def grid(self) -> np.ndarray | None:
        """The grid the tab keeps (the snapshot's buffer; None before the first picture)."""
        return self.snapshot.grid

    @property
    def state(self) -> str:
        """"idle", "opening" (the pair), "running" or "stopping"."""
        return self._state

    @state.setter
    def state(self, value: str) -> None:
        self._state = value
        if self.is_mounted:
            self.refresh_bindings()   # the footer shows "r Start" or "r Stop"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "save" and self.settings.console.read_only:
            return False    # read-only (camdeck tui --read-only): no files written
        if action == "start":
            return self.state == "idle"
        if action == "stop":   # while stopping: shown, dimmed
            return True if self.state in ("opening", "running") else (None if self.state == "stopping" else False)
        return True

    def _idle_hint(self) -> str:
        if self.rig is None:
            return "add a [rigs.NAME] table with type = \"stereo\" to reconstruct"
        return "r starts; - + change the grid size; ? lists every key."

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self.panel
            with Vertical(id="recon-side"):
                yield self.stats
                yield self.status

    def on_mount(self) -> None:
        self._show_stats()


    def focus_target(self):
        """The widget that takes the keyboard when this tab is shown (the app focuses it)."""
        return self.panel

    def on_unmount(self) -> None:
        if getattr(getattr(self.app, "job_host", None), "hung_up", False):
            return      # the terminal hung up: the job outlives the UI until `camdeck jobs stop`
        self._stop_asked = True         # also a job still opening the pair
        if self._job is not None:
            self._job.stop()

    # ---------------------------------------------------------------- quitting (the app asks)

    def running_jobs(self) -> list[str]:
        """What quitting would stop, one phrase each (none when idle)."""
        if self.state == "idle":
            return []
        rig = self.rig.name if self.rig else "?"
        return [f"the live reconstruction ({rig}{', stopping' if self.state == 'stopping' else ''})"]

    def header_badges(self) -> list[str]:
        """The status header's words for the live job (none when idle)."""
        if self.state == "idle":
            return []
        if self.state == "running" and self.figures is not None:
            return [f"RECON {self.figures.fps:.1f} fps"]
        return [f"RECON {self.state}"]

    def stop_for_exit(self) -> list[Worker]:
        """Stop the job (as r would); returns the workers to wait for."""
        self.action_stop()
        self._stop_asked = True
        if self._job is not None:
            self._job.stop()
        return [w for w in self.app.workers if w.node is self and not w.is_finished]

    # ---------------------------------------------------------------- what is shown

    def _shown_n(self) -> int:
        return self.grid.shape[0] if self.grid is not None else self.grid_size

    def _show_stats(self) -> None:
        n = self._shown_n()
        self.stats.show(rig=self.rig.name if self.rig else "(none)", state=self.state, grid_size=self.grid_size,
                        extent_m=EXTENT_M, view=f"{self.view.title(n)}", figures=self.figures,
                        saved=self.saved[0].stem if self.saved else "")

    def _show_error(self, err: BaseException) -> None:
        text = " ".join((str(err) or type(err).__name__).split())
        self.last_error = text
        self.status.update(Text.assemble(("error: ", "bold red"), text))
        self.notify(escape(text), title=type(err).__name__, severity="error", timeout=8)

    def _set_view(self, view: SliceView) -> None:
        """Change what is drawn; the job draws it next frame, and a stopped grid is redrawn now."""
        if view == self.view:
            return
        self.view = view
        self._show_stats()
        if self.grid is not None:   # redraw now: the job may carve slower than keys are pressed
            self._redraw(view)

    # ---------------------------------------------------------------- keys

    def action_stop(self) -> None:
        if self.state not in ("opening", "running"):
            return
        self.state = "stopping"
        self._stop_asked = True
        if self._job is not None:
            self._job.stop()
        self.status.update(Text("stopping…"))
        self._show_stats()

    def action_start(self) -> None:
        if self.state != "idle" or getattr(self.app, "quitting", False):
            return
        if self.rig is None:
            self.notify(self._idle_hint(), severity="warning", timeout=5)
            return
        self.state = "opening"
        self._stop_asked = False
        self.last_error = ""
        self.figures = None
        if self.grid is not None and self.grid.shape[0] != self.grid_size:
            self.view = replace(self.view, index=self.view.index * self.grid_size // self.grid.shape[0])
        self.status.update(Text(f"opening {', '.join(self.rig.cameras)}…"))
        self._show_stats()
        self._preview_pause.hold()
        self._carve(self.rig, self.grid_size)

    def action_move(self, step: int) -> None:
        n = self._shown_n()
        if abs(step) > 1:
            step = (1 if step > 0 else -1) * max(1, n // 8)
        # From a projection, a move key goes back to the slice it was on, then moves it.
        self._set_view(replace(self.view, mode="slice", index=min(n - 1, max(0, self.view.index + step))))

    def action_axis(self, axis: str) -> None:
        self._set_view(replace(self.view, axis=axis))

    def action_toggle_max(self) -> None:
        self._set_view(replace(self.view, mode="slice" if self.view.mode == "max" else "max"))

    def action_grid(self, step: int) -> None:
        if self.state != "idle":
            self.notify("stop the reconstruction (r) to change the grid size", severity="warning", timeout=3)
            return
        i = GRID_SIZES.index(self.grid_size) if self.grid_size in GRID_SIZES else GRID_SIZES.index(DEFAULT_GRID)
        old, self.grid_size = self.grid_size, GRID_SIZES[min(len(GRID_SIZES) - 1, max(0, i + step))]
        if self.grid is None:   # keep the slice where it was, in proportion (the middle stays the middle)
            self.view = replace(self.view, index=self.view.index * self.grid_size // old)
        self._show_stats()

    def action_save(self) -> None:
        if self.settings.console.read_only:
            return
        if self.grid is None:
            self.notify("nothing carved yet: r starts the reconstruction", severity="warning", timeout=3)
            return
        self._save_grid(self.voxel_size, self.grid_center)

    # ---------------------------------------------------------------- messages

    def on_slice_picture(self, message: SlicePicture) -> None:
        if isinstance(message.source, Worker) and message.source.is_cancelled:
            return
        if message.fresh:
            self.shown_version = message.version
            self.figures = message.figures
        elif message.version < self.shown_version:
            return   # a redraw of a grid that a newer one has replaced
        n = message.n
        self.panel.show_rows(message.rows, message.view.title(n))
        self.panel.border_subtitle = f"{message.view.mode} · {n}³"
        self._show_stats()

    def on_job_news(self, message: JobNews) -> None:
        if message.kind == "started":
            self.voxel_size, self.grid_center = message.voxel_size, message.grid_center
            if self.state == "opening":
                self.state = "running"
                self.status.update(Text("carving: r stops, s saves"))
        elif message.figures is not None:
            f = message.figures
            self.status.update(Text(f"stopped after {f.frame} frames ({f.fps:.1f} fps, mean latency "
                                    f"{f.latency_ms:.0f} ms); s saves the last grid"))
        self._show_stats()

    def on_grid_saved(self, message: GridSaved) -> None:
        self.saved = message.paths
        first = message.paths[0]
        self.status.update(Text(f"saved {first.stem} (.npy, .bin) in {first.parent}"))
        self._show_stats()

    def on_slice_panel_resized(self, message: SlicePanel.Resized) -> None:
        self.view = replace(self.view, cols=message.cols, rows=message.rows)
        if self.grid is not None:
            self._redraw(self.view)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place the job's end is handled and a worker failure becomes something the
        operator sees (once: the status line and one notification)."""
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "reconstruction" and self.state != "idle":
            self.state = "idle"
            self._preview_pause.release()
            self._show_stats()
            if event.state == WorkerState.SUCCESS and self.grid is None:
                self.status.update(Text("stopped before the first grid; r starts again"))
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "reconstruction" and self.grid is None:
            self.panel.show_message("no grid: the reconstruction stopped (the error is beside)")
        self._show_error(event.worker.error)
