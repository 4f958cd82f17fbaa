"""A calibrated PTZ lens: K at any zoom from a calibration at one zoom, and offsets that undistort.

The simulator renders through a pinhole; a distorting lens is put in front of it here
(``pincushion``: OpenCV's model with k1 = 0.1, applied by resampling), and the scans record that
lens's ``dist`` as a perfect ``calibration.npz`` would give it.
"""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration.offsets import offsets_from_dirs
from camdeck.calibration.rotations import K_at_zoom, K_at_zoom_calibrated, hfov_at_zoom
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from tests.calibration.test_offsets import OPTIONS, REFERENCE_STOPS, sim_camera, take_scan

DIST = np.array([[0.1, 0.0, 0.0, 0.0, 0.0]])


def pincushion(rgb, K):
    """The pinhole image as a lens with ``DIST`` would have taken it: each output (distorted) pixel
    samples the pinhole image where its undistorted ray lands."""
    import cv2

    h, w = rgb.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1).reshape(-1, 1, 2)
    src = cv2.undistortPoints(grid, K, DIST, P=K).reshape(h, w, 2).astype(np.float32)
    return cv2.remap(rgb, src[..., 0], src[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), DIST


def test_a_calibrated_k_holds_at_its_zoom_and_scales_with_the_zoom_model():
    K = np.array([[1210.0, 0.4, 955.0], [0.0, 1205.0, 545.0], [0.0, 0.0, 1.0]])
    hfov = (60.0, 6.0)
    assert np.array_equal(K_at_zoom_calibrated(0.3, K, 0.3, hfov, (1920, 1080)), K)
    at1 = K_at_zoom_calibrated(1.0, K, 0.3, hfov, (1920, 1080))
    model = K_at_zoom(1.0, hfov, 1920, 1080)[0, 0] / K_at_zoom(0.3, hfov, 1920, 1080)[0, 0]
    assert at1[0, 0] == pytest.approx(1210.0 * model) and at1[1, 1] == pytest.approx(1205.0 * model)
    assert (at1[0, 2], at1[1, 2]) == (955.0, 545.0)                       # the principal point stays
    half = K_at_zoom_calibrated(0.3, K, 0.3, hfov, (1920, 1080), (960, 540))
    assert half[0, 0] == pytest.approx(605.0) and half[0, 2] == pytest.approx(477.25)
    with pytest.raises(ValueError, match="aspect"):
        K_at_zoom_calibrated(0.3, K, 0.3, hfov, (1920, 1080), (640, 480))
    assert hfov_at_zoom(0.0, hfov) == pytest.approx(60.0)


def test_offsets_undistort_with_the_lens_calibration(tmp_path):
    data = tmp_path / "sim"
    data.mkdir()
    bump = Bump(pitch_deg=1.2, yaw_deg=-0.8, roll_deg=0.9)
    camera = sim_camera(data)
    try:
        ref = take_scan(camera, tmp_path / "ref", REFERENCE_STOPS, "reference", lens=pincushion)
        ref_raw = take_scan(camera, tmp_path / "ref-raw", REFERENCE_STOPS, "reference", lens=pincushion,
                            record_dist=False)
    finally:
        camera.close()
    write_bump(data, "ptz-1", bump)
    camera = sim_camera(data)
    try:
        stops = [(20.0, 8.0), (-110.0, 15.0)]
        query = take_scan(camera, tmp_path / "q", stops, "query", lens=pincushion)
        query_raw = take_scan(camera, tmp_path / "q-raw", stops, "query", lens=pincushion, record_dist=False)
    finally:
        camera.close()
    truth = np.array([bump.pitch_deg, bump.yaw_deg, bump.roll_deg])
    undistorted = offsets_from_dirs(ref, query, OPTIONS)
    ignored = offsets_from_dirs(ref_raw, query_raw, OPTIONS)
    err = np.abs([undistorted.pitch_deg, undistorted.yaw_deg, undistorted.roll_deg] - truth)
    err_raw = np.abs([ignored.pitch_deg, ignored.yaw_deg, ignored.roll_deg] - truth)
    print(f"lens k1 = 0.1: error (pitch, yaw, roll) with dist {np.round(err, 4)}, without {np.round(err_raw, 4)} deg; "
          f"inliers {undistorted.inliers} vs {ignored.inliers}")
    assert err.max() < 0.05
    assert undistorted.inliers > ignored.inliers          # undistorted rays agree within the threshold
    assert err_raw.max() > 2 * err.max()
