"""PTZ geometry of docs/design.md ("Conventions"): rotations, the pan/tilt head, mount offsets, K(zoom).

Frames: world ENU (x east, y north, z up); camera optical (x right, y down, z forward);
PTZ base B (x right, y forward, z up). Every function takes and returns degrees;
radians live only inside function bodies.

- ``R_B_cam(pan, tilt) = Rz(-pan) @ Rx(tilt) @ C`` (optical -> B);
- ``R_W_cam = R_align @ dR @ R_B_cam(pan, tilt)`` (optical -> world);
- ``dR = delta_R(pitch, yaw, roll) = Rz(-yaw) @ Rx(pitch) @ Ry(roll)``, the mount's offset;
- ``offsets_from_delta_R`` inverts it: pitch = asin(dR[2,1]), yaw = atan2(dR[0,1], dR[1,1]),
  roll = atan2(-dR[2,0], dR[2,2]).

Zoom: ``hfov_at_zoom`` interpolates the focal length (not the angle) linearly between the
camera's field of view at zoom 0 and zoom 1, the way an optical zoom's normalised position
behaves; ``K_from_hfov`` builds square-pixel intrinsics with the principal point at the
image centre ((w - 1) / 2, (h - 1) / 2). A camera with a ``calibration.npz`` measured at a stated
zoom uses ``K_at_zoom_calibrated``: its K there, its focal lengths scaled by the model elsewhere.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Optical frame -> base frame at pan = tilt = 0 (x right, y down, z forward -> x right, -z, y).
C = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def Rx(angle_deg: float) -> np.ndarray:
    """Right-handed rotation about x by ``angle_deg``; (3, 3) float64."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def Ry(angle_deg: float) -> np.ndarray:
    """Right-handed rotation about y by ``angle_deg``; (3, 3) float64."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def Rz(angle_deg: float) -> np.ndarray:
    """Right-handed rotation about z by ``angle_deg``; (3, 3) float64."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def R_B_cam(pan_deg: float, tilt_deg: float) -> np.ndarray:
    """Optical -> base rotation of the head at ``pan_deg`` (clockwise from above) and ``tilt_deg`` (up).

    Returns:
        (3, 3) float64 ``Rz(-pan) @ Rx(tilt) @ C``.
    """
    return Rz(-pan_deg) @ Rx(tilt_deg) @ C


def delta_R(pitch_deg: float, yaw_deg: float, roll_deg: float) -> np.ndarray:
    """The mount offset ``Rz(-yaw) @ Rx(pitch) @ Ry(roll)``; (3, 3) float64 (identity for zeros)."""
    return Rz(-yaw_deg) @ Rx(pitch_deg) @ Ry(roll_deg)


def offsets_from_delta_R(dR: np.ndarray) -> tuple[float, float, float]:
    """(pitch_deg, yaw_deg, roll_deg) of a mount offset, the inverse of :func:`delta_R`.

    Args:
        dR: (3, 3) rotation matrix (re-orthonormalised here is not done; pass a rotation).
    Returns:
        pitch in [-90, 90], yaw and roll in (-180, 180], degrees.
    """
    dR = np.asarray(dR, dtype=float)
    if dR.shape != (3, 3):
        raise ValueError(f"dR must be (3, 3), got {dR.shape}")
    pitch = math.degrees(math.asin(max(-1.0, min(1.0, float(dR[2, 1])))))
    yaw = math.degrees(math.atan2(float(dR[0, 1]), float(dR[1, 1])))
    roll = math.degrees(math.atan2(float(-dR[2, 0]), float(dR[2, 2])))
    return pitch, yaw, roll


