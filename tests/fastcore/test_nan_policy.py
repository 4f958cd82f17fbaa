"""fastcore's NaN policy (fastcore module doc, docs/design.md): a voxel that any view sees as NaN
is NaN on every backend, never +inf; +-inf are values like any other. Issue 14 found the cython
kernel returning +inf where numpy and torch returned NaN."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from tests.fastcore.test_backends import blob_views

BACKENDS = ["numpy", "cython", "torch"]


def damaged_views():
    """Three float32 views of the blob scene with NaN, +inf and -inf patches (some overlapping)."""
    images, K, R, t = blob_views(3, size=(40, 30), dtype=np.float32)
    images = [image.copy() for image in images]
    images[0][10:20, 10:20] = np.nan
    images[1][5:15, 5:25] = np.inf
    images[1][0:8, 0:8] = np.nan
    images[2][12:18, 8:30] = -np.inf
    return images, K, R, t


@pytest.mark.parametrize("attenuation", [0.0, 0.5, 800.0])      # 800: exp underflows, so inf * 0 = NaN
def test_every_backend_gives_the_same_grid_with_nan_and_inf_in_the_views(attenuation):
    images, K, R, t = damaged_views()
    grids = {name: fastcore.carve(images, K, R, t, 24, 0.05, attenuation=attenuation, backend=name)
             for name in BACKENDS}
    want = grids["numpy"]
    assert np.isnan(want).any() and np.isneginf(want).any() == (attenuation < 800)   # the inputs reach the grid
    for name in ("cython", "torch"):
        got = grids[name]
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{name}: NaN voxels differ from numpy's"
        assert not np.isposinf(got[np.isnan(want)]).any(), f"{name}: +inf where numpy has NaN"
        seen = ~np.isnan(want)
        assert np.array_equal(got[seen], want[seen]), f"{name}: values differ from numpy's"


def test_a_voxel_every_view_sees_as_nan_is_nan_not_inf():
    images, K, R, t = blob_views(2, size=(40, 30), dtype=np.float32)
    blank = [np.full_like(image, np.nan) for image in images]
    for name in BACKENDS:
        grid = fastcore.carve(blank, K, R, t, 16, 0.05, backend=name)
        assert not np.isinf(grid).any(), name
        assert np.isnan(grid).any() and np.all((grid == 0) | np.isnan(grid)), name   # seen: NaN; unseen: 0
