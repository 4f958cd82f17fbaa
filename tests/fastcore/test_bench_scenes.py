"""The benchmark's scenes: the dense one is as dense as promised (55-60 % of the voxels), and
on both the cython kernel keeps the contract (only pixel-boundary voxels may differ)."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.fastcore.bench import make_bench_frame
from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import check_carve_inputs
from tests.fastcore.test_backends import assert_agrees

needs_cython = pytest.mark.skipif(not fastcore.cython_available(), reason="the Cython kernel is not built")


@pytest.fixture(scope="module")
def frames():
    return {scene: make_bench_frame(scene=scene) for scene in ("lab", "dense")}


@pytest.mark.parametrize("N", [64, 128])
def test_dense_scene_occupancy_is_55_to_60_percent(frames, N):
    f = frames["dense"]
    grid = carve_reference(f.images, f.K, f.R, f.t, N, f.grid_extent_m / N, f.grid_center)
    occupied = np.count_nonzero(grid) / grid.size
    assert 0.55 <= occupied <= 0.60, f"{occupied:.1%}"
    lab = frames["lab"]
    lab_grid = carve_reference(lab.images, lab.K, lab.R, lab.t, N, lab.grid_extent_m / N, lab.grid_center)
    assert np.count_nonzero(lab_grid) / lab_grid.size < 0.4     # the scenes really differ


@needs_cython
@pytest.mark.parametrize("scene", ["lab", "dense"])
@pytest.mark.parametrize("N", [48, 64, 131])
def test_cython_keeps_the_contract_on_bench_scenes(frames, scene, N):
    f = frames[scene]
    args = (f.images, f.K, f.R, f.t, N, f.grid_extent_m / N, f.grid_center)
    got = fastcore.carve(*args, backend="cython")
    want = carve_reference(*args)
    assert_agrees(got, want, check_carve_inputs(*args))
