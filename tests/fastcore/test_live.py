"""The live reconstruction job: frames from any source, events, fusion, saving, stopping."""
from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from camdeck.fastcore import load_grid
from camdeck.fastcore.errors import CarveInputError
from camdeck.fastcore.live import LiveReconstruction, LiveSample, ReconstructionSettings, prepare_view

from camdeck.drivers.sim import placement
from camdeck.drivers.sim import scene as scene_mod
CENTER = tuple(scene_mod.LAB_CENTER)
N = 40


class FakeClock:
    """Advances 0.1 s each time it is read: the job runs faster than real time."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.1
        return self.now


@pytest.fixture(scope="module")
def stereo_sample():
    """The stereo rig's two renders (960x540) as 8-bit BGR frames, at the true poses."""
    scene = scene_mod.lab_scene()
    size = (960, 540)
    K = scene_mod.intrinsics_from_hfov(60, size)
    poses = placement.stereo_poses(100.0)
    frames = [(np.clip(scene.render(K, R, t, size).rgb[..., ::-1], 0, 1) * 255).astype(np.uint8)
              for R, t in poses]
    truth = scene.occupancy(N, 1.0 / N, CENTER)
    return LiveSample(frames, K, np.array([p[0] for p in poses]), np.array([p[1] for p in poses]), 0), truth


def settings(**over):
    base = dict(grid_size=N, voxel_size=1.0 / N, grid_center=CENTER, bayer=None, threshold=72)
    return ReconstructionSettings(**{**base, **over})


def test_live_job_carves_the_objects_and_reports_events(stereo_sample, tmp_path):
    sample, truth = stereo_sample
    events = []
    job = LiveReconstruction(settings(save_every_s=0.25, out_dir=tmp_path), events.append, FakeClock())
    summary = job.run(itertools.repeat(sample, 4))
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("frame") == 4
    frames = [e for e in events if e.kind == "frame"]
    assert frames[-1].fps > 0 and all(e.latency_ms > 0 for e in frames)
    assert frames[-1].grid.shape == (N, N, N) and not frames[-1].grid.flags.writeable
    assert (summary.grid[truth] > 0).mean() >= 0.99           # objects kept
    assert (summary.grid > 0).mean() < 0.8                     # background carved away
    saved = [e.path for e in events if e.kind == "saved"]
    assert saved and saved == summary.saved
    loaded = load_grid(saved[-1])
    assert loaded.data.shape == (N, N, N) and loaded.voxel_size == pytest.approx(1.0 / N)
    np.testing.assert_array_equal(loaded.data, summary.grid)


def test_raw8_bayer_frames_are_debayered(stereo_sample):
    sample, truth = stereo_sample
    raws = []
    for bgr in sample.images:   # RGGB mosaic of the render
        raw = np.empty(bgr.shape[:2], np.uint8)
        raw[0::2, 0::2] = bgr[0::2, 0::2, 2]
        raw[0::2, 1::2] = bgr[0::2, 1::2, 1]
        raw[1::2, 0::2] = bgr[1::2, 0::2, 1]
        raw[1::2, 1::2] = bgr[1::2, 1::2, 0]
        raws.append(raw)
    job = LiveReconstruction(settings(bayer="RGGB", max_frames=1))
    summary = job.run([LiveSample(raws, sample.K, sample.R, sample.t, 0)] * 3)
    assert summary.frames == 1
    assert (summary.grid[truth] > 0).mean() >= 0.98


def test_fusion_min_keeps_what_every_frame_keeps(stereo_sample):
    sample, _ = stereo_sample
    dark = LiveSample([np.zeros_like(img) for img in sample.images], sample.K, sample.R, sample.t, 1)
    job = LiveReconstruction(settings(fusion="min"))
    summary = job.run(iter([sample, dark, sample]))
    assert not summary.grid.any()
    job = LiveReconstruction(settings(fusion="ema", fusion_alpha=0.5))
    summary = job.run(iter([sample, dark]))
    single = LiveReconstruction(settings()).run([sample]).grid
    np.testing.assert_allclose(summary.grid, 0.5 * single, atol=1e-6)


def test_callable_source_duration_and_stop(stereo_sample):
    sample, _ = stereo_sample
    clock = FakeClock()
    calls = []

    def next_sample():
        calls.append(1)
        return sample if len(calls) < 100 else None
    summary = LiveReconstruction(settings(duration_s=1.0), clock=clock).run(next_sample)
    assert 1 <= summary.frames < 100

    def stop_after_two(event):
        if event.kind == "frame" and event.frame == 2:
            job.stop()
    job = LiveReconstruction(settings(), stop_after_two)
    assert job.run(itertools.repeat(sample)).frames == 2
    assert LiveReconstruction(settings()).run((s for s in [(sample.images, sample.K, sample.R, sample.t, 5)])).frames == 1


def test_bad_settings_and_samples_name_the_field(stereo_sample):
    sample, _ = stereo_sample
    for field, value in [("fusion", "max"), ("grid_size", 0), ("bayer", "XYZW"), ("threshold", 300),
                         ("downsample", 0), ("save_every_s", 1.0)]:
        with pytest.raises(ValueError, match=field):
            LiveReconstruction(settings(**{field: value}))
    with pytest.raises(CarveInputError, match="source"):
        LiveReconstruction(settings()).run([42])
    with pytest.raises(ValueError, match="images"):
        LiveReconstruction(settings()).run([LiveSample([img.astype(np.float32) for img in sample.images],
                                                       sample.K, sample.R, sample.t)])


def test_prepare_view_scales_K_with_the_image():
    K = np.array([[1000.0, 0, 959.5], [0, 1000.0, 539.5], [0, 0, 1]])
    img = np.zeros((1080, 1920), np.uint8)
    small, K2 = prepare_view(img, K, bayer=None, factor=4, threshold=None)
    assert small.shape == (270, 480)
    assert K2[0, 0] == pytest.approx(250.0) and K2[0, 2] == pytest.approx(239.5) and K2[1, 2] == pytest.approx(134.5)


@pytest.mark.parametrize("fusion, grids", [("none", 2), ("min", 3)])
def test_the_job_holds_its_grids_and_no_frame_between_frames(stereo_sample, fusion, grids):
    # What a console's live job keeps while it runs (issue 12: the TUI's RSS rose ~70 MB during
    # a reconstruction). Each sample is a fresh pair of frames, as a camera gives them; at every
    # frame event, what the job allocated and still holds must be its grids (two without
    # fusion, three with) and nothing of the frames: a pair here is 3 MB, a grid 1 MiB.
    sample, _ = stereo_sample
    n = 64
    grid_bytes = 4 * n ** 3

    def fresh_pairs():
        for _ in range(6):
            yield LiveSample([img.copy() for img in sample.images], sample.K, sample.R, sample.t, 0)

    held = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        job = LiveReconstruction(settings(grid_size=n, voxel_size=1.0 / n, fusion=fusion),
                                 lambda e: held.append(tracemalloc.get_traced_memory()[0] - base)
                                 if e.kind == "frame" else None)
        summary = job.run(fresh_pairs())
    finally:
        tracemalloc.stop()
    assert summary.frames == 6 and summary.grid.any()
    assert max(held) <= grids * grid_bytes + 256 * 1024, [round(b / 2 ** 20, 2) for b in held]
