"""`camdeck calibrate capture` end to end from the CLI, checked against the simulator's truth:
capture -> calibrate stereo -> reconstruct with the rig's calibration file; and the operator's
side (a board nobody moves) on the simulated ASI SDK, as on hardware."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tests.calibration import open_sim_pair, sim_config_text
from tests.drivers.test_reconstruction_calibrated import zwo_config  # noqa: F401  (the simulated ASI SDK rig)

VIEWS = 12


def _true_pair():
    from camdeck.drivers.sim.placement import relative_pose

    pair = open_sim_pair()
    try:
        return pair.left.truth, relative_pose(pair.left.truth, pair.right.truth)
    finally:
        pair.close()


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """One capture -> stereo run on the binned simulated rig (shared: it takes a minute)."""
    import os

    from camdeck.console.cli.app import run

    folder = tmp_path_factory.mktemp("e2e")
    (folder / "config.toml").write_text(sim_config_text())
    here = os.getcwd()
    os.chdir(folder)
    try:
        import contextlib

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(["calibrate", "capture", "--rig", "asi-stereo", "--views", str(VIEWS), "--out", "cap",
                        "--data-dir", str(folder / "data")])
        capture = (code, out.getvalue(), err.getvalue())
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = run(["calibrate", "stereo", "--pairs", "cap", "--out", "stereo.npz", "--json"])
        stereo = (code, out.getvalue(), err.getvalue())
    finally:
        os.chdir(here)
    return folder, capture, stereo


@pytest.mark.slow
def test_capture_keeps_pairs_and_shows_coverage_as_it_goes(captured):
    folder, (code, out, err), _ = captured
    assert code == 0, err
    lefts, rights = sorted((folder / "cap" / "left").glob("*.png")), sorted((folder / "cap" / "right").glob("*.png"))
    assert len(lefts) == len(rights) == VIEWS
    progress = [line for line in err.splitlines() if line.startswith("view ")]
    assert len(progress) == VIEWS and progress[-1].startswith(f"view {VIEWS}/{VIEWS}:")
    assert all(k in progress[-1] for k in ("X [", "Y [", "size [", "skew ["))
    manifest = json.loads((folder / "cap" / "capture.json").read_text())
    assert manifest["views"] == VIEWS and manifest["stereo"] and manifest["board_moves_itself"]
    assert set(manifest["coverage"]["bars"]) == {"x", "y", "size", "skew"}
    assert "camdeck calibrate stereo --pairs" in out


@pytest.mark.slow
def test_calibrate_stereo_on_the_folder_gives_the_true_baseline_within_0_2_mm(captured):
    _, _, (code, out, err) = captured
    assert code == 0, err
    report = json.loads(out)
    _, truth = _true_pair()
    error_mm = abs(report["baseline_mm"] - truth.baseline_mm)
    print(f"baseline {report['baseline_mm']:.4f} mm, truth {truth.baseline_mm:.4f} mm: error {error_mm:.4f} mm "
          f"from {len(report['used'])} pairs, rms {report['rms']:.3f} px")
    assert len(report["used"]) >= VIEWS - 1
    assert error_mm < 0.2


@pytest.mark.slow
def test_reconstruct_with_the_rigs_calibration_file_carves_the_true_scene(captured, cli, workdir):
    from camdeck.fastcore import load_grid

    folder, *_ = captured
    text = sim_config_text().replace('# calibration = "stereo.npz"', f'calibration = "{folder / "stereo.npz"}"')
    assert f'calibration = "{folder / "stereo.npz"}"' in text
    (workdir / "config.toml").write_text(text)
    res = cli("reconstruct", "--rig", "asi-stereo", "--grid", "32", "--frames", "2", "--save-every", "1ms",
              "--out", "grids", "--device", "cpu", "--json")
    assert res.code == 0, res.err
    report = res.json()
    assert report["frame"] == "left camera"               # the file, not the simulator's truth, gave the poses
    grid = load_grid(report["saved"][-1])
    N, voxel = grid.data.shape[0], grid.voxel_size
    left, _ = _true_pair()
    idx = np.stack(np.meshgrid(*[np.arange(N)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    centres_left = np.asarray(grid.grid_center) + (idx - (N - 1) / 2) * voxel
    world = (centres_left - np.asarray(left.t).reshape(3)) @ left.R          # back to the world: R^T (x - t)
    occupied = left.scene.contains(world).reshape(N, N, N)
    kept = float((grid.data[occupied] > 0).mean())
    print(f"calibrated reconstruct keeps {kept:.1%} of the true occupied voxels; "
          f"occupied overall {(grid.data > 0).mean():.1%}")
    assert occupied.sum() > 200 and kept > 0.9
    assert (grid.data > 0).mean() < 0.8                   # the background is carved away


@pytest.mark.parametrize("command", [["reconstruct", "--frames", "1", "--device", "cpu"],
                                     ["pointcloud", "--frames", "1"]])
def test_a_corrupt_rig_calibration_is_honoured_for_simulated_cameras_and_exits_2(cli, workdir, command):
    (workdir / "stereo.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (workdir / "config.toml").write_text(sim_config_text().replace('# calibration = "stereo.npz"',
                                                                   'calibration = "stereo.npz"'))
    res = cli(command[0], "--rig", "asi-stereo", *command[1:])
    assert res.code == 2, res.err
    assert "rigs.asi-stereo.calibration" in res.err and "fix:" in res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err


def test_capture_bad_input_exits_2(cli, workdir):
    (workdir / "config.toml").write_text(sim_config_text())
    for argv, needle in ((["--rig", "nope"], "--rig nope"), (["--rig", "recorder", "--camera", "still"], "--camera still"),
                         (["--rig", "asi-stereo", "--every", "soon"], "--every"),
                         (["--rig", "asi-stereo", "--board", "9-6"], "--board")):
        res = cli("calibrate", "capture", *argv, "--views", "3", "--out", "cap")
        assert res.code == 2 and needle in res.err and len(res.err.strip().splitlines()) == 1, res.err
    res = cli("calibrate", "stereo", "--pairs", "cap")
    assert res.code == 2 and "no left or right/ folder" in res.err


# ---------------------------------------------------------------- hardware: the operator moves the board

def test_on_hardware_it_waits_for_enter_and_q_stops(cli, zwo_config, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n\nq\n"))
    res = cli("calibrate", "capture", "--rig", "asi-stereo", "--views", "3", "--out", "cap", "--json")
    assert res.code == 0, res.err
    report = res.json()
    assert report["board_moves_itself"] is False and report["stopped_by_operator"] is True
    assert report["tries"] == 2 and report["views"] == 0                 # nothing was holding a board
    assert all("chessboard" in r["reason"] or "board" in r["reason"] for r in report["rejected"])
    assert res.err.count("press Enter") == 3


def test_on_hardware_every_captures_unattended_and_gives_up_after_three_tries_a_view(cli, zwo_config):
    res = cli("calibrate", "capture", "--rig", "asi-stereo", "--views", "3", "--every", "100ms", "--out", "cap", "--json")
    assert res.code == 1
    report = res.json()
    assert report["tries"] == 9 and report["views"] == 0 and not report["stopped_by_operator"]
    assert "kept only 0 of 3 views" in res.err


def test_a_single_camera_rig_captures_views_of_one_camera(cli, workdir):
    (workdir / "config.toml").write_text(sim_config_text())
    res = cli("calibrate", "capture", "--rig", "recorder", "--camera", "lightroom", "--views", "3", "--out", "mono",
              "--json")
    assert res.code == 0, res.err
    report = res.json()
    assert report["cameras"] == ["lightroom"] and not report["stereo"] and report["views"] == 3
    assert sorted(p.name for p in (workdir / "mono").glob("*.png")) == ["000.png", "001.png", "002.png"]
    assert report["next"].startswith("camdeck calibrate intrinsics --images mono")
    again = cli("calibrate", "capture", "--rig", "recorder", "--views", "3", "--out", "mono")
    assert again.code == 2 and "already holds captured views" in again.err
