"""The Cython kernel's internal paths (bricks, tile maps, streaming stores, threads, the fast
validation front) all give the reference's grid: brick shapes, culling and stores change how
the work is split, never the values (beyond pixel-boundary rounding)."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import U8_TO_FLOAT, check_carve_inputs
from tests.fastcore.test_backends import assert_agrees, blob_views, look_at

from camdeck.fastcore import _carve  # the built extension: a missing build must fail, not skip


def kernel(args, out=None, **options):
    """carve_u8 on validated args, with kernel options (brick, brick_k, stream, cull, fast), into
    ``out`` (default: a NaN-filled grid, so a voxel nobody wrote shows)."""
    problem = check_carve_inputs(*args)
    N = problem.grid_size
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, N, problem.voxel_size)
    if out is None:
        out = np.full((N, N, N), np.nan, np.float32)
    _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, options.pop("num_threads", 0), **options)
    return out, problem


def stereo_scene(size=(161, 117)):
    """Two close views of textured discs; odd image sizes exercise the partial 8x8 tiles."""
    return blob_views(2, size=size, spread_deg=20, seed=3)


OPTIONS = [
    dict(),
    dict(brick=4, brick_k=8),
    dict(brick=8, brick_k=8),
    dict(brick=16, brick_k=32),
    dict(brick=3, brick_k=5),            # bricks that do not divide N
    dict(cull=False),
    dict(cull=True),                     # tile maps whatever the grid's size (-1 decides)
    dict(stream=1),
    dict(stream=1, brick=8, brick_k=16, num_threads=1),
    dict(num_threads=2),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("N", [7, 40, 64])
def test_kernel_options_match_reference(options, N):
    images, K, R, t = stereo_scene()
    args = (images, K, R, t, N, 1.6 / N, (0.02, -0.01, 0.03))
    got, problem = kernel(args, **options)
    assert not np.isnan(got).any(), "every voxel is written"
    want = carve_reference(*args)
    assert_agrees(got, want, problem)
    assert 0 < np.count_nonzero(want) < want.size


def test_coefficients_match_the_python_ones():
    images, K, R, t = blob_views(3)
    problem = check_carve_inputs(images, K, R, t, 33, 0.07, (0.1, -0.2, 0.3))
    got = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, 33, 0.07)
    np.testing.assert_allclose(got, problem.projection_coefficients(), rtol=1e-12, atol=1e-9)


def test_pixels_on_the_image_border_and_partial_tiles():
    """Every pixel non-zero except a few on the last row and column: the tile maps' edges."""
    rng = np.random.default_rng(7)
    images, K, R, t = stereo_scene(size=(45, 31))
    images = [rng.integers(1, 256, img.shape).astype(np.uint8) for img in images]
    for img in images:
        img[-1, ::3] = 0
        img[::4, -1] = 0
    args = (images, K, R, t, 48, 0.1, (0.0, 0.0, 0.0))
    got, problem = kernel(args)
    assert_agrees(got, carve_reference(*args), problem)


def test_grid_off_to_the_side_is_zero_and_grid_at_the_camera():
    images, K, R, t = stereo_scene()
    side = -R[0].T @ t[0] + 20.0 * R[0][0]        # 20 m along camera 0's x axis
    got, _ = kernel((images, K, R, t, 16, 0.05, tuple(side)))
    assert not got.any()
    # Grid around camera 0: bricks straddle its camera plane; some sit very close to it.
    C0 = -R[0].T @ t[0]
    args = (images[:1], K, R[:1], t[:1], 32, 0.03, tuple(C0 + 0.004))
    got, problem = kernel(args)
    want = carve_reference(*args)
    assert 0 < np.count_nonzero(want) < want.size / 2
    assert_agrees(got, want, problem)


