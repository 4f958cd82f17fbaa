"""PTZ geometry conventions of docs/design.md: axes, pan/tilt senses, offsets round trip, K(zoom)."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration import rotations as rot


def test_head_at_rest_looks_north_with_image_right_east_and_down_down():
    R = rot.R_B_cam(0.0, 0.0)
    np.testing.assert_allclose(R, rot.C)
    np.testing.assert_allclose(R @ [0, 0, 1], [0, 1, 0])     # optical axis -> forward (north)
    np.testing.assert_allclose(R @ [1, 0, 0], [1, 0, 0])     # image right -> east
    np.testing.assert_allclose(R @ [0, 1, 0], [0, 0, -1])    # image down -> down


def test_pan_is_clockwise_from_above_and_tilt_is_up():
    np.testing.assert_allclose(rot.R_B_cam(90.0, 0.0) @ [0, 0, 1], [1, 0, 0], atol=1e-12)   # east
    np.testing.assert_allclose(rot.R_B_cam(0.0, 90.0) @ [0, 0, 1], [0, 0, 1], atol=1e-12)   # zenith
    axis = rot.R_B_cam(30.0, 20.0) @ [0, 0, 1]
    assert np.degrees(np.arcsin(axis[2])) == pytest.approx(20.0)
    assert np.degrees(np.arctan2(axis[0], axis[1])) == pytest.approx(30.0)


@pytest.mark.parametrize("seed", range(5))
def test_offsets_round_trip(seed):
    rng = np.random.default_rng(seed)
    pitch, yaw, roll = rng.uniform(-80, 80), rng.uniform(-170, 170), rng.uniform(-170, 170)
    dR = rot.delta_R(pitch, yaw, roll)
    np.testing.assert_allclose(dR @ dR.T, np.eye(3), atol=1e-12)
    assert rot.offsets_from_delta_R(dR) == pytest.approx((pitch, yaw, roll))


def test_small_offsets_act_as_named():
    # A pure yaw bump turns the forward axis clockwise; pitch lifts it; roll turns about it.
    fwd = np.array([0.0, 1.0, 0.0])
    assert np.degrees(np.arctan2(*(rot.delta_R(0, 2.0, 0) @ fwd)[:2])) == pytest.approx(2.0)
    assert np.degrees(np.arcsin((rot.delta_R(2.0, 0, 0) @ fwd)[2])) == pytest.approx(2.0)
    np.testing.assert_allclose(rot.delta_R(0, 0, 2.0) @ fwd, fwd, atol=1e-12)
    np.testing.assert_allclose(rot.delta_R(0, 0, 0), np.eye(3))


def test_world_orientation_composes_align_offset_and_head():
    R_align = rot.R_align_from_ypr(10.0, 1.0, -2.0)
    dR = rot.delta_R(0.5, -0.3, 0.2)
    expected = R_align @ dR @ rot.Rz(-40.0) @ rot.Rx(15.0) @ rot.C
    np.testing.assert_allclose(rot.R_W_cam(40.0, 15.0, R_align, dR), expected)
    assert rot.rotation_angle_deg(rot.Rz(3.0)) == pytest.approx(3.0)


def test_intrinsics_from_field_of_view():
    K = rot.K_from_hfov(90.0, 1920, 1080)
    assert K[0, 0] == pytest.approx(960.0) and K[1, 1] == K[0, 0]
    assert (K[0, 2], K[1, 2]) == (959.5, 539.5)
    assert rot.hfov_at_zoom(0.0, (60.0, 6.0)) == pytest.approx(60.0)
    assert rot.hfov_at_zoom(1.0, (60.0, 6.0)) == pytest.approx(6.0)
    assert 6.0 < rot.hfov_at_zoom(0.5, (60.0, 6.0)) < 33.0      # focal length, not angle, is linear
    with pytest.raises(ValueError):
        rot.hfov_at_zoom(1.5, (60.0, 6.0))
