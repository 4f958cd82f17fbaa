"""The PTZ world is a sky sphere: views are a function of direction only, exact under rotation."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration import rotations as rot
from camdeck.drivers.sim.ptz_world import Lighting, PtzWorld, face_px_for_view

SIZE = (320, 180)


@pytest.fixture(scope="module")
def world():
    return PtzWorld(seed=3, face_px=512)


def _homography_warp(img_a, K, R_a, R_b):
    """Warp view A into view B's pixels: x_b ~ K R_b^T R_a K^-1 x_a (pure rotation)."""
    import cv2

    H = K @ R_b.T @ R_a @ np.linalg.inv(K)
    return cv2.warpPerspective(img_a, H, SIZE, flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)), H


def test_same_seed_same_world_other_seed_other_world(world):
    K = rot.K_from_hfov(60.0, *SIZE)
    R = rot.R_W_cam(20.0, 10.0)
    a = world.render(K, R, SIZE)
    assert a.shape == (180, 320, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, PtzWorld(seed=3, face_px=512).render(K, R, SIZE))
    assert np.abs(a.astype(int) - PtzWorld(seed=4, face_px=512).render(K, R, SIZE)).mean() > 20


@pytest.mark.parametrize("pose_a,pose_b", [((0.0, 0.0), (4.0, 2.5)), ((130.0, 70.0), (127.0, 73.0)),
                                           ((-45.0, -20.0), (-44.0, -20.0))])
def test_rotated_views_are_related_by_the_rotation_homography(world, pose_a, pose_b):
    K = rot.K_from_hfov(60.0, *SIZE)
    dR = rot.delta_R(0.7, -0.4, 0.3)
    R_a = rot.R_W_cam(*pose_a, dR=dR)
    R_b = rot.R_W_cam(*pose_b, dR=dR)
    a, b = world.render(K, R_a, SIZE), world.render(K, R_b, SIZE)
    warped, _ = _homography_warp(a, K, R_a, R_b)
    mask = np.zeros(SIZE[::-1], bool)
    mask[10:-10, 10:-10] = True
    mask &= warped.sum(axis=2) > 0
    assert mask.mean() > 0.5
    diff = np.abs(warped.astype(int) - b.astype(int))[mask].mean()
    unrelated = np.abs(a.astype(int) - b.astype(int))[mask].mean()
    assert diff < 3.0 < unrelated / 3


def test_sift_matches_recover_the_rotation(world):
    import cv2

    K = rot.K_from_hfov(60.0, *SIZE)
    R_a, R_b = rot.R_W_cam(10.0, 5.0), rot.R_W_cam(13.0, 6.0, dR=rot.delta_R(0.3, 0.0, 0.5))
    a, b = world.render(K, R_a, SIZE), world.render(K, R_b, SIZE)
    sift = cv2.SIFT_create()
    ka, da = sift.detectAndCompute(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), None)
    kb, db = sift.detectAndCompute(cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), None)
    assert len(ka) > 300 and len(kb) > 300
    matches = [m for m, n in cv2.BFMatcher().knnMatch(da, db, k=2) if m.distance < 0.75 * n.distance]
    pa = np.float32([ka[m.queryIdx].pt for m in matches])
    pb = np.float32([kb[m.trainIdx].pt for m in matches])
    H, inliers = cv2.findHomography(pa, pb, cv2.RANSAC, 1.5)
    assert inliers.sum() > 100
    H_true = K @ R_b.T @ R_a @ np.linalg.inv(K)
    corners = np.float32([[0, 0], [319, 0], [0, 179], [319, 179], [160, 90]]).reshape(-1, 1, 2)
    err = np.linalg.norm(cv2.perspectiveTransform(corners, H) - cv2.perspectiveTransform(corners, H_true), axis=-1)
    assert err.max() < 1.0      # px at 0.19 deg/px: well under 0.2 deg


def test_lighting_changes_intensity_not_geometry(world):
    K = rot.K_from_hfov(60.0, *SIZE)
    R = rot.R_W_cam(0.0, 30.0)
    plain = world.render(K, R, SIZE).astype(float)
    lit = world.render(K, R, SIZE, Lighting(gain=0.7, gamma=1.3, colour_gains=(1.1, 1.0, 0.85))).astype(float)
    assert abs(lit.mean() - plain.mean()) > 10
    corr = np.corrcoef(plain.mean(axis=2).ravel(), lit.mean(axis=2).ravel())[0, 1]
    assert corr > 0.9
    assert Lighting().is_identity


def test_zoomed_out_views_are_anti_aliased(world):
    # A 64 px wide view of a 512 px face samples a coarse mip level: neighbouring pixels stay correlated.
    K = rot.K_from_hfov(60.0, 64, 36)
    img = world.render(K, rot.R_W_cam(0.0, 0.0), (64, 36)).astype(float).mean(axis=2)
    fine = world.render(rot.K_from_hfov(60.0, 640, 360), rot.R_W_cam(0.0, 0.0), (640, 360)).astype(float).mean(axis=2)
    box = fine[:360, :640].reshape(36, 10, 64, 10).mean(axis=(1, 3))
    assert np.abs(img - box).mean() < 12


def test_face_size_follows_the_view():
    assert face_px_for_view(1280, 60.0) == 2048
    assert face_px_for_view(320, 60.0) == 512
