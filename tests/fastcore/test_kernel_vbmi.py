"""The windowed AVX-512 path of the uint8 kernel (fastcore/_carve_vbmi.h) gives the reference's
grid: every window count, grids that are not multiples of 16, bricks cut by the image border,
one to three views, streamed and staged stores. On a CPU without AVX-512 VBMI the path cannot
run; those tests then check that it is refused, and the agreement tests run the other path."""
from __future__ import annotations

import pathlib

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.fastcore.bench import make_bench_frame
from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import U8_TO_FLOAT, check_carve_inputs
from tests.fastcore.test_backends import assert_agrees, blob_views

from camdeck.fastcore import _carve  # the built extension: a missing build must fail, not skip


def cpu_flags() -> set[str]:
    text = pathlib.Path("/proc/cpuinfo").read_text() if pathlib.Path("/proc/cpuinfo").exists() else ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


HAS_VBMI = _carve.vbmi_usable()


def carve(args, out=None, **options):
    problem = check_carve_inputs(*args)
    N = problem.grid_size
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, N, problem.voxel_size)
    if out is None:
        out = np.full((N, N, N), np.nan, np.float32)
    _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, options.pop("num_threads", 0), **options)
    return out, problem


def test_the_path_is_offered_exactly_where_the_cpu_has_it():
    flags = cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags here to compare with")
    want = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512vbmi"} <= flags
    assert HAS_VBMI == want


def bench_args(N):
    """camdeck bench's dense scene on 480 x 270 views: the grid's i axis runs along image rows,
    so most vectors fit their windows (the blob scenes mostly take the scalar fallback)."""
    frame = make_bench_frame((480, 270), scene="dense")
    return (frame.images, frame.K, frame.R, frame.t, N, 1.0 / N, tuple(frame.grid_center))


@pytest.mark.parametrize("case", ["bench", "two", "three", "one", "border"])
@pytest.mark.parametrize("N", [33, 48, 64, 80])
def test_windowed_path_matches_reference(case, N):
    if case == "bench":
        args = bench_args(N)
    else:
        n_views = {"two": 2, "three": 3, "one": 1, "border": 2}[case]
        images, K, R, t = blob_views(n_views, size=(203, 151), spread_deg=25, seed=5)
        # "border": a grid larger than the views' field (8 % of it outside view 0), so bricks at
        # its edges are clipped by the image border (the scalar path), the middle windowed
        extent = 2.4 if case == "border" else 1.4
        args = (images, K, R, t, N, extent / N, (0.03, -0.02, 0.01))
    before = _carve.fast_stats()
    got, problem = carve(args, fast=1)
    assert not np.isnan(got).any(), "every voxel is written"
    want = carve_reference(*args)
    assert 0 < np.count_nonzero(want) < want.size
    assert_agrees(got, want, problem)
    if HAS_VBMI:
        assert _carve.fast_stats() > before, "the windowed path ran"


@pytest.mark.parametrize("align", ["cache-line", "numpy", "odd"])
def test_streamed_grids_on_and_off_the_cache_line_grid(align):
    """stream=1: tiles stream straight out when every row piece starts a cache line, else they
    go through the stage; either way every voxel is the reference's."""
    N = 48
    args = bench_args(N)
    if align == "cache-line":
        out = fastcore.empty_grid(N)
        assert out.ctypes.data % 64 == 0
    else:
        raw = np.empty(N ** 3 + 32, np.float32)
        shift = (-raw.ctypes.data % 64) // 4 + (4 if align == "numpy" else 1)
        out = raw[shift:shift + N ** 3].reshape(N, N, N)
        assert out.ctypes.data % 64 != 0
    out[...] = np.nan
    got, problem = carve(args, out=out, fast=1, stream=1)
    assert not np.isnan(got).any()
    assert_agrees(got, carve_reference(*args), problem)


def test_auto_choice_and_refusals():
    problem = check_carve_inputs(*bench_args(64))
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, 64, problem.voxel_size)
    assert _carve.windows_fit(coef, 64)               # 2.6 px per voxel along image rows
    coarse = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, 33, 1.0 / 33)
    assert not _carve.windows_fit(coarse, 33)         # 16 voxels span about 80 px
    # the i axis along the views' depth: no run of voxels stays on two image rows
    images, K, R, t = blob_views(2, size=(203, 151), spread_deg=25, seed=5)
    side = check_carve_inputs(images, K, R, t, 64, 1.4 / 64)
    assert not _carve.windows_fit(_carve.coefficients(side.K, side.R, side.t, side.grid_center, 64, 1.4 / 64), 64)
    if HAS_VBMI:                                    # auto picks the path for the bench geometry
        before = _carve.fast_stats()
        fastcore.carve(*bench_args(64), backend="cython")
        assert _carve.fast_stats() > before
    out = np.empty((8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="fast=2"):
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, 1, fast=2)
    # a lut that is not p / 255: the path is not taken (it computes p / 255 itself)
    lut = U8_TO_FLOAT.copy()
    lut[7] = 0.5
    before = _carve.fast_stats()
    got = np.empty((64, 64, 64), np.float32)
    _carve.carve_u8(problem.images, coef, got, lut, 1, fast=1)
    assert _carve.fast_stats() == before
    want = np.empty_like(got)
    _carve.carve_u8(problem.images, coef, want, lut, 1, fast=0)
    np.testing.assert_array_equal(got, want)


def test_threads_and_culling_do_not_change_the_windowed_grid():
    args = bench_args(64)
    one, problem = carve(args, fast=1, num_threads=1)
    for options in (dict(num_threads=2), dict(num_threads=3, cull=False), dict(num_threads=2, stream=1)):
        got, _ = carve(args, fast=1, **options)
        np.testing.assert_array_equal(got, one, err_msg=str(options))
    assert_agrees(one, carve_reference(*args), problem)
