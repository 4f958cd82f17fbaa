"""The Reconstruction tab's thread workers and the messages they post: the live job, the
redraw of the kept grid after a key, and the save.

``ReconstructionWorkers`` is a mixin of ``ReconstructionTab`` (console/tui/tabs/reconstruction.py),
which holds the state these use: the settings, the pool, the ``GridSnapshot``, the view and the
stop flag. It lives apart because it is the tab's thread side: ``_carve`` borrows the stereo pair
from the CameraPool, runs ``fastcore.live.LiveReconstruction`` on
``drivers.reconstruction_source`` and registers it as a job; its progress callback
(console/tui/live_pictures.py) posts ``SlicePicture`` messages; ``_redraw`` re-renders the
snapshot and ``_save_grid`` writes it. None of them touches a widget: the tab handles
``SlicePicture``, ``JobNews`` and ``GridSaved`` on the UI thread.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from camdeck.console.tui.camera_pool import lent_opener
from camdeck.console.tui.live_pictures import LivePictures
from camdeck.console.tui.widgets.reconstruction_slice import SliceView, render_view
from camdeck.console.tui.widgets.reconstruction_stats import LiveFigures

EXTENT_M = 1.0                 # edge of the grid cube (camdeck reconstruct --extent-m)
THRESHOLD = 72                 # background gray level (camdeck reconstruct --threshold)


class SlicePicture(Message):
    """A rendered picture of a grid; a newer one replaces an older one still queued.

    version: the GridSnapshot version it was rendered from; fresh: a new grid from the job
    (else a redraw of the snapshot, after a key); n: the grid's edge; figures: the job's
    numbers (fresh only); source: the worker that sent it.
    """

    def __init__(self, rows: list[str], view: SliceView, version: int, n: int, fresh: bool,
                 figures: LiveFigures | None = None, source: Any = None) -> None:
        super().__init__()
        self.rows, self.view, self.version, self.n, self.fresh, self.figures, self.source = (
            rows, view, version, n, fresh, figures, source)

    def can_replace(self, message: Message) -> bool:
        # A redraw never drops a fresh picture still queued: its figures would be lost.
        return isinstance(message, SlicePicture) and (self.fresh or not message.fresh)


class JobNews(Message):
    """The job opened the rig ("started", with its grid geometry) or ended ("finished")."""

    def __init__(self, kind: str, rig: str, *, voxel_size: float = 0.0, grid_center: tuple = (),
                 figures: LiveFigures | None = None) -> None:
        super().__init__()
        self.kind, self.rig, self.voxel_size, self.grid_center, self.figures = (
            kind, rig, voxel_size, grid_center, figures)


class GridSaved(Message):
    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self.paths = paths


class ReconstructionWorkers:
    """The Reconstruction tab's thread workers (see the module doc)."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="reconstruction")
    def _carve(self, rig: Any, grid_size: int) -> None:
        """Borrow the pair, carve until stopped, posting at most preview_fps pictures a second."""
        from camdeck.drivers.reconstruction_source import open_stereo_source
        from camdeck.fastcore.live import LiveReconstruction, ReconstructionSettings

        worker = get_current_worker()
        host = getattr(self.app, "job_host", None)      # registers the job; says whether the terminal hung up
        period_s = 1.0 / max(0.1, float(self.settings.console.preview_fps))
        with self.pool.borrow(rig.cameras, by="reconstruction") as cams, \
                open_stereo_source(rig, self.settings.cameras, self.pool.ctx, open_camera=lent_opener(cams)) as source:
            center = tuple(float(c) for c in source.geometry.grid_center)
            job_settings = ReconstructionSettings(grid_size=grid_size, voxel_size=EXTENT_M / grid_size,
                                                  grid_center=center, bayer=source.bayer, threshold=THRESHOLD)

            def send(rows: list[str], view: SliceView, version: int, event: Any) -> None:
                figures = LiveFigures(event.frame, event.fps, event.latency_ms, event.carve_ms,
                                      event.occupied_fraction)
                self.post_message(SlicePicture(rows, view, version, grid_size, True, figures, worker))

            # self.view is read once per picture: the UI thread replaces it whole.
            pictures = LivePictures(self.snapshot, period_s, lambda: self.view, send)

            def progress(event: Any) -> None:
                if (worker.is_cancelled and not (host is not None and host.hung_up)) or self._stop_asked:
                    job.stop()
                pictures(event)

            job = LiveReconstruction(job_settings, progress=progress)
            self._job, self.source = job, source
            if self._stop_asked:
                return
            self.post_message(JobNews("started", rig.name, voxel_size=job_settings.voxel_size, grid_center=center))
            record = host.start("reconstruct", f"rig {rig.name}, grid {grid_size}", stop=lambda reason: job.stop(),
                                plan="until stopped", outputs=[Path(self.settings.data_dir) / "reconstruction"]) \
                if host is not None else None
            try:
                summary = job.run(source)
            except BaseException as err:
                if host is not None:
                    host.end(record, "failed", " ".join((str(err) or type(err).__name__).split()))
                raise
            finally:
                self._job = self.source = None
            if host is not None:
                host.end(record, "stopped", f"{summary.frames} frames carved")
        self.post_message(JobNews("finished", rig.name, figures=LiveFigures(
            summary.frames, summary.fps, summary.mean_latency_ms)))

    @work(thread=True, exclusive=True, exit_on_error=False, group="render")
    def _redraw(self, view: SliceView) -> None:
        with self.snapshot.hold() as grid:
            if grid is None:
                return
            rows, version, n = render_view(grid, view), self.snapshot.version, grid.shape[0]
        self.post_message(SlicePicture(rows, view, version, n, False))

    @work(thread=True, exit_on_error=False, group="save")
    def _save_grid(self, voxel_size: float, grid_center: tuple) -> None:
        """Save the snapshot; a running job skips its pictures meanwhile (it never waits)."""
        from camdeck.fastcore.grid_io import save_grid

        folder = Path(self.settings.data_dir) / "reconstruction"
        folder.mkdir(parents=True, exist_ok=True)
        with self.snapshot.hold() as grid:
            stem = f"grid-{datetime.now():%Y%m%d-%H%M%S}-{self.snapshot.frame:06d}"
            paths = [save_grid(folder / f"{stem}.npy", grid),
                     save_grid(folder / f"{stem}.bin", grid, voxel_size, grid_center)]
        self.post_message(GridSaved(paths))
