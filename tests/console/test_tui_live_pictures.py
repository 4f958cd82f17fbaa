"""What the Reconstruction tab keeps of a live job: one grid copy, however many pictures (issue 12).

The real job carves the real simulated stereo pair (small frames); LivePictures is the
tab's own progress callback. tracemalloc counts what is allocated and still held after each
picture: numpy reports its buffers to it.
"""
from __future__ import annotations

import tracemalloc

import numpy as np

from camdeck.console.tui.live_pictures import GridSnapshot, LivePictures
from camdeck.console.tui.tabs.reconstruction_job import EXTENT_M, THRESHOLD
from camdeck.console.tui.widgets.reconstruction_slice import SliceView
from camdeck.drivers.reconstruction_source import open_stereo_source
from camdeck.fastcore.live import LiveReconstruction, ReconstructionSettings
from tests.console.test_tui_reconstruction import settings  # noqa: F401  (the small stereo rig's fixture)

N = 64
GRID_BYTES = 4 * N ** 3


def run_job(settings, period_s: float, frames: int, on_picture=None):
    """Carve ``frames`` pairs with LivePictures as the progress callback; every picture is kept
    (a queue that never drains: the worst case). Returns (pictures, snapshot, summary, held),
    held: bytes allocated since before the job and still held, after each picture."""
    rig = settings.rigs["asi-stereo"]
    snapshot, pictures, held = GridSnapshot(), [], []

    def send(rows, view, version, event):
        pictures.append((rows, view, version, event.frame))
        held.append(tracemalloc.get_traced_memory()[0] - base)
        if on_picture is not None:
            on_picture(snapshot)

    with open_stereo_source(rig, settings.cameras, settings.driver_context(None)) as source:
        job_settings = ReconstructionSettings(
            grid_size=N, voxel_size=EXTENT_M / N, grid_center=tuple(source.geometry.grid_center),
            bayer=source.bayer, threshold=THRESHOLD, max_frames=frames)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            job = LiveReconstruction(job_settings, LivePictures(snapshot, period_s, lambda: SliceView(index=N // 2),
                                                                send))
            summary = job.run(source)
        finally:
            tracemalloc.stop()
    return pictures, snapshot, summary, held


def test_every_picture_reuses_one_grid_copy(settings):
    buffers = set()
    pictures, snapshot, summary, held = run_job(settings, 0.0, 8, lambda snap: buffers.add(id(snap.grid)))
    assert len(pictures) == 8 and [p[2] for p in pictures] == list(range(1, 9))
    assert len(buffers) == 1                                    # the same buffer every time
    assert np.array_equal(snapshot.grid, summary.grid) and snapshot.grid.max() > 0
    assert snapshot.frame == 8 and any(c != " " for c in "".join(pictures[-1][0]))
    # The job's two grids and the tab's one copy; a copy per picture held eight more.
    assert max(held) <= 3 * GRID_BYTES + 256 * 1024, [round(b / 2 ** 20, 2) for b in held]


def test_a_slow_rate_still_shows_the_last_grid(settings):
    pictures, snapshot, summary, _ = run_job(settings, 1e9, 5)
    assert [p[3] for p in pictures] == [1, 5]                   # the first frame, then the last at the end
    assert np.array_equal(snapshot.grid, summary.grid)


def test_the_job_never_waits_for_a_reader():
    snap = GridSnapshot()
    first = np.full((4, 4, 4), 1.0, np.float32)
    assert snap.take(first, 1) == 1 and snap.grid is not first
    buffer = snap.grid
    with snap.hold() as held:
        assert held is buffer
        assert snap.take(np.zeros((4, 4, 4), np.float32), 2) is None    # a save holds it: skipped
    assert snap.version == 1 and snap.frame == 1 and held.max() == 1.0
    assert snap.take(np.zeros((4, 4, 4), np.float32), 3) == 2 and snap.grid is buffer and not buffer.any()
    assert snap.take(np.ones((8, 8, 8), np.float32), 4) == 3 and snap.grid.shape == (8, 8, 8)
