"""Intrinsics against the simulator's truth, outlier and bad-input handling, calibration.npz."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration.errors import BoardMismatch, CalibrationFileError, NotEnoughViews
from camdeck.calibration.intrinsics import calibrate_intrinsics, load_calibration, save_calibration
from tests.calibration import board, camera, mono_views, sim_mono_set


@pytest.fixture(scope="module")
def solved():
    views = [(f"view_{i:02d}", img) for i, img in enumerate(mono_views())]
    return calibrate_intrinsics(views, board())


def _rel_err_pct(K, K_true):
    return {name: 100.0 * abs(K[idx] - K_true[idx]) / K_true[idx]
            for name, idx in (("fx", (0, 0)), ("fy", (1, 1)), ("cx", (0, 2)), ("cy", (1, 2)))}


def test_twenty_views_from_the_simulated_asi_camera_recover_its_true_intrinsics():
    truth, frames = sim_mono_set()
    result = calibrate_intrinsics([(f"asi_{i:02d}", f.array) for i, f in enumerate(frames)], board(),
                                  pixel_format=frames[0].format)
    errs = _rel_err_pct(result.K, truth.K)
    print("sim ASI intrinsics error %:", {k: round(float(v), 4) for k, v in errs.items()},
          "rms px:", round(result.rms, 4))
    assert all(v < 0.5 for v in errs.values()), errs
    assert result.rms < 0.3
    assert len(result.views) == 20 and not result.rejected


def test_twenty_views_through_a_distorting_lens_recover_k_and_the_distortion(solved):
    errs = _rel_err_pct(solved.K, camera().K)
    print("distorted-lens intrinsics error %:", {k: round(float(v), 4) for k, v in errs.items()},
          "rms px:", round(solved.rms, 4))
    assert all(v < 0.5 for v in errs.values()), errs
    assert solved.rms < 0.3
    assert len(solved.views) == 20 and not solved.rejected
    assert np.allclose(solved.dist.ravel()[:2], camera().dist[:2], atol=0.03)


def test_every_used_view_reports_its_error(solved):
    report = solved.to_json()
    assert set(report) >= {"rms", "K", "dist", "image_size", "used", "rejected"}
    assert report["image_size"] == [960, 540]
    assert all(0 < v["error_px"] < 0.3 for v in report["used"])


def test_bad_views_are_rejected_with_reasons_and_the_run_goes_on(tmp_path):
    import cv2

    good = list(mono_views())[:8]
    blank = np.full((540, 960), 120, np.uint8)
    small = cv2.resize(good[0], (480, 270))
    views = [(f"good_{i}", img) for i, img in enumerate(good)]
    views += [("blank", blank), ("small", small), ("empty", np.zeros((0, 0), np.uint8))]
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (tmp_path / "empty.png").write_bytes(b"")
    views += [str(tmp_path / "corrupt.png"), str(tmp_path / "empty.png"), str(tmp_path / "gone.png")]
    result = calibrate_intrinsics(views, board())
    reasons = dict(result.rejected)
    assert len(result.views) == 8
    assert "no 9x6 chessboard" in reasons["blank"]
    assert "480x270" in reasons["small"] and "960x540" in reasons["small"]
    assert reasons["empty"] == "empty image"
    assert "corrupt" in reasons[str(tmp_path / "corrupt.png")]
    assert "empty file" in reasons[str(tmp_path / "empty.png")]
    assert reasons[str(tmp_path / "gone.png")] == "file not found"


def test_a_view_far_off_the_rest_is_rejected_as_an_outlier(solved):
    from camdeck.calibration.intrinsics import ViewResult, solve_intrinsics

    # one view's corner pulled 5 px off (as a smudge or a glare would) stands out from the rest
    vs = [ViewResult(v.name, v.corners.copy()) for v in solved.views[:10]]
    vs[3].corners[10] += (4.0, -3.0)
    again = solve_intrinsics(vs, board(), solved.image_size)
    assert [name for name, _ in again.rejected] == ["view_03"]
    assert "reprojection error" in again.rejected[0][1]
    assert again.rms < 0.3


def test_too_few_views_is_bad_input_naming_the_count():
    views = [(f"v{i}", img) for i, img in enumerate(list(mono_views())[:3])]
    with pytest.raises(NotEnoughViews) as info:
        calibrate_intrinsics(views, board(), min_views=5)
    assert info.value.bad_input and info.value.found == 3 and "found 3" in str(info.value)


def test_a_board_size_that_matches_no_image_is_bad_input():
    from camdeck.calibration.chessboard import Board

    views = [(f"v{i}", img) for i, img in enumerate(list(mono_views())[:3])]
    with pytest.raises(BoardMismatch) as info:
        calibrate_intrinsics(views, Board(10, 7, 25.0))
    assert info.value.bad_input and "10x7" in str(info.value) and "--board" in str(info.value)


def test_calibration_npz_round_trips(solved, tmp_path):
    path = save_calibration(tmp_path / "calibration.npz", solved)
    with np.load(path) as data:
        assert data["K"].shape == (3, 3) and data["dist"].shape[0] == 1
        assert tuple(data["image_size"]) == (960, 540) and float(data["rms"]) == pytest.approx(solved.rms)
    loaded = load_calibration(path)
    assert np.allclose(loaded.K, solved.K) and loaded.image_size == (960, 540)


def test_a_corrupt_calibration_file_is_bad_input(tmp_path):
    bad = tmp_path / "calibration.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CalibrationFileError) as info:
        load_calibration(bad)
    assert info.value.bad_input and "calibration.npz" in str(info.value)
    np.savez(tmp_path / "partial.npz", K=np.eye(3))
    with pytest.raises(CalibrationFileError, match="missing dist"):
        load_calibration(tmp_path / "partial.npz")
