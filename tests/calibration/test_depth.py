"""Stereo depth and point clouds against the simulator's true depth; PLY files."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration.depth import (DepthOptions, colorize_disparity, compute_disparity, depth_to_points,
                               disparity_to_depth, stereo_to_pointcloud)
from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError
from camdeck.calibration.ply import read_ply, write_ply
from camdeck.calibration.stereo import StereoCalibration
from tests.calibration import open_sim_pair


@pytest.fixture(scope="module")
def sim_inputs():
    """One RGB pair from the simulated ASI rig, its true stereo calibration, left truth and true depth."""
    from camdeck.drivers.imaging import frame_to_rgb
    from camdeck.drivers.sim.placement import relative_pose

    pair = open_sim_pair()
    try:
        pair.start()
        frames = pair.capture_pair(5.0)
        lt, rt = pair.left.truth, pair.right.truth
        truth_depth = pair.left.render_truth().depth
    finally:
        pair.close()
    rel = relative_pose(lt, rt)
    stereo = StereoCalibration.from_extrinsics(lt.K, lt.dist, rt.K, rt.dist, rel.R, rel.T_mm, lt.image_size)
    return frame_to_rgb(frames.left), frame_to_rgb(frames.right), stereo, lt, truth_depth


@pytest.fixture(scope="module")
def sim_depth(sim_inputs):
    """The pair through the pipeline, with the left camera's truth and true depth."""
    left, right, stereo, lt, truth_depth = sim_inputs
    return stereo_to_pointcloud(left, right, stereo), lt, truth_depth


def _true_depth_at_points(points: np.ndarray, K: np.ndarray, truth: np.ndarray):
    """Project left-camera points into the left image; the true depth there and whether it is
    on a smooth surface (no depth edge within 2 px, so the lookup is not across a silhouette)."""
    import cv2

    h, w = truth.shape
    uv = points @ K.T
    u = np.rint(uv[:, 0] / uv[:, 2]).astype(int)
    v = np.rint(uv[:, 1] / uv[:, 2]).astype(int)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    finite = np.where(np.isfinite(truth), truth, 1e3).astype(np.float32)
    kernel = np.ones((5, 5), np.uint8)
    spread = cv2.dilate(finite, kernel) / np.maximum(cv2.erode(finite, kernel), 1e-6)
    smooth = spread < 1.02
    uc, vc = np.clip(u, 0, w - 1), np.clip(v, 0, h - 1)
    return truth[vc, uc], inside & smooth[vc, uc] & np.isfinite(truth[vc, uc])


def test_point_cloud_depth_matches_the_simulator_within_2_percent(sim_depth):
    result, lt, truth = sim_depth
    z_true, ok = _true_depth_at_points(result.points.astype(np.float64), lt.K, truth)
    ok &= (z_true >= 0.5) & (z_true <= 5.0)
    rel = np.abs(result.points[ok, 2] - z_true[ok]) / z_true[ok]
    print(f"depth: {ok.sum()} points on surfaces 0.5-5 m; median relative error {100 * np.median(rel):.3f} %, "
          f"90th percentile {100 * np.percentile(rel, 90):.3f} %")
    assert ok.sum() > 0.2 * truth.size            # most of the textured scene is matched
    assert np.median(rel) < 0.02


def test_points_respect_the_range_filter_and_carry_colour(sim_depth):
    result, *_ = sim_depth
    assert result.points.dtype == np.float32 and result.points.shape[1] == 3
    assert result.colors.shape == result.points.shape and result.colors.dtype == np.uint8
    assert result.points[:, 2].min() >= 0.2 and result.points[:, 2].max() <= 7.5
    assert np.isfinite(result.depth[result.disparity > 0]).any()


def test_the_range_filter_is_the_left_cameras_own_depth(sim_inputs, sim_depth):
    """A range cut through the scene keeps exactly the points whose left-camera z is inside it,
    though the rectified frame (turned by R1) would put some of them on the other side."""
    left, right, stereo, *_ = sim_inputs
    full = sim_depth[0].points
    lo, hi = (float(v) for v in np.percentile(full[:, 2], [30, 70]))
    same_search = sim_depth[0].num_disparities                 # the same disparities, only the cut differs
    cut = stereo_to_pointcloud(left, right, stereo, options=DepthOptions(min_depth_m=lo, max_depth_m=hi,
                                                                         num_disparities=same_search))
    assert cut.points[:, 2].min() >= lo and cut.points[:, 2].max() <= hi
    expected = np.count_nonzero((full[:, 2] >= lo) & (full[:, 2] <= hi))
    assert len(cut.points) == expected > 1000
    assert np.count_nonzero(np.isfinite(cut.depth)) == len(cut.points) == len(cut.colors)


