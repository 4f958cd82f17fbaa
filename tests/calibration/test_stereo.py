"""Stereo calibration of the simulated ASI pair against its true relative pose; stereo.npz."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError, NotEnoughViews
from camdeck.calibration.stereo import StereoCalibration, calibrate_stereo, load_stereo, save_stereo
from tests.calibration import board, sim_stereo_set


@pytest.fixture(scope="module")
def solved():
    left_truth, right_truth, lefts, rights = sim_stereo_set()
    result = calibrate_stereo([(f"L{i:02d}", f.array) for i, f in enumerate(lefts)],
                              [(f"R{i:02d}", f.array) for i, f in enumerate(rights)],
                              board(), pixel_format=lefts[0].format)
    return result, left_truth, right_truth


def test_the_baseline_and_relative_pose_match_the_simulator(solved):
    import cv2

    from camdeck.drivers.sim.placement import relative_pose

    result, lt, rt = solved
    truth = relative_pose(lt, rt)
    err_pct = 100.0 * abs(result.baseline_mm - truth.baseline_mm) / truth.baseline_mm
    angle_deg = np.degrees(np.linalg.norm(cv2.Rodrigues(result.R @ truth.R.T)[0]))
    print(f"baseline {result.baseline_mm:.3f} mm (true {truth.baseline_mm:.3f}): {err_pct:.4f} %; "
          f"R off by {angle_deg:.4f} deg; stereo rms {result.rms:.4f} px")
    assert err_pct < 0.5
    assert angle_deg < 0.25
    assert np.allclose(result.T, truth.T_mm, atol=1.0)
    assert result.rms < 0.3 and len(result.used) == 15


def test_both_cameras_intrinsics_match_the_simulator(solved):
    result, lt, rt = solved
    for K, truth in ((result.K1, lt.K), (result.K2, rt.K)):
        for idx in ((0, 0), (1, 1), (0, 2), (1, 2)):
            assert abs(K[idx] - truth[idx]) / truth[idx] < 0.005, (idx, K[idx], truth[idx])


def test_rectification_puts_corners_on_the_same_row(solved):
    import cv2

    result, *_ = solved
    _, _, lefts, rights = sim_stereo_set()
    from camdeck.calibration.chessboard import detect_chessboard

    dl = detect_chessboard(lefts[0].array, board(), pixel_format="RAW8_RGGB").corners
    dr = detect_chessboard(rights[0].array, board(), pixel_format="RAW8_RGGB").corners
    rl = cv2.undistortPoints(dl.reshape(-1, 1, 2), result.K1, result.dist1, R=result.R1, P=result.P1).reshape(-1, 2)
    rr = cv2.undistortPoints(dr.reshape(-1, 1, 2), result.K2, result.dist2, R=result.R2, P=result.P2).reshape(-1, 2)
    assert np.abs(rl[:, 1] - rr[:, 1]).max() < 0.5          # rows agree to half a pixel
    assert np.all(rl[:, 0] - rr[:, 0] > 0)                  # positive disparity


def test_stereo_npz_round_trips(solved, tmp_path):
    result, *_ = solved
    path = save_stereo(tmp_path / "stereo.npz", result)
    with np.load(path) as data:
        assert {"K", "dist", "image_size", "rms", "R", "T", "baseline_mm"} <= set(data.files)
        assert float(data["baseline_mm"]) == pytest.approx(result.baseline_mm)
    loaded = load_stereo(path)
    assert np.allclose(loaded.P1, result.P1) and loaded.baseline_mm == pytest.approx(result.baseline_mm)


def test_pairs_without_the_board_in_both_are_rejected_and_too_few_exit_as_bad_input():
    _, _, lefts, rights = sim_stereo_set()
    blank = np.full_like(rights[0].array, 40)
    left = [(f"L{i}", f.array) for i, f in enumerate(lefts[:4])]
    right = [(f"R{i}", f.array) for i, f in enumerate(rights[:3])] + [("R3", blank)]
    with pytest.raises(NotEnoughViews) as info:
        calibrate_stereo(left, right, board(), pixel_format="RAW8_RGGB", min_pairs=4)
    assert info.value.bad_input and info.value.found == 3 and "found 3 usable pairs" in str(info.value)


def test_mismatched_lists_and_corrupt_files_are_bad_input(tmp_path):
    with pytest.raises(CalibrationInputError, match="3 left views but 2 right"):
        calibrate_stereo([("a", None)] * 3, [("b", None)] * 2, board())
    (tmp_path / "stereo.npz").write_bytes(b"\x00" * 10)
    with pytest.raises(CalibrationFileError):
        load_stereo(tmp_path / "stereo.npz")


def test_from_extrinsics_checks_its_inputs():
    with pytest.raises(CalibrationInputError, match="T_mm is zero"):
        StereoCalibration.from_extrinsics(np.eye(3), None, np.eye(3), None, np.eye(3), np.zeros(3), (64, 48))
    with pytest.raises(CalibrationInputError, match="K1 must be"):
        StereoCalibration.from_extrinsics(np.eye(2), None, np.eye(3), None, np.eye(3), [100, 0, 0], (64, 48))
