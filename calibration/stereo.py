"""Stereo calibration of a camera pair: per-camera intrinsics, extrinsics, rectification, baseline.

Views are paired by order (the i-th left file with the i-th right file, both sorted); a pair is
used only when both views show the whole board. Each camera is first calibrated on its own
views, then ``cv2.stereoCalibrate`` solves R, T with the intrinsics fixed, and
``cv2.stereoRectify`` gives the rectification. T is in millimetres (the board's unit), so
``baseline_mm = |T|``.

``stereo.npz`` holds everything ``calibration.npz`` does for the left camera (``K``, ``dist``,
``image_size``, ``rms``) and adds ``K1``, ``dist1``, ``K2``, ``dist2``, ``R``, ``T`` (mm),
``baseline_mm``, and the rectification ``R1``, ``R2``, ``P1``, ``P2``, ``Q``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from camdeck.calibration.chessboard import Board
from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError, SolveFailed
from camdeck.calibration.intrinsics import (MIN_VIEWS, OUTLIER_FACTOR, OUTLIER_FLOOR_PX, LoadedViews, Progress,
                                    ViewResult, ViewSource, check_enough, detect_views,
                                    solve_intrinsics)


@dataclass
class StereoCalibration:
    """A calibrated pair (left = camera 1). x_right = R @ x_left + T (T in mm).

    Attributes:
        K1, K2: (3, 3) camera matrices, px.  dist1, dist2: (1, N) distortion.
        R: (3, 3) rotation left -> right.  T: (3,) translation left -> right, mm.
        image_size: (width, height), px (both cameras).
        R1, R2: (3, 3) rectifying rotations.  P1, P2: (3, 4) rectified projections (P2[0, 3] = -f * B).
        Q: (4, 4) disparity-to-depth matrix.
        rms: stereo RMS reprojection error, px.
        used: (left, right) names of the pairs used.  rejected: (name, reason) for the rest.
    """

    K1: np.ndarray
    dist1: np.ndarray
    K2: np.ndarray
    dist2: np.ndarray
    R: np.ndarray
    T: np.ndarray
    image_size: tuple[int, int]
    R1: np.ndarray
    R2: np.ndarray
    P1: np.ndarray
    P2: np.ndarray
    Q: np.ndarray
    rms: float = 0.0
    used: list[tuple[str, str]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    rms_left: float = float("nan")
    rms_right: float = float("nan")

    @property
    def baseline_mm(self) -> float:
        """Distance between the two camera centres, mm."""
        return float(np.linalg.norm(self.T))

    @property
    def rectified_focal_px(self) -> float:
        """Focal length of the rectified pair, px."""
        return float(self.P1[0, 0])

    @classmethod
    def from_extrinsics(cls, K1: np.ndarray, dist1: np.ndarray, K2: np.ndarray, dist2: np.ndarray,
                        R: np.ndarray, T_mm: np.ndarray, image_size: tuple[int, int], *,
                        alpha: float = 0.0) -> "StereoCalibration":
        """A pair from known geometry (e.g. a simulator's truth), with its rectification computed.

        Args:
            K1, K2: (3, 3) px.  dist1, dist2: (N,) or (1, N), or None for none.
            R: (3, 3) left -> right rotation.  T_mm: (3,) left -> right translation, millimetres.
            image_size: (width, height), px.
            alpha: stereoRectify's free scaling (0: only valid pixels, 1: all pixels).

        Raises:
            CalibrationInputError: a matrix of the wrong shape, or a zero baseline.
        """
        K1, K2, R = (_matrix(m, (3, 3), name) for m, name in ((K1, "K1"), (K2, "K2"), (R, "R")))
        T = _matrix(T_mm, (3,), "T_mm")
        if np.linalg.norm(T) <= 0:
            raise CalibrationInputError("T_mm is zero: the two cameras are at the same place",
                                        "give the translation from the left to the right camera, in mm")
        d1 = np.zeros((1, 5)) if dist1 is None else np.asarray(dist1, dtype=np.float64).reshape(1, -1)
        d2 = np.zeros((1, 5)) if dist2 is None else np.asarray(dist2, dtype=np.float64).reshape(1, -1)
        R1, R2, P1, P2, Q = rectify(K1, d1, K2, d2, R, T, image_size, alpha=alpha)
        return cls(K1, d1, K2, d2, R, T, tuple(int(v) for v in image_size), R1, R2, P1, P2, Q)

    @classmethod
    def from_world_poses(cls, left: Any, right: Any) -> "StereoCalibration":
        """A pair from two cameras' true geometry (each with K, dist, R, t world -> camera in metres
        and image_size, as a simulated camera's ``truth``): x_right = R @ x_left + T."""
        R_l, R_r = np.asarray(left.R, dtype=np.float64), np.asarray(right.R, dtype=np.float64)
        R_rel = R_r @ R_l.T
        t_rel = np.asarray(right.t, dtype=np.float64).reshape(3) - R_rel @ np.asarray(left.t, dtype=np.float64).reshape(3)
        return cls.from_extrinsics(left.K, getattr(left, "dist", None), right.K, getattr(right, "dist", None),
                                   R_rel, t_rel * 1000.0, tuple(left.image_size))

    def to_json(self) -> dict[str, Any]:
        """What ``camdeck calibrate stereo --json`` prints."""
        return {
            "rms": float(self.rms),
            "rms_left": float(self.rms_left), "rms_right": float(self.rms_right),
            "baseline_mm": self.baseline_mm,
            "K1": self.K1.tolist(), "dist1": self.dist1.ravel().tolist(),
            "K2": self.K2.tolist(), "dist2": self.dist2.ravel().tolist(),
            "R": self.R.tolist(), "T": self.T.ravel().tolist(),
            "image_size": list(self.image_size),
            "used": [{"left": a, "right": b} for a, b in self.used],
            "rejected": [{"file": name, "reason": reason} for name, reason in self.rejected],
        }


def _matrix(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != int(np.prod(shape)) or not np.all(np.isfinite(arr)):
        raise CalibrationInputError(f"{name} must be a finite {shape} array, got shape {arr.shape}",
                                    f"pass {name} as a {shape} array")
    return arr.reshape(shape)


def rectify(K1: np.ndarray, dist1: np.ndarray, K2: np.ndarray, dist2: np.ndarray, R: np.ndarray,
            T: np.ndarray, image_size: tuple[int, int], *, alpha: float = 0.0):
    """``cv2.stereoRectify`` with CALIB_ZERO_DISPARITY: returns (R1, R2, P1, P2, Q)."""
    import cv2

    R1, R2, P1, P2, Q, _, _ = cv2.stereoRectify(K1, dist1, K2, dist2, tuple(int(v) for v in image_size),
                                                R, T.reshape(3, 1), flags=cv2.CALIB_ZERO_DISPARITY, alpha=alpha)
    return R1, R2, P1, P2, Q


def calibrate_stereo(left: Sequence[ViewSource], right: Sequence[ViewSource], board: Board, *,
                     min_pairs: int = MIN_VIEWS, pixel_format: str | None = None,
                     reject_outliers: bool = True, progress: Progress | None = None) -> StereoCalibration:
    """Calibrate a stereo pair from chessboard views taken at the same time.

    Args:
        left, right: the two cameras' views, the i-th of each taken together (same length).
        board: the chessboard (inner corners, square size in mm).
        min_pairs: fewest pairs with the board in both views (>= 3).
        pixel_format: for in-memory frames, e.g. "RAW8_RGGB".
        reject_outliers: drop pairs whose stereo reprojection error is far above the median.
        progress: progress(stage, done, total) with stages "detect", "solve", "refine".

    Returns:
        StereoCalibration with both intrinsics, R, T (mm), rectification and the rejected views.

    Raises:
        CalibrationInputError: the two lists differ in length, or min_pairs < 3.
        BoardMismatch: no readable image shows the board.
        NotEnoughViews: fewer usable pairs than ``min_pairs``, naming how many were found.
        SolveFailed: a solver did not converge.
    """
    import cv2

    if len(left) != len(right):
        raise CalibrationInputError(f"{len(left)} left views but {len(right)} right views",
                                    "give the same number of left and right images, taken in pairs")
    if not isinstance(min_pairs, (int, np.integer)) or min_pairs < 3:
        raise CalibrationInputError(f"min_pairs must be an integer >= 3, got {min_pairs!r}",
                                    "ask for at least 3 pairs (10-20 is typical)")
    n = len(left)

    def sub(stage_offset: int):
        if progress is None:
            return None
        return lambda stage, done, total: progress(stage, stage_offset + done, 2 * n)

    det_l = detect_views(left, board, pixel_format=pixel_format, progress=sub(0))
    det_r = detect_views(right, board, pixel_format=pixel_format, image_size=det_l.image_size, progress=sub(n))
    rejected = list(det_l.rejected) + list(det_r.rejected)
    found_l = {name: d for name, d in det_l.detections}
    found_r = {name: d for name, d in det_r.detections}
    names_l = [_name(s, i) for i, s in enumerate(left)]
    names_r = [_name(s, i) for i, s in enumerate(right)]
    pairs: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    for a, b in zip(names_l, names_r):
        if a in found_l and b in found_r:
            cl, cr = found_l[a].corners, found_r[b].corners
            # Both detections are in canonical order; keep them consistent if the board stands on end.
            if float(np.dot(cl[-1] - cl[0], cr[-1] - cr[0])) < 0:
                cr = np.ascontiguousarray(cr[::-1])
            pairs.append((a, b, cl, cr))
        elif a in found_l:
            rejected.append((a, f"its pair {b} has no board"))
        elif b in found_r:
            rejected.append((b, f"its pair {a} has no board"))
    both = LoadedViews([(a, found_l[a]) for a, *_ in pairs], [], det_l.image_size,
                       min(det_l.readable, det_r.readable))
    check_enough(both, board, min_pairs, what="pairs")

    # Intrinsics of each camera from all of its own views (more views than pairs is fine).
    in_l = solve_intrinsics([ViewResult(nm, d.corners) for nm, d in det_l.detections], board, det_l.image_size,
                            min_views=min(min_pairs, len(det_l.detections)), reject_outliers=reject_outliers)
    in_r = solve_intrinsics([ViewResult(nm, d.corners) for nm, d in det_r.detections], board, det_l.image_size,
                            min_views=min(min_pairs, len(det_r.detections)), reject_outliers=reject_outliers)
    obj = board.object_points().reshape(-1, 1, 3)
    size = tuple(int(v) for v in det_l.image_size)
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    rounds = 2 if reject_outliers else 1
    for round_ in range(rounds):
        if progress:
            progress("solve" if round_ == 0 else "refine", round_, rounds)
        try:
            out = cv2.stereoCalibrateExtended(
                [obj] * len(pairs), [p[2].reshape(-1, 1, 2) for p in pairs], [p[3].reshape(-1, 1, 2) for p in pairs],
                in_l.K, in_l.dist, in_r.K, in_r.dist, size, np.eye(3), np.zeros((3, 1)),
                flags=cv2.CALIB_FIX_INTRINSIC, criteria=criteria)
        except cv2.error as err:
            raise SolveFailed(f"the stereo solver failed: {' '.join(str(err).split())[:200]}",
                              "use pairs with the board at varied positions and tilts") from None
        rms, R, T, errors = out[0], out[5], out[6], np.asarray(out[-1]).reshape(len(pairs), 2)
        if not reject_outliers or round_ == rounds - 1:
            break
        per_pair = errors.max(axis=1)
        limit = max(OUTLIER_FACTOR * float(np.median(per_pair)), OUTLIER_FLOOR_PX)
        keep = per_pair <= limit
        if keep.all() or keep.sum() < min_pairs:
            break
        for p, e in zip(pairs, per_pair):
            if e > limit:
                rejected.append((p[0], f"stereo reprojection error {e:.2f} px is over {limit:.2f} px"))
        pairs = [p for p, k in zip(pairs, keep) if k]
    if not np.all(np.isfinite(T)) or np.linalg.norm(T) <= 0:
        raise SolveFailed("the stereo solver returned no usable baseline",
                          "use more pairs with the board seen by both cameras")
    if progress:
        progress("refine", rounds, rounds)
    R1, R2, P1, P2, Q = rectify(in_l.K, in_l.dist, in_r.K, in_r.dist, R, np.asarray(T).ravel(), size)
    return StereoCalibration(in_l.K, in_l.dist, in_r.K, in_r.dist, np.asarray(R), np.asarray(T).ravel(), size,
                             R1, R2, P1, P2, Q, rms=float(rms), used=[(p[0], p[1]) for p in pairs],
                             rejected=rejected, rms_left=in_l.rms, rms_right=in_r.rms)


def _name(src: ViewSource, index: int) -> str:
    if isinstance(src, tuple):
        return str(src[0]) if src[0] else f"view {index}"
    return str(src)


# ------------------------------------------------------------------------- files


def save_stereo(path: str | Path, stereo: StereoCalibration) -> Path:
    """Write ``stereo.npz`` (see the module docstring for its keys).

    Atomic: a failed write leaves the old file as it was.

    Raises:
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    from camdeck.calibration.outputs import write_atomic

    return write_atomic(path, lambda fh: np.savez(
        fh, K=stereo.K1, dist=stereo.dist1, image_size=np.asarray(stereo.image_size, dtype=np.int64),
        rms=np.float64(stereo.rms), K1=stereo.K1, dist1=stereo.dist1, K2=stereo.K2, dist2=stereo.dist2,
        R=stereo.R, T=stereo.T, baseline_mm=np.float64(stereo.baseline_mm),
        R1=stereo.R1, R2=stereo.R2, P1=stereo.P1, P2=stereo.P2, Q=stereo.Q))


def load_stereo(path: str | Path) -> StereoCalibration:
    """Read ``stereo.npz``; the rectification is recomputed when absent.

    Raises:
        CalibrationFileError: missing, not a regular file, corrupt, or a key missing or malformed
            (the message names the file and the key).
    """
    from camdeck.calibration.files import STEREO_SPEC, check_camera_matrix, read_npz

    fix = "run camdeck calibrate stereo again to rewrite it"
    data = read_npz(path, STEREO_SPEC, fix)
    K1, K2 = (check_camera_matrix(data[key], path, key, fix) for key in ("K1", "K2"))
    try:
        R = _rotation(data["R"], "R")
        stereo = StereoCalibration.from_extrinsics(K1, data["dist1"], K2, data["dist2"], R, data["T"],
                                                   tuple(int(v) for v in data["image_size"]))
    except CalibrationInputError as err:
        raise CalibrationFileError(f"{path}: {err.message}", fix) from None
    stereo.rms = float(data["rms"].ravel()[0]) if "rms" in data else 0.0
    return stereo


def _rotation(value: Any, name: str) -> np.ndarray:
    """``value`` as a (3, 3) rotation (R^T R = I within 1e-6, det +1), else CalibrationInputError."""
    R = np.asarray(value, dtype=np.float64)
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-6) or np.linalg.det(R) <= 0:
        raise CalibrationInputError(f"key {name} is not a rotation matrix", f"pass {name} as a 3x3 rotation")
    return R
