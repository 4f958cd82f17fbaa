"""The tile path of the uint8 kernel (fastcore/_carve_vbmi.h) gives the reference's grid, with
its pixels read through 64-byte windows (reads=0) or by gathers (reads=1): every window shape
(16, 8 or 4 voxels along i), windows of two and three rows and the scalar fallback, grids that
are not multiples of 16, bricks cut by the image border, one to three views, streamed and
staged stores. On a CPU without AVX-512 VBMI the path cannot run; those tests then check that
it is refused, and the agreement tests run the other path. tests/fastcore/test_kernel_gather.py
has the gathers' own cases."""
from __future__ import annotations

import ctypes
import mmap
import pathlib
import sys

import numpy as np
import pytest

from camdeck import fastcore
from camdeck.fastcore.bench import make_bench_frame
from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import U8_TO_FLOAT, check_carve_inputs
from tests.fastcore.test_backends import assert_agrees, blob_views
from tests.fastcore.test_kernel import kernel

from camdeck.fastcore import _carve  # the built extension: a missing build must fail, not skip


def cpu_flags() -> set[str]:
    text = pathlib.Path("/proc/cpuinfo").read_text() if pathlib.Path("/proc/cpuinfo").exists() else ""
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


HAS_VBMI = _carve.vbmi_usable()


def test_the_path_is_offered_exactly_where_the_cpu_has_it():
    flags = cpu_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags here to compare with")
    if not _carve.vbmi_built():
        pytest.skip("this build leaves the path out (not x86-64 GCC/clang, or CAMDECK_NO_VBMI)")
    want = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512vbmi"} <= flags
    assert HAS_VBMI == want


def bench_args(N):
    """camdeck bench's dense scene on 480 x 270 views: the grid's i axis runs along image rows,
    so most vectors fit their windows (the blob scenes mostly take the scalar fallback)."""
    frame = make_bench_frame((480, 270), scene="dense")
    return (frame.images, frame.K, frame.R, frame.t, N, 1.0 / N, tuple(frame.grid_center))


def scene_args(case, N):
    """carve() arguments: "bench" (bench_args), or 1-3 blob views ("one", "two", "three");
    "border": a grid larger than the views' field (8 % of it outside view 0), so bricks at its
    edges are clipped by the image border (the row path), the middle tiled."""
    if case == "bench":
        return bench_args(N)
    n_views = {"two": 2, "three": 3, "one": 1, "border": 2}[case]
    images, K, R, t = blob_views(n_views, size=(203, 151), spread_deg=25, seed=5)
    extent = 2.4 if case == "border" else 1.4
    return (images, K, R, t, N, extent / N, (0.03, -0.02, 0.01))


@pytest.mark.parametrize("reads", [0, 1])
@pytest.mark.parametrize("case", ["bench", "two", "three", "one", "border"])
@pytest.mark.parametrize("N", [33, 48, 64, 80])
def test_windowed_path_matches_reference(case, N, reads):
    args = scene_args(case, N)
    before = _carve.fast_stats()["tiles"]
    got, problem = kernel(args, fast=1, reads=reads)
    assert not np.isnan(got).any(), "every voxel is written"
    want = carve_reference(*args)
    assert 0 < np.count_nonzero(want) < want.size
    assert_agrees(got, want, problem)
    if HAS_VBMI:
        assert _carve.fast_stats()["tiles"] > before, "the windowed path ran"


def reads_during(run):
    """fast_stats() counts that moved while run() ran."""
    before = _carve.fast_stats()
    result = run()
    after = _carve.fast_stats()
    return result, {key: after[key] - before[key] for key in before}


@pytest.mark.parametrize("lanes", [16, 8, 4])
@pytest.mark.parametrize("case", ["bench", "border"])
@pytest.mark.parametrize("N", [32, 43])
def test_every_vector_shape_matches_reference(lanes, case, N):
    """Vectors of 16, 8 or 4 voxels along i (at 1, 2 or 4 j's). On 480 x 270 views at N = 32
    the bench geometry is 1080p's at 128^3: 16 voxels along i span about 80 px (scalar loads),
    8 at two j's fit three rows (read as three, to spare a branch). N = 43: the last brick column
    has 3 j's, so one is left over from whole groups; k runs end in tails."""
    args = scene_args(case, N)
    (got, problem), reads = reads_during(lambda: kernel(args, fast=1, lanes=lanes, reads=0))
    assert not np.isnan(got).any(), "every voxel is written"
    assert_agrees(got, carve_reference(*args), problem)
    if HAS_VBMI:
        assert reads["tiles"] > 0
        if case == "bench" and N == 32 and lanes < 16:      # (16 lanes go uncounted)
            assert reads["three_rows"] > 0, reads


@pytest.mark.parametrize("lanes,reads", [(16, 0), (8, 0), (16, 1)])
@pytest.mark.parametrize("align", ["cache-line", "numpy", "odd"])
@pytest.mark.parametrize("N", [47, 48])
def test_streamed_grids_on_and_off_the_cache_line_grid(lanes, reads, align, N):
    """stream=1: tiles stream straight out when every row piece starts a cache line, else they
    go through the stage; either way every voxel is the reference's. N = 47 leaves every k run
    a tail shorter than a tile, written by the scalar path through its own streamed pieces, and
    (lanes 8) a last brick column of 7 j's, one left over from the pairs."""
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
    got, problem = kernel(args, out=out, fast=1, stream=1, lanes=lanes, reads=reads)
    assert not np.isnan(got).any()
    assert_agrees(got, carve_reference(*args), problem)


