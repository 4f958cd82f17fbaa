"""`camdeck calibrate intrinsics|stereo` and `camdeck pointcloud` end to end on simulated images."""
from __future__ import annotations

import numpy as np
import pytest

from tests.calibration import sim_config_text, sim_mono_set, sim_stereo_set


def _write_rgb_pngs(folder, frames, prefix):
    """Frames as a user would have them on disk: demosaiced colour PNGs (as `cameras snap` writes)."""
    import cv2

    from camdeck.drivers.imaging import frame_to_rgb

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"{prefix}_{i:03d}.png"
        assert cv2.imwrite(str(path), frame_to_rgb(frame)[:, :, ::-1])
        paths.append(path)
    return paths


@pytest.fixture
def shots(workdir):
    truth, frames = sim_mono_set()
    _write_rgb_pngs(workdir / "shots", frames[:12], "view")
    return truth, workdir / "shots"


def test_intrinsics_json_reports_the_solution_and_each_rejected_file(cli, shots):
    import cv2

    truth, folder = shots
    (folder / "zz_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "zz_empty.png").write_bytes(b"")
    cv2.imwrite(str(folder / "zz_small.png"), np.zeros((100, 160, 3), np.uint8))
    cv2.imwrite(str(folder / "zz_blank.png"), np.full((540, 960, 3), 90, np.uint8))
    res = cli("calibrate", "intrinsics", "--images", "shots/*.png", "--board", "9x6", "--square-mm", "25",
              "--out", "calibration.npz", "--json")
    assert res.code == 0, res.err
    report = res.json()
    assert set(report) >= {"rms", "K", "dist", "image_size", "used", "rejected"}
    K = np.array(report["K"])
    assert abs(K[0, 0] - truth.K[0, 0]) / truth.K[0, 0] < 0.01 and report["rms"] < 0.3
    assert report["image_size"] == [960, 540] and len(report["used"]) == 12
    reasons = {item["file"].rsplit("/", 1)[-1]: item["reason"] for item in report["rejected"]}
    assert "corrupt" in reasons["zz_corrupt.png"] and "empty" in reasons["zz_empty.png"]
    assert "160x100" in reasons["zz_small.png"] and "chessboard" in reasons["zz_blank.png"]
    with np.load("calibration.npz") as data:
        assert np.allclose(data["K"], K) and tuple(data["image_size"]) == (960, 540)


def test_too_few_views_exit_2_naming_how_many(cli, shots):
    _, folder = shots
    for extra in sorted(folder.glob("*.png"))[3:]:
        extra.unlink()
    res = cli("calibrate", "intrinsics", "--images", "shots", "--board", "9x6", "--square-mm", "25", "--json")
    assert res.code == 2
    assert "found 3 usable views" in res.json()["error"]


def test_a_board_that_does_not_match_exits_2(cli, shots):
    res = cli("calibrate", "intrinsics", "--images", "shots/view_00[0-5].png", "--board", "7x5", "--square-mm", "25")
    assert res.code == 2 and "7x5" in res.err and "--board" in res.err


@pytest.mark.parametrize("argv,needle", [
    (["--images", "nothing/*.png"], "no files match"),
    (["--images", "shots/*.png", "--board", "nine-by-six"], "--board"),
    (["--images", "shots/*.png", "--square-mm", "0"], "--square-mm"),
    (["--images", "shots/*.png", "--out", "missing/dir/calibration.npz"], "does not exist"),
])
def test_bad_arguments_exit_2_with_one_line(cli, shots, argv, needle):
    res = cli("calibrate", "intrinsics", *argv)
    assert res.code == 2 and needle in res.err and len(res.err.strip().splitlines()) == 1


def test_stereo_writes_stereo_npz_with_the_true_baseline(cli, workdir):
    from camdeck.drivers.sim.placement import relative_pose

    lt, rt, lefts, rights = sim_stereo_set()
    _write_rgb_pngs(workdir / "left", lefts[:10], "pair")
    _write_rgb_pngs(workdir / "right", rights[:10], "pair")
    res = cli("calibrate", "stereo", "--left", "left/*.png", "--right", "right/*.png", "--board", "9x6",
              "--square-mm", "25", "--out", "stereo.npz", "--json")
    assert res.code == 0, res.err
    report = res.json()
    truth = relative_pose(lt, rt)
    assert abs(report["baseline_mm"] - truth.baseline_mm) / truth.baseline_mm < 0.01
    assert len(report["used"]) == 10
    with np.load("stereo.npz") as data:
        assert {"K", "dist", "R", "T", "baseline_mm", "image_size", "rms"} <= set(data.files)
    res = cli("calibrate", "stereo", "--left", "left/*.png", "--right", "right/pair_00[0-4].png")
    assert res.code == 2 and "--right matches 5" in res.err


def test_pointcloud_on_the_simulated_rig_writes_disparity_png_and_ply(cli, workdir):
    from camdeck.calibration.ply import read_ply

    (workdir / "config.toml").write_text(sim_config_text())
    res = cli("pointcloud", "--rig", "asi-stereo", "--every-n", "2", "--frames", "3", "--save-disparity",
              "--save-pointcloud", "--out", "cloud", "--json")
    assert res.code == 0, res.err
    report = res.json()
    assert report["calibration"] == "sim-truth" and [r["index"] for r in report["processed"]] == [0, 2]
    first = report["processed"][0]
    points, colours = read_ply(first["pointcloud"])
    assert len(points) == first["points"] > 10_000 and colours is not None
    assert 0.2 <= points[:, 2].min() and points[:, 2].max() <= 7.6
    import cv2
    png = cv2.imread(first["disparity"])
    assert png is not None and png.shape == (540, 960, 3)


def test_pointcloud_bad_input_exits_2(cli, workdir):
    (workdir / "config.toml").write_text(sim_config_text())
    res = cli("pointcloud", "--rig", "recorder")
    assert res.code == 2 and "not a stereo rig" in res.err and "asi-stereo" in res.err
    res = cli("pointcloud", "--rig", "asi-stereo", "--stereo", "missing.npz")
    assert res.code == 2 and "missing.npz" in res.err
    res = cli("pointcloud", "--rig", "asi-stereo", "--max-disparity", "300")
    assert res.code == 2 and "--max-disparity 300" in res.err and "multiple of 16" in res.err
    res = cli("pointcloud", "--rig", "asi-stereo", "--max-disparity", "960")   # the binned frames are 960 wide
    assert res.code == 2 and "below the image width 960" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_pointcloud_help_documents_the_near_limit(cli):
    res = cli("pointcloud", "--help")
    assert res.code == 0 and "0.72 m" in " ".join(res.out.split()) and "--max-disparity" in res.out