def test_the_near_limit_of_256_disparities_and_a_larger_search_when_asked(sim_inputs):
    from camdeck.calibration.depth import MAX_DISPARITIES, check_num_disparities, nearest_depth_m, pick_num_disparities

    left, right, stereo, *_ = sim_inputs                      # 960x540: f about 922 px, B 100 mm
    assert nearest_depth_m(stereo, MAX_DISPARITIES) == pytest.approx(
        stereo.rectified_focal_px * stereo.baseline_mm / 1000 / 256)
    # Full resolution doubles f: 256 disparities reach about 0.72 m, the documented near limit.
    assert 2 * stereo.rectified_focal_px * 0.1 / 256 == pytest.approx(0.72, abs=0.01)
    assert pick_num_disparities(stereo, 0.2) <= MAX_DISPARITIES
    wide = stereo_to_pointcloud(left, right, stereo, options=DepthOptions(num_disparities=304))
    assert wide.num_disparities == 304 and len(wide.points) > 1000
    with pytest.raises(CalibrationInputError, match="below the image width"):
        check_num_disparities(960, 960)
    with pytest.raises(CalibrationInputError, match="multiple of 16"):
        check_num_disparities(300, 960)


def test_depth_and_points_follow_the_pinhole_model():
    disp = np.array([[0.0, 10.0], [20.0, 40.0]], np.float32)
    depth = disparity_to_depth(disp, 0.1, 800.0)
    assert np.isinf(depth[0, 0]) and depth[0, 1] == pytest.approx(8.0) and depth[1, 1] == pytest.approx(2.0)
    K = np.array([[800.0, 0, 1.0], [0, 800.0, 0.5], [0, 0, 1]])
    pts = depth_to_points(np.full((2, 3), 2.0, np.float32), K)
    assert pts.shape == (2, 3, 3)
    assert np.allclose(pts[1, 2], [(2 - 1.0) * 2 / 800, (1 - 0.5) * 2 / 800, 2.0])


def test_sgbm_recovers_a_known_shift():
    rng = np.random.default_rng(0)
    import cv2

    tex = cv2.GaussianBlur(rng.uniform(0, 255, (120, 200)).astype(np.float32), (0, 0), 1.2).astype(np.uint8)
    left = tex[:, 40:-12]
    right = tex[:, 52:]             # a point at column x in the left view is at x - 12 in the right
    disp = compute_disparity(left, right, num_disparities=32)
    valid = disp[10:-10, 50:-10]
    assert np.median(valid[valid > 0]) == pytest.approx(12.0, abs=0.1)


def test_bad_depth_inputs_are_named():
    with pytest.raises(CalibrationInputError, match="depth range"):
        DepthOptions(min_depth_m=2.0, max_depth_m=1.0)
    with pytest.raises(CalibrationInputError, match="multiple of 16"):
        DepthOptions(num_disparities=50)
    with pytest.raises(CalibrationInputError, match="baseline and focal"):
        disparity_to_depth(np.ones((2, 2)), 0.0, 800.0)


def test_colour_mapped_disparity_is_black_where_unmatched():
    disp = np.array([[0.0, 8.0], [16.0, 32.0]], np.float32)
    rgb = colorize_disparity(disp, 32)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 0).all() and rgb[1, 1].any()


def test_ply_round_trips_binary_little_endian_with_colour(tmp_path):
    pts = np.array([[0.0, 1.0, 2.0], [-1.5, 0.25, 3.0]], np.float32)
    cols = np.array([[255, 0, 10], [1, 2, 3]], np.uint8)
    path = write_ply(tmp_path / "cloud.ply", pts, cols)
    head = path.read_bytes()[:200]
    assert b"format binary_little_endian 1.0" in head and b"property uchar red" in head
    got_pts, got_cols = read_ply(path)
    assert np.array_equal(got_pts, pts) and np.array_equal(got_cols, cols)
    write_ply(tmp_path / "plain.ply", pts)
    assert read_ply(tmp_path / "plain.ply")[1] is None
    with pytest.raises(CalibrationInputError, match="NaN"):
        write_ply(tmp_path / "bad.ply", np.array([[np.nan, 0, 0]], np.float32))
    (tmp_path / "trunc.ply").write_bytes(head)
    with pytest.raises(CalibrationFileError):
        read_ply(tmp_path / "trunc.ply")


def test_read_ply_refuses_a_fifo_and_malformed_headers_as_bad_input(tmp_path):
    import os

    os.mkfifo(tmp_path / "cloud.ply")
    with pytest.raises(CalibrationFileError, match="FIFO"):
        read_ply(tmp_path / "cloud.ply")                     # refused before opening: no hang
    head = b"ply\nformat binary_little_endian 1.0\n"
    for header in (b"element vertex -3\nproperty float x\n", b"element vertex 1\nproperty float x\nproperty float x\n"):
        (tmp_path / "bad.ply").write_bytes(head + header + b"end_header\n" + bytes(24))
        with pytest.raises(CalibrationFileError) as err:
            read_ply(tmp_path / "bad.ply")
        assert err.value.bad_input and "bad.ply" in str(err.value)