def R_align_from_ypr(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Mount alignment (base -> world) from a config's ``align_ypr_deg = [yaw, pitch, roll]``.

    Uses the same composition as the offsets: ``Rz(-yaw) @ Rx(pitch) @ Ry(roll)``; yaw is the
    compass heading of the base's forward axis (clockwise from north).
    """
    return delta_R(pitch_deg, yaw_deg, roll_deg)


def R_W_cam(pan_deg: float, tilt_deg: float, R_align: np.ndarray | None = None,
            dR: np.ndarray | None = None) -> np.ndarray:
    """Camera (optical) -> world rotation ``R_align @ dR @ R_B_cam(pan, tilt)``; (3, 3) float64."""
    R = R_B_cam(pan_deg, tilt_deg)
    if dR is not None:
        R = np.asarray(dR, dtype=float) @ R
    if R_align is not None:
        R = np.asarray(R_align, dtype=float) @ R
    return R


def hfov_at_zoom(zoom: float, hfov_deg: Sequence[float]) -> float:
    """Horizontal field of view (degrees) at ``zoom`` in [0, 1].

    The focal length is linear in zoom between the ends given by ``hfov_deg = (at zoom 0, at zoom 1)``.

    Raises:
        ValueError: zoom outside [0, 1] or a field of view outside (0, 180).
    """
    if not 0.0 <= zoom <= 1.0:
        raise ValueError(f"zoom must be within [0, 1], got {zoom}")
    h0, h1 = float(hfov_deg[0]), float(hfov_deg[1])
    for h in (h0, h1):
        if not 0.0 < h < 180.0:
            raise ValueError(f"hfov_deg must be within (0, 180), got {h}")
    f0 = 1.0 / math.tan(math.radians(h0) / 2.0)
    f1 = 1.0 / math.tan(math.radians(h1) / 2.0)
    f = f0 + zoom * (f1 - f0)
    return math.degrees(2.0 * math.atan(1.0 / f))


def K_from_hfov(hfov_deg: float, width_px: int, height_px: int) -> np.ndarray:
    """Square-pixel intrinsics for a horizontal field of view, principal point at the centre.

    Returns:
        (3, 3) float64 ``[[f, 0, (w-1)/2], [0, f, (h-1)/2], [0, 0, 1]]`` with
        ``f = (w / 2) / tan(hfov / 2)`` px.
    """
    if not 0.0 < hfov_deg < 180.0:
        raise ValueError(f"hfov_deg must be within (0, 180), got {hfov_deg}")
    f = (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return np.array([[f, 0.0, (width_px - 1) / 2.0], [0.0, f, (height_px - 1) / 2.0], [0.0, 0.0, 1.0]])


def K_at_zoom(zoom: float, hfov_deg: Sequence[float], width_px: int, height_px: int) -> np.ndarray:
    """``K_from_hfov(hfov_at_zoom(zoom, hfov_deg), width_px, height_px)``; (3, 3) float64."""
    return K_from_hfov(hfov_at_zoom(zoom, hfov_deg), width_px, height_px)


def K_at_zoom_calibrated(zoom: float, K_calibrated: np.ndarray, calibration_zoom: float,
                         hfov_deg: Sequence[float], calibration_size: Sequence[int],
                         size: Sequence[int] | None = None) -> np.ndarray:
    """K at ``zoom`` of a lens calibrated (``calibration.npz``) at ``calibration_zoom``.

    The calibrated K holds at its zoom; elsewhere its focal lengths are scaled by the ratio of
    the ``hfov_deg`` model's focal lengths at the two zooms (the principal point and skew stay
    the calibration's). A frame of another size with the same aspect scales the whole K.

    Args:
        zoom, calibration_zoom: in [0, 1].
        K_calibrated: (3, 3) px, for ``calibration_size`` (w, h).
        hfov_deg: (at zoom 0, at zoom 1), degrees: the camera's zoom model.
        size: the frame's (w, h) px (None: the calibration's).
    Returns:
        (3, 3) float64.
    Raises:
        ValueError: a zoom outside [0, 1], or a frame whose aspect differs from the calibration's.
    """
    K = np.array(K_calibrated, dtype=np.float64)
    cw, ch = (int(v) for v in calibration_size)
    if size is not None and (int(size[0]), int(size[1])) != (cw, ch):
        w, h = int(size[0]), int(size[1])
        if abs(w / h - cw / ch) > 0.01:
            raise ValueError(f"frames of {w}x{h} px do not have the aspect of the calibration's {cw}x{ch}")
        s = w / cw
        # pixel centres at integers: a coordinate x covers [x - 0.5, x + 0.5], so scale about -0.5
        K[:2, :2] *= s
        K[:2, 2] = (K[:2, 2] + 0.5) * s - 0.5
    ratio = (1.0 / math.tan(math.radians(hfov_at_zoom(zoom, hfov_deg)) / 2.0)) / \
            (1.0 / math.tan(math.radians(hfov_at_zoom(calibration_zoom, hfov_deg)) / 2.0))
    K[0, 0] *= ratio
    K[1, 1] *= ratio
    K[0, 1] *= ratio
    return K


def rotation_angle_deg(R: np.ndarray) -> float:
    """Angle (degrees) of a rotation matrix, e.g. of ``R_a.T @ R_b`` to compare two orientations."""
    c = (float(np.trace(np.asarray(R, dtype=float))) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))