def test_camera_at_a_grid_corner_looking_in():
    """Depth ranges over a factor > 100 inside bricks near the camera."""
    rng = np.random.default_rng(1)
    w, h = 96, 80
    K = np.array([[60.0, 0, (w - 1) / 2], [0, 60.0, (h - 1) / 2], [0, 0, 1]])
    R, t = look_at([-0.52, -0.51, -0.53], [0.2, 0.25, 0.15])
    image = rng.integers(0, 3, (h, w)).astype(np.uint8) * 100
    args = ([image], K, R[None], t[None], 40, 1.0 / 40, (0.0, 0.0, 0.0))
    got, problem = kernel(args)
    assert_agrees(got, carve_reference(*args), problem)


def test_threads_and_small_jobs_give_the_same_grid():
    images, K, R, t = stereo_scene()
    for N in (2, 24, 56):
        args = (images, K, R, t, N, 1.6 / N)
        one, _ = kernel(args, num_threads=1)
        two, _ = kernel(args, num_threads=2)
        np.testing.assert_array_equal(one, two)


def test_tile_maps_are_built_only_for_grids_of_two_voxels_a_pixel_or_more():
    """cull=-1: at 24^3 over two 161 x 117 views (under 0.4 voxels a pixel) the maps would cost
    more than the bricks they empty, at 96^3 (over 23 a pixel) they pay; forced either way."""
    images, K, R, t = stereo_scene()
    for N, options, built in ((24, {}, 0), (96, {}, 1), (24, dict(cull=True), 1), (96, dict(cull=False), 0)):
        args = (images, K, R, t, N, 1.6 / N, (0.02, -0.01, 0.03))
        before = _carve.fast_stats()["tile_maps"]
        got, problem = kernel(args, **options)
        assert _carve.fast_stats()["tile_maps"] - before == built, (N, options)
        assert_agrees(got, carve_reference(*args), problem)


def test_fast_front_accepts_the_loose_forms():
    """Lists, a shared K, (V, 3, 1) t, strided images: validated as before."""
    images, K, R, t = blob_views(2, spread_deg=30)
    strided = [np.repeat(img, 2, axis=1)[:, ::2] for img in images]
    assert not strided[0].flags.c_contiguous
    centre = np.zeros((3, 2))[:, 0]                  # a strided float64 grid_center
    want = carve_reference(images, K, R, t, 20, 0.1)
    for args in [(images, K.tolist(), R.tolist(), t.tolist()),
                 (strided, K, R, t[:, :, None]),
                 (tuple(images), np.stack([K, K]), R, t)]:
        got = fastcore.carve(*args, 20, 0.1, centre)
        assert_agrees(got, want, check_carve_inputs(images, K, R, t, 20, 0.1))


@pytest.mark.parametrize("bad", ["reflection", "scaled", "sheared"])
def test_rotation_check(bad):
    images, K, R, t = blob_views(2, spread_deg=30)
    R = R.copy()
    if bad == "reflection":
        R[1] = -R[1]
    elif bad == "scaled":
        R[0] *= 1.001
    else:
        R[1, 0, 1] += 1e-3
    with pytest.raises(ValueError, match=r"R\[[01]\]"):
        fastcore.carve(images, K, R, t, 8, 0.1)
    R_ok = blob_views(2, spread_deg=30)[2] * (1 + 2e-5)      # within the 1e-4 tolerance
    fastcore.carve(images, K, R_ok, t, 8, 0.1)


def test_grids_start_on_a_cache_line():
    """carve's own grids and empty_grid's start on a 64-byte line (the kernel streams whole lines
    straight from its tiles only then) and behave as plain float32 arrays."""
    images, K, R, t = stereo_scene()
    for backend in ("cython", "numpy"):
        got = fastcore.carve(images, K, R, t, 24, 0.06, backend=backend)
        assert got.ctypes.data % 64 == 0 and got.dtype == np.float32 and got.flags.c_contiguous
    for N in (1, 7, 64):
        grid = fastcore.empty_grid(N)
        assert grid.shape == (N, N, N) and grid.ctypes.data % 64 == 0 and grid.flags.writeable
        grid[...] = 1.5
        assert float(grid.sum()) == 1.5 * N ** 3
