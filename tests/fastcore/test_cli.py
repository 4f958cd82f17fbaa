"""`camdeck bench` and `camdeck reconstruct` on the simulated rig, in-process."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.fastcore import load_grid


def test_bench_json_reports_every_backend_against_numpy(cli):
    result = cli("bench", "--json", "--sizes", "16,24", "--budget", "0")
    assert result.code == 0, result.err
    report = result.json()
    rows = report["results"]
    assert {r["grid"] for r in rows} == {16, 24}
    assert {r["scene"] for r in rows} == {"lab", "dense"}     # both scenes by default, side by side
    assert report["contended"] is False and "contended_p90_ms" not in rows[0]
    for scene, N in [(s, n) for s in ("lab", "dense") for n in (16, 24)]:
        by_backend = {r["backend"]: r for r in rows if r["grid"] == N and r["scene"] == scene}
        assert "numpy" in by_backend and by_backend["numpy"]["speedup_vs_numpy"] == 1.0
        if report["cython_built"]:
            assert "cython" in by_backend
        for r in by_backend.values():
            assert r["median_ms"] > 0 and r["runs"] >= 3 and r["speedup_vs_numpy"] > 0
            assert r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
        fractions = {r["occupied_fraction"] for r in by_backend.values()}
        assert max(fractions) - min(fractions) < 0.01    # the backends carved the same frame


def test_bench_contended_times_each_row_beside_a_busy_child(cli):
    result = cli("bench", "--json", "--sizes", "16", "--backends", "numpy", "--scenes", "dense",
                 "--contended", "--budget", "0")
    assert result.code == 0, result.err
    report = result.json()
    assert report["contended"] is True and len(report["loadavg_start"]) == 3
    (row,) = report["results"]
    assert row["scene"] == "dense" and row["contended_runs"] >= 10 and row["runs"] >= 10
    assert row["contended_median_ms"] <= row["contended_p90_ms"]
    assert row["contended_p90_over_quiet_median"] == pytest.approx(row["contended_p90_ms"] / row["median_ms"],
                                                                   rel=1e-3)


def test_bench_table_shows_both_scenes_and_the_busy_columns(cli):
    result = cli("bench", "--sizes", "8", "--backends", "numpy", "--contended", "--budget", "0")
    assert result.code == 0, result.err
    assert "lab" in result.out and "dense" in result.out and "busy" in result.out


def test_bench_rejects_bad_sizes(cli):
    result = cli("bench", "--sizes", "0,64")
    assert result.code == 2 and "--sizes" in result.err
    assert cli("bench", "--backends", "opencl", "--json").code == 2
    bad_scene = cli("bench", "--scenes", "lab,forest")
    assert bad_scene.code == 2 and "--scenes" in bad_scene.err and "fix:" in bad_scene.err


def test_reconstruct_simulated_stereo_rig(cli, workdir):
    result = cli("reconstruct", "--rig", "asi-stereo", "--grid", "32", "--frames", "2", "--save-every", "1ms",
                 "--out", workdir / "grids", "--json")
    assert result.code == 0, result.err
    report = result.json()
    assert report["frames"] == 2 and report["grid"] == 32
    assert 0.0 < report["occupied_fraction"] < 0.8
    assert report["saved"]
    grid = load_grid(report["saved"][-1])
    assert grid.data.shape == (32, 32, 32) and grid.data.dtype == np.float32


def test_reconstruct_bad_input_exits_2(cli):
    result = cli("reconstruct", "--rig", "nope", "--frames", "1")
    assert result.code == 2 and "--rig" in result.err
    result = cli("reconstruct", "--rig", "recorder", "--frames", "1")
    assert result.code == 2 and "stereo" in result.err
    result = cli("reconstruct", "--rig", "asi-stereo", "--frames", "1", "--duration", "2s")
    assert result.code == 2


def test_reconstruct_writes_both_formats_on_the_cpu_device_and_previews_slices(cli, workdir):
    result = cli("reconstruct", "--rig", "asi-stereo", "--grid", "24", "--frames", "2", "--save-every", "1ms",
                 "--out", workdir / "grids", "--format", "both", "--device", "cpu", "--backend", "torch",
                 "--preview")
    assert result.code == 0, result.err
    bins = sorted((workdir / "grids").glob("*.bin"))
    npys = sorted((workdir / "grids").glob("*.npy"))
    assert bins and [p.stem for p in bins] == [p.stem for p in npys]
    a, b = load_grid(bins[-1]), load_grid(npys[-1])
    assert np.array_equal(a.data, b.data) and a.voxel_size > 0 and b.voxel_size is None
    # the preview: a slice of the latest grid, drawn with the density ramp, on stderr
    assert "slice z=12 of 0..23" in result.err
    lines = result.err.splitlines()
    first = lines.index(next(line for line in lines if "slice z=12" in line))
    picture = lines[first + 1:first + 1 + 32]
    assert any(set(row) - {" "} for row in picture)
