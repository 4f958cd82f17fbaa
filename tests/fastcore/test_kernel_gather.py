"""Pixel reads by AVX-512 gathers in the uint8 kernel (fastcore/_carve_gather.h): the default on
Intel CPUs, forced anywhere the tile path runs with reads=1. Row segments (bricks cut by the
image border, the ends of runs, every brick with fast=0) and tiles give the reference's grid;
a gather never reads past an image's last byte; a lut other than p / 255 is honoured. On a
CPU without AVX-512 VBMI nothing is gathered: reads=1 then runs the other path, and the
agreement tests check that."""
from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

from camdeck.fastcore.reference import carve_reference
from camdeck.fastcore.validation import U8_TO_FLOAT, check_carve_inputs
from tests.fastcore.test_backends import assert_agrees
from tests.fastcore.test_kernel import kernel
from tests.fastcore.test_kernel_vbmi import against_a_guard_page, bench_args, reads_during, scene_args

from camdeck.fastcore import _carve  # the built extension: a missing build must fail, not skip

HAS_VBMI = _carve.vbmi_usable()


def test_gathers_are_the_default_exactly_on_intel_cpus_without_the_gds_mitigation():
    cpuinfo = pathlib.Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo here to compare with")
    vendor = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                   if line.startswith("vendor_id")), "")
    gds = pathlib.Path("/sys/devices/system/cpu/vulnerabilities/gather_data_sampling")
    state = gds.read_text() if gds.exists() else "no report: microcode may mitigate unannounced"
    fast_gathers = state.startswith(("Not affected", "Vulnerable"))
    assert _carve.gathers_default() == (HAS_VBMI and vendor == "GenuineIntel" and fast_gathers)


@pytest.mark.parametrize("case", ["two", "three", "one", "border", "bench"])
@pytest.mark.parametrize("N", [33, 49, 64])
def test_rows_by_gathers_match_reference(case, N):
    """fast=0: every live row goes through cd_row_u8_gather, 16 voxels along k at a time (N = 33
    and 49 leave tails of 1 voxel); "border" clips rows at the image border (clamped reads)."""
    args = scene_args(case, N)
    (got, problem), counts = reads_during(lambda: kernel(args, fast=0, reads=1))
    want = carve_reference(*args)
    assert 0 < np.count_nonzero(want) < want.size
    assert not np.isnan(got).any(), "every voxel is written"
    assert_agrees(got, want, problem)
    if HAS_VBMI:
        assert counts["gather_rows"] > 0 and counts["tiles"] == 0, counts
    else:
        assert counts["gather_rows"] == 0, "nothing is gathered without AVX-512"


@pytest.mark.parametrize("N", [33, 48, 64])
def test_tiles_by_gathers_match_reference_and_the_windows(N):
    """The same tiles read by gathers and through windows: both the reference's grid, and the
    same grid but for pixel-boundary voxels."""
    args = bench_args(N)
    (gathered, problem), counts = reads_during(lambda: kernel(args, fast=1, reads=1))
    windowed, _ = kernel(args, fast=1, reads=0)
    assert_agrees(gathered, carve_reference(*args), problem)
    assert_agrees(gathered, windowed, problem)
    if HAS_VBMI:
        assert counts["gather_tiles"] > 0 and counts["gather_tiles"] == counts["tiles"], counts


def test_the_default_takes_gathers_where_they_are_the_default():
    args = bench_args(48)
    _, counts = reads_during(lambda: kernel(args))
    if _carve.gathers_default():
        assert counts["gather_tiles"] > 0 and counts["gather_tiles"] == counts["tiles"], counts
    else:
        assert counts["gather_tiles"] == 0 and counts["gather_rows"] == 0, counts


def last_pixel_hits(args) -> int:
    """Voxels that some view sees in the last 3 pixels of its last row (a 32-bit gather there
    would read past the image)."""
    problem = check_carve_inputs(*args)
    N = problem.grid_size
    H, W = problem.images[0].shape
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, N, problem.voxel_size)
    i, j, k = np.meshgrid(*(np.arange(N),) * 3, indexing="ij")
    hits = 0
    for c in coef:
        x, y, z = (c[a] + i * c[3 + a] + j * c[6 + a] + k * c[9 + a] for a in range(3))
        with np.errstate(divide="ignore", invalid="ignore"):
            u, v = np.floor(x / z + 0.5), np.floor(y / z + 0.5)
        hits += int(np.count_nonzero((z > 0) & (v == H - 1) & (u >= W - 3) & (u <= W - 1)))
    return hits


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through libc: Linux")
@pytest.mark.parametrize("fast", [0, 1])
def test_gathers_stop_at_the_image_end(fast):
    """Views that end at a page nothing may read, under a grid larger than their field: voxels
    land on the last pixels of the last row, where a 32-bit gather would read up to 3 bytes
    past the image and crash the test."""
    W, H, N, depth = 40, 12, 40, 3.0
    rng = np.random.default_rng(7)
    K = np.array([[0.9 * W * depth, 0.0, (W - 1) / 2], [0.0, 0.9 * H * depth, (H - 1) / 2], [0, 0, 1.0]])
    R = np.stack([np.eye(3)] * 2)
    t = np.array([[0.0, 0.0, depth], [0.003, 0.001, depth]])
    images = [rng.integers(1, 256, (H, W)).astype(np.uint8) for _ in range(2)]
    args = (images, np.stack([K, K]), R, t, N, 1.3 / N, (0.0, 0.0, 0.0))
    assert last_pixel_hits(args) > 0
    problem = check_carve_inputs(*args)
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, N, problem.voxel_size)
    guarded = [against_a_guard_page(img) for img in images]
    got = np.full((N, N, N), np.nan, np.float32)
    _, counts = reads_during(lambda: _carve.carve_u8(guarded, coef, got, U8_TO_FLOAT, 1, fast=fast, reads=1))
    assert not np.isnan(got).any()
    assert_agrees(got, carve_reference(*args), problem)
    if HAS_VBMI:
        assert counts["gather_rows"] > 0, counts
        assert (counts["gather_tiles"] > 0) == (fast == 1), counts     # the middle tiled


def test_a_lut_other_than_p_over_255_is_read_through():
    """Rows by gathers look the minimum up in the lut (the tiles, which compute p / 255, are
    then not taken): a lut that reverses the levels gives lut[min pixel], as the reference's
    minimum mapped through it."""
    args = bench_args(40)
    problem = check_carve_inputs(*args)
    coef = _carve.coefficients(problem.K, problem.R, problem.t, problem.grid_center, 40, problem.voxel_size)
    lut = np.ascontiguousarray(U8_TO_FLOAT[::-1])
    lut[0] = 0.0                                    # zero stays zero (the kernel stops at 0)
    got = np.full((40, 40, 40), np.nan, np.float32)
    _, counts = reads_during(lambda: _carve.carve_u8(problem.images, coef, got, lut, 2, reads=1))
    levels = np.rint(carve_reference(*args) * 255).astype(np.int64)
    assert_agrees(got, lut[levels], problem)
    assert counts["tiles"] == 0
    if HAS_VBMI:
        assert counts["gather_rows"] > 0, counts
