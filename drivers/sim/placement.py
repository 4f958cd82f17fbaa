"""Where the simulated cameras stand in the scene, and the true geometry they report.

Pose rules (first match wins):
1. ``position_m`` / ``look_at_m`` in the camera's config options (sim-only keys): the camera
   stands there (default position below) and looks there (default ``LAB_CENTER``);
2. a member of a ``stereo`` rig: the rig's centre is ``STEREO_RIG_CENTER_M`` looking at
   ``LAB_CENTER``; the first camera is the left one at ``-baseline / 2`` along the rig's x axis,
   the second sits ``+baseline`` along the left camera's x axis and is turned by the small
   known ``STEREO_RELATIVE_ROTATION_DEG`` (so rectification matters);
3. a member of another rig: side by side, 0.25 m apart, at ``DEFAULT_POSITION_M`` height;
4. otherwise ``DEFAULT_POSITION_M`` looking at ``LAB_CENTER``.

Convention: ``x_cam = R @ X + t`` (R world -> camera, OpenCV optical frame, metres).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from camdeck.drivers.base import CameraSpec, RigSpec
from camdeck.drivers.sim.scene import LAB_CENTER, Scene, look_at

STEREO_RIG_CENTER_M = (0.0, 0.0, 1.2)
DEFAULT_POSITION_M = (0.0, 0.0, 1.3)
RIG_SPACING_M = 0.25
# right camera relative to left, as a rotation vector (about the left camera's x, y, z), degrees
STEREO_RELATIVE_ROTATION_DEG = (0.1, -0.3, 0.05)


@dataclass(frozen=True)
class SimTruth:
    """The true geometry of a simulated camera for its *current* output (ROI, binning, crop, size).

    Attributes:
        K: (3, 3) float64 intrinsics, px.
        dist: (5,) float64 distortion (zeros: the simulated lens is an ideal pinhole).
        R: (3, 3) float64 rotation world -> camera.
        t: (3,) float64 translation, metres: ``x_cam = R @ X + t``.
        image_size: (width, height) of delivered frames, px.
        scene: the Scene the camera sees.
    """

    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]
    scene: Scene | None = None

    @property
    def subject_center_m(self) -> tuple[float, float, float] | None:
        """(3,) where the scene's objects stand, world metres (``LAB_CENTER``); None without a scene.

        A reconstruction centres its grid here when the rig does not say otherwise."""
        return LAB_CENTER if self.scene is not None else None

    @property
    def camera_center(self) -> np.ndarray:
        """(3,) camera centre in the world, metres (``-R.T @ t``)."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection matrix ``K [R | t]``."""
        return self.K @ np.hstack([self.R, self.t[:, None]])

    def project(self, points_world: np.ndarray) -> np.ndarray:
        """(N, 2) pixel coordinates of world points (N, 3); points behind the camera give nan."""
        pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        cam = pts @ self.R.T + self.t
        uvw = cam @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = uvw[:, :2] / uvw[:, 2:3]
        uv[cam[:, 2] <= 0] = np.nan
        return uv


@dataclass(frozen=True)
class StereoTruth:
    """True relative pose of a stereo pair, OpenCV ``stereoCalibrate`` convention:
    ``x_right = R @ x_left + T``.

    Attributes:
        R: (3, 3) float64.
        T_m: (3,) float64, metres (``T_mm`` gives millimetres, the unit of calibration files
            made with square sizes in mm). OpenCV wants ``T.reshape(3, 1)`` (stereoRectify).
        baseline_mm: distance between the camera centres, mm.
    """

    R: np.ndarray
    T_m: np.ndarray
    baseline_mm: float

    @property
    def T_mm(self) -> np.ndarray:
        return self.T_m * 1000.0


def rotation_from_vector_deg(rotvec_deg) -> np.ndarray:
    """(3, 3) rotation for a rotation vector in degrees (Rodrigues)."""
    v = np.radians(np.asarray(rotvec_deg, dtype=np.float64))
    angle = float(np.linalg.norm(v))
    if angle < 1e-15:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * (kx @ kx)


def stereo_poses(baseline_mm: float) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((R_left, t_left), (R_right, t_right)) of the simulated stereo rig (rule 2 above)."""
    b_m = float(baseline_mm) / 1000.0
    center = np.asarray(STEREO_RIG_CENTER_M, dtype=np.float64)
    R_l, _ = look_at(center, LAB_CENTER)
    c_left = center - 0.5 * b_m * R_l[0]
    c_right = c_left + b_m * R_l[0]
    R_r = rotation_from_vector_deg(STEREO_RELATIVE_ROTATION_DEG) @ R_l
    return (R_l, -R_l @ c_left), (R_r, -R_r @ c_right)


def camera_pose(spec: CameraSpec, rigs: Mapping[str, RigSpec] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) of a simulated camera by the rules of this module's docstring."""
    opts = spec.options
    rig = next((r for r in (rigs or {}).values() if spec.name in r.cameras), None)
    if opts.get("position_m") is None and opts.get("look_at_m") is None and rig is not None:
        if rig.type == "stereo" and len(rig.cameras) == 2:
            left, right = stereo_poses(float(rig.options.get("baseline_mm", 100.0)))
            return left if rig.cameras[0] == spec.name else right
    position = opts.get("position_m")
    if position is None:
        position = np.asarray(DEFAULT_POSITION_M, dtype=np.float64)
        if rig is not None and len(rig.cameras) > 1:
            i, n = rig.cameras.index(spec.name), len(rig.cameras)
            position = position + np.array([(i - (n - 1) / 2) * RIG_SPACING_M, 0.0, 0.0])
    target = opts.get("look_at_m") or LAB_CENTER
    return look_at(position, target)


def relative_pose(left: SimTruth, right: SimTruth) -> StereoTruth:
    """The true stereo extrinsics between two simulated cameras (``x_right = R @ x_left + T``)."""
    R = right.R @ left.R.T
    T = right.t - R @ left.t
    return StereoTruth(R=R, T_m=T, baseline_mm=float(np.linalg.norm(T)) * 1000.0)


def stereo_truth(rig: RigSpec, ctx=None, cameras: Mapping[str, CameraSpec] | None = None) -> StereoTruth:
    """True R, T (right relative to left) and baseline of a simulated stereo rig.

    Args:
        rig: a RigSpec of type "stereo" with two cameras.
        ctx: the DriverContext (its rigs are used when ``cameras`` give position overrides).
        cameras: the camera specs, to honour ``position_m`` / ``look_at_m``; without them the
            rig's default placement is assumed.

    Raises:
        ValueError: the rig is not a two-camera stereo rig.
    """
    if rig.type != "stereo" or len(rig.cameras) != 2:
        raise ValueError(f"rig {rig.name!r} is not a two-camera stereo rig (type {rig.type!r})")
    rigs = dict(getattr(ctx, "rigs", None) or {})
    rigs.setdefault(rig.name, rig)
    poses = []
    for name in rig.cameras:
        spec = (cameras or {}).get(name) or CameraSpec(name=name, driver="sim", model="ASI662MC")
        poses.append(camera_pose(spec, rigs))
    (R_l, t_l), (R_r, t_r) = poses
    eye = np.eye(3)
    return relative_pose(SimTruth(eye, np.zeros(5), R_l, t_l, (1, 1)), SimTruth(eye, np.zeros(5), R_r, t_r, (1, 1)))
