"""`camdeck grid show`: slices and max projections of saved grids; --json stats; bad files exit 2."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.fastcore import save_grid

N = 32


@pytest.fixture
def grids(workdir):
    """A ball in the +x half of the grid (so the pictures say which way is which), as .bin and .npy."""
    i, j, k = np.meshgrid(*(np.arange(N),) * 3, indexing="ij")
    ball = ((i - 22) ** 2 + (j - 16) ** 2 + (k - 16) ** 2 <= 36).astype(np.float32)
    save_grid(workdir / "g.bin", ball, 0.01, (0.0, 0.0, 1.0))
    save_grid(workdir / "g.npy", ball)
    return ball


def test_a_slice_through_the_ball_shows_it_on_the_right(cli, grids):
    res = cli("grid", "show", "g.bin", "--axis", "z", "--width", "32")
    assert res.code == 0, res.err
    header, *rows = res.out.splitlines()
    assert "32x32x32 float32" in header and "slice z=16" in header and "voxel 10.00 mm" in header
    assert len(rows) == 16 and all(len(r) == 32 for r in rows)
    ink = [c for r in rows for c, ch in enumerate(r) if ch != " "]
    assert ink and min(ink) >= 16                  # the ball sits at x = 16..28: the right half


def test_a_slice_that_misses_the_ball_is_blank_but_the_max_projection_is_not(cli, grids):
    miss = cli("grid", "show", "g.npy", "--axis", "x", "--slice", "3", "--width", "16")
    assert miss.code == 0 and all(not r.strip() for r in miss.out.splitlines()[1:])
    proj = cli("grid", "show", "g.npy", "--axis", "x", "--max", "--width", "16")
    assert proj.code == 0 and "max projection along x" in proj.out
    assert any(r.strip() for r in proj.out.splitlines()[1:])


def test_json_gives_stats_and_occupancy_by_slice(cli, grids):
    res = cli("grid", "show", "g.bin", "--json", "--axis", "y")
    assert res.code == 0, res.err
    report = res.json()
    assert report["shape"] == [N, N, N] and report["voxel_size"] == 0.01 and report["grid_center"] == [0, 0, 1.0]
    assert report["occupied"] == int(grids.sum()) and report["occupied_fraction"] == pytest.approx(grids.mean(), abs=1e-6)
    by_x = report["occupancy_by_slice"]["x"]
    assert len(by_x) == N and by_x[0] == 0 and by_x[22] == max(by_x)
    assert report["slice"] == 16 and report["view"] == "slice"


@pytest.mark.parametrize("argv,needle", [
    (["missing.bin"], "missing.bin: no such file"),
    (["junk.bin"], "not a camdeck voxel grid"),
    (["g.bin", "--axis", "w"], "--axis 'w'"),
    (["g.bin", "--slice", "32"], "--slice 32: outside the grid; fix: give 0..31"),
    (["g.bin", "--slice", "3", "--max"], "--slice and --max"),
    (["g.bin", "--width", "0"], "--width 0"),
])
def test_bad_input_exits_2_with_one_line(cli, grids, workdir, argv, needle):
    (workdir / "junk.bin").write_bytes(b"not a grid at all" * 8)
    res = cli("grid", "show", *argv)
    assert res.code == 2 and needle in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1