def test_auto_choice_and_refusals():
    problem = check_carve_inputs(*bench_args(64))
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, 64, problem.voxel_size)
    assert _carve.windows_fit(coef, 64) == 16         # 2.6 px per voxel along image rows
    coarse = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, 33, 1.0 / 33)
    assert _carve.windows_fit(coarse, 33) == 8        # 16 along i span 80 px, 8 at two j's 40
    # the i axis along the views' depth: no run of voxels stays on two image rows
    images, K, R, t = blob_views(2, size=(203, 151), spread_deg=25, seed=5)
    side = check_carve_inputs(images, K, R, t, 64, 1.4 / 64)
    assert _carve.windows_fit(_carve.coefficients(side.K, side.R, side.t, side.grid_center, 64, 1.4 / 64), 64) == 0
    if HAS_VBMI:                                    # auto picks the path for the bench geometry
        before = _carve.fast_stats()["tiles"]
        fastcore.carve(*bench_args(64), backend="cython")
        assert _carve.fast_stats()["tiles"] > before
    out = np.empty((8, 8, 8), np.float32)
    with pytest.raises(ValueError, match="fast=2"):
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, 1, fast=2)
    with pytest.raises(ValueError, match="lanes=5"):
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, 1, fast=1, lanes=5)
    with pytest.raises(ValueError, match="reads=2"):
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, 1, reads=2)
    with pytest.raises(ValueError, match="cull=2"):
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT, 1, cull=2)
    with pytest.raises(ValueError, match="lut of 100"):       # the kernel reads lut[0..255]
        _carve.carve_u8(problem.images, coef, out, U8_TO_FLOAT[:100].copy(), 1)
    # a lut that is not p / 255: the path is not taken (it computes p / 255 itself)
    lut = U8_TO_FLOAT.copy()
    lut[7] = 0.5
    before = _carve.fast_stats()["tiles"]
    got = np.empty((64, 64, 64), np.float32)
    _carve.carve_u8(problem.images, coef, got, lut, 1, fast=1)
    assert _carve.fast_stats()["tiles"] == before
    want = np.empty_like(got)
    _carve.carve_u8(problem.images, coef, want, lut, 1, fast=0)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("reads", [0, 1])
def test_threads_and_culling_do_not_change_the_windowed_grid(reads):
    args = bench_args(64)
    one, problem = kernel(args, fast=1, num_threads=1, reads=reads)
    for options in (dict(num_threads=2), dict(num_threads=3, cull=False), dict(num_threads=2, stream=1)):
        got, _ = kernel(args, fast=1, reads=reads, **options)
        np.testing.assert_array_equal(got, one, err_msg=str(options))
    assert_agrees(one, carve_reference(*args), problem)


def against_a_guard_page(image: np.ndarray) -> np.ndarray:
    """A copy of image whose last byte is the last before a page nothing may read."""
    page = mmap.PAGESIZE
    pages = (image.size + page - 1) // page + 1
    region = mmap.mmap(-1, (pages + 1) * page)
    buf = np.frombuffer(region, np.uint8)
    libc = ctypes.CDLL(None)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(buf.ctypes.data + pages * page, page, 0) == 0      # PROT_NONE
    copy = buf[pages * page - image.size:pages * page].reshape(image.shape)
    copy[...] = image
    _GUARDED.append(region)             # kept mapped for the process's life
    return copy


_GUARDED: list = []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through libc: Linux")
@pytest.mark.parametrize("size", [(20, 6, 16), (64, 3, 16), (100, 3, 16), (24, 30, 4)])
def test_windows_stop_at_the_image_end(size):
    """Short, wide views filled by the grid: the windows near the last rows would read past the
    image (the second or third row's 64 bytes) unless the bounds checks turn them away. The
    images end at a page nothing may read, so such a read crashes the test. 24 x 30 with
    vectors of 4 voxels at 4 j's (0.56 rows a j): windows of three rows."""
    W, H, lanes = size
    rng = np.random.default_rng(W * H)
    N, depth = 48, 3.0
    if lanes == 16:
        K = np.array([[0.97 * W * depth, 0.0, (W - 1) / 2], [0.0, (0.9 - 2.5 / H) * H * depth, (H - 1) / 2], [0, 0, 1.0]])
    else:       # found by search: some three-row windows end within 64 bytes of the image's end
        K = np.array([[0.8 * W * depth, 0.0, (W - 1) / 2], [0.0, (1.1 - 2.5 / H) * H * depth, (H - 1) / 2 + 2], [0, 0, 1.0]])
    R = np.stack([np.eye(3)] * 2)
    t = np.array([[0.0, 0.0, depth], [0.002, 0.0, depth]])
    images = [rng.integers(1, 256, (H, W)).astype(np.uint8) for _ in range(2)]
    args = (images, np.stack([K, K]), R, t, N, 1.0 / N, (0.0, 0.0, 0.0))
    problem = check_carve_inputs(*args)
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, N, problem.voxel_size)
    guarded = [against_a_guard_page(img) for img in images]
    got = np.full((N, N, N), np.nan, np.float32)
    _, reads = reads_during(lambda: _carve.carve_u8(guarded, coef, got, U8_TO_FLOAT, 1, fast=1, lanes=lanes, reads=0))
    assert not np.isnan(got).any()
    assert_agrees(got, carve_reference(*args), problem)
    if HAS_VBMI:
        assert reads["tiles"] > 0, "the windowed path ran"
        if H == 30:     # three rows, and two where a third would pass the image's end
            assert reads["three_rows"] > 0 and reads["two_rows"] > 0, reads
