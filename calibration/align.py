"""R_align: the rotation from a PTZ mount's base frame B to the world (ENU), from landmarks.

A landmark is a pixel (u, v) in one frame of a reference scan together with the world
direction of what it shows (azimuth clockwise from north, elevation up, degrees). The pixel
gives a ray in the mount frame, ``b = R_B_cam(pan, tilt) · K⁻¹ · [u, v, 1]`` (docs/design.md, PTZ
geometry, with ΔR = I at alignment time); the angles give the world ray
``w = [sin az cos el, cos az cos el, sin el]``. R_align solves Wahba's problem ``w ≈ R_align · b``
(Kabsch) inside RANSAC, so wrong landmarks are voted out; the residual is the angle between
``R_align · b`` and ``w`` over the inliers, in degrees.

The rotation RANSAC here (``ransac_rotation``) is also what ``calibration.offsets`` uses.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError, SolveFailed
from camdeck.calibration.rotations import R_B_cam
from camdeck.calibration.scan_manifest import ScanFrame, ScanManifest, read_scan_manifest  # noqa: F401 (re-exported)
from camdeck.calibration.views import pixels_to_rays, view_of

LANDMARK_COLUMNS = ("frame", "u", "v", "azimuth_deg", "elevation_deg")
MAX_LANDMARKS = 10000
#: Largest magnitude of each value: pixels well off any sensor, angles within a turn.
LANDMARK_LIMITS = {"u": 1e6, "v": 1e6, "azimuth_deg": 360.0, "elevation_deg": math.inf}


# ---------------------------------------------------------------- geometry

def mount_rotation(pan_deg: float, tilt_deg: float) -> np.ndarray:
    """``R_B_cam(ψ, θ) = Rz(-ψ) · Rx(θ) · C`` (docs/design.md): optical frame -> mount frame B. (3, 3)."""
    return R_B_cam(pan_deg, tilt_deg)


def pixel_rays(K: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Unit rays in the camera's optical frame for pixels ``uv`` (N, 2) -> (N, 3)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    ones = np.ones((uv.shape[0], 1))
    rays = np.linalg.solve(np.asarray(K, dtype=np.float64), np.hstack([uv, ones]).T).T
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def world_directions(azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    """ENU unit vectors for azimuth (clockwise from north) and elevation, degrees -> (N, 3)."""
    az = np.radians(np.asarray(azimuth_deg, dtype=np.float64))
    el = np.radians(np.asarray(elevation_deg, dtype=np.float64))
    return np.stack([np.sin(az) * np.cos(el), np.cos(az) * np.cos(el), np.sin(el)], axis=-1)


def kabsch_rotation(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The rotation R minimising Σ wᵢ |R·srcᵢ - dstᵢ|² (Wahba's problem, via SVD).

    Args:
        src, dst: (N, 3) unit vectors, N >= 2 not all parallel.
        weights: (N,) non-negative, or None for equal weights.
    Returns:
        (3, 3) float64 rotation (det +1).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    H = (src * w[:, None]).T @ dst
    U, _, Vt = np.linalg.svd(H)
    d = 1.0 if np.linalg.det(Vt.T @ U.T) >= 0 else -1.0
    return Vt.T @ np.diag([1.0, 1.0, d]) @ U.T


def angular_residuals_deg(R: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Angles between ``R·srcᵢ`` and ``dstᵢ``, degrees, (N,). Accurate at small angles."""
    mapped = np.asarray(src) @ np.asarray(R).T
    cross = np.linalg.norm(np.cross(mapped, dst), axis=1)
    dot = np.sum(mapped * dst, axis=1)
    return np.degrees(np.arctan2(cross, dot))


def ransac_rotation(src: np.ndarray, dst: np.ndarray, threshold_deg: float, *, iterations: int = 300,
                    seed: int = 0, min_separation_deg: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Robust R with ``dst ≈ R·src``: 2-point Kabsch hypotheses, MSAC scoring, inlier refinement.

    With at most 60 correspondences every pair is tried (deterministic); above that,
    ``iterations`` random pairs (seeded).

    Args:
        src, dst: (N, 3) unit vectors, N >= 2.
        threshold_deg: a correspondence is an inlier when its residual is below this.
    Returns:
        (R (3, 3), inliers (N,) bool).
    Raises:
        SolveFailed: no pair of correspondences is far enough apart to define a rotation.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n = len(src)
    if n < 2:
        raise SolveFailed(f"rotation from {n} correspondence(s): at least 2 are needed",
                          "give more landmarks or matches")
    if n <= 60:
        ii, jj = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        ii = rng.integers(0, n, iterations)
        jj = (ii + rng.integers(1, n, iterations)) % n
    min_sin = math.sin(math.radians(min_separation_deg))
    best_R, best_cost = None, np.inf
    for i, j in zip(ii, jj):
        if np.linalg.norm(np.cross(src[i], src[j])) < min_sin or np.linalg.norm(np.cross(dst[i], dst[j])) < min_sin:
            continue
        R = kabsch_rotation(src[[i, j]], dst[[i, j]])
        res = angular_residuals_deg(R, src, dst)
        cost = np.minimum(res, threshold_deg).sum()   # MSAC: inliers by residual, outliers at the cap
        if cost < best_cost:
            best_R, best_cost = R, cost
    if best_R is None:
        raise SolveFailed("rotation: every pair of correspondences is (nearly) parallel",
                          "use landmarks or features spread across the view")
    R = best_R
    inliers = angular_residuals_deg(R, src, dst) < threshold_deg
    for _ in range(3):
        if inliers.sum() < 2:
            break
        R = kabsch_rotation(src[inliers], dst[inliers])
        new = angular_residuals_deg(R, src, dst) < threshold_deg
        if np.array_equal(new, inliers):
            break
        inliers = new
    return R, inliers


# ---------------------------------------------------------------- landmarks

@dataclass(frozen=True)
class Landmark:
    """One row of the landmarks CSV: a pixel in a scan frame and its world direction (degrees)."""

    frame: int
    u: float
    v: float
    azimuth_deg: float
    elevation_deg: float


def read_landmarks(path: str | Path) -> list[Landmark]:
    """Read a landmarks CSV with the header ``frame,u,v,azimuth_deg,elevation_deg``.

    Raises:
        CalibrationInputError: the file is missing, not a regular file (a FIFO would block),
            over 16 MiB or 10,000 rows, the header is wrong, or a value is not a finite number
            (the message names the line and the column).
    """
    from camdeck.fileio.bounded import MANIFEST_CAP, UnreadableFile, read_text

    path = Path(path)
    try:
        text = read_text(path, what="--landmarks", cap=MANIFEST_CAP).removeprefix("\ufeff")
    except UnreadableFile as err:
        raise CalibrationInputError(f"--landmarks {path}: {err.problem}", err.fix) from None
    try:
        rows = list(csv.reader(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")))
    except csv.Error as err:
        raise CalibrationInputError(f"--landmarks {path}: not a CSV file ({err})", "pass the landmarks CSV") from None
    if not rows:
        raise CalibrationInputError(f"--landmarks {path}: empty", "write the header " + ",".join(LANDMARK_COLUMNS))
    if len(rows) - 1 > MAX_LANDMARKS:
        raise CalibrationInputError(f"--landmarks {path}: {len(rows) - 1} landmarks, more than {MAX_LANDMARKS}",
                                    "give the surveyed landmarks only (tens are plenty)")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in LANDMARK_COLUMNS if c not in header]
    if missing:
        raise CalibrationInputError(f"--landmarks {path}: header lacks {', '.join(missing)}",
                                    "write the header " + ",".join(LANDMARK_COLUMNS))
    col = {name: header.index(name) for name in LANDMARK_COLUMNS}
    out = []
    for line_no, row in enumerate(rows[1:], start=2):
        values = {}
        for name in LANDMARK_COLUMNS:
            try:
                raw = row[col[name]].strip()
                values[name] = int(raw) if name == "frame" else float(raw)
            except (IndexError, ValueError):
                raise CalibrationInputError(f"--landmarks {path}: line {line_no}, column {name}: not a number",
                                            "correct that value") from None
            if name != "frame" and not math.isfinite(values[name]):
                raise CalibrationInputError(f"--landmarks {path}: line {line_no}, column {name}: not finite",
                                            "correct that value")
            if name != "frame" and abs(values[name]) > LANDMARK_LIMITS[name]:
                raise CalibrationInputError(f"--landmarks {path}: line {line_no}, column {name}: "
                                            f"{values[name]:g} is beyond ±{LANDMARK_LIMITS[name]:g}",
                                            "correct that value")
        if not -90.0 <= values["elevation_deg"] <= 90.0:
            raise CalibrationInputError(f"--landmarks {path}: line {line_no}: elevation_deg "
                                        f"{values['elevation_deg']:g} is outside [-90, 90]", "correct that value")
        out.append(Landmark(**values))
    return out


def landmark_rays(manifest: ScanManifest, landmarks: Sequence[Landmark]) -> tuple[np.ndarray, np.ndarray]:
    """Mount-frame rays and world rays of the landmarks: ((N, 3), (N, 3)) unit vectors.

    Raises:
        CalibrationInputError: a landmark names a frame the manifest lacks.
    """
    mount, world = [], []
    for lm in landmarks:
        frame = manifest.frame(lm.frame)
        ray_cam = pixels_to_rays(view_of(frame, manifest.image_size), np.array([[lm.u, lm.v]]))[0]
        mount.append(mount_rotation(frame.pan_deg, frame.tilt_deg) @ ray_cam)
        world.append(world_directions(lm.azimuth_deg, lm.elevation_deg))
    return np.asarray(mount), np.asarray(world)


@dataclass(frozen=True)
class AlignResult:
    """R_align and how well the landmarks agree with it.

    Attributes:
        R_align: (3, 3) float64, mount frame B -> world (ENU).
        inliers: (N,) bool, the landmarks RANSAC kept.
        residuals_deg: (N,) angle between R_align·b and w per landmark, degrees.
        residual_deg: RMS of the inliers' residuals, degrees.
    """

    R_align: np.ndarray
    inliers: np.ndarray
    residuals_deg: np.ndarray
    residual_deg: float

    def to_dict(self) -> dict[str, Any]:
        return {"R_align": self.R_align.tolist(), "residual_deg": self.residual_deg,
                "landmarks": int(len(self.inliers)), "inliers": int(self.inliers.sum()),
                "outliers": [int(i) for i in np.flatnonzero(~self.inliers)],
                "residuals_deg": [float(r) for r in self.residuals_deg]}


def solve_r_align(mount_rays: np.ndarray, world_rays: np.ndarray, threshold_deg: float = 0.5) -> AlignResult:
    """R_align from paired rays, robustly (``world ≈ R_align · mount``).

    Args:
        mount_rays, world_rays: (N, 3) unit vectors, N >= 3.
        threshold_deg: landmarks further than this from the consensus are outliers.
    Raises:
        CalibrationInputError: fewer than 3 landmarks.
        SolveFailed: fewer than 3 landmarks agree.
    """
    n = len(mount_rays)
    if n < 3:
        raise CalibrationInputError(f"landmarks: {n} given, at least 3 are needed",
                                    "add landmarks in different directions (10 or more is better)")
    R, inliers = ransac_rotation(mount_rays, world_rays, threshold_deg)
    if inliers.sum() < 3:
        raise SolveFailed(f"R_align: only {int(inliers.sum())} of {n} landmarks agree within {threshold_deg:g}°",
                          "check the landmarks' frames, pixels and angles")
    res = angular_residuals_deg(R, mount_rays, world_rays)
    rms = float(np.sqrt(np.mean(res[inliers] ** 2)))
    return AlignResult(R_align=R, inliers=inliers, residuals_deg=res, residual_deg=rms)


def align_from_files(scan_dir: str | Path, landmarks_csv: str | Path, threshold_deg: float = 0.5) -> AlignResult:
    """``camdeck calibrate align``: read the scan's manifest and the landmarks, solve R_align."""
    manifest = read_scan_manifest(scan_dir)
    landmarks = read_landmarks(landmarks_csv)
    mount, world = landmark_rays(manifest, landmarks)
    return solve_r_align(mount, world, threshold_deg)


def save_r_align(path: str | Path, R: np.ndarray) -> Path:
    """Write ``R_align.npy`` (3x3 float64, docs/design.md), atomically: a failed write leaves the old file.

    The name must end in ``.npy`` (``np.save`` would otherwise append it and write another file
    than the one asked for).

    Raises:
        CalibrationInputError: the name does not end in .npy, or R is not 3x3.
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    from camdeck.calibration.outputs import write_atomic

    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise CalibrationInputError(f"--out {path}: R_align is written as a .npy file",
                                    f"give a name ending in .npy, e.g. {path.with_name(path.name + '.npy')}")
    R = np.asarray(R, dtype=np.float64)
    if R.shape != (3, 3):
        raise CalibrationInputError(f"R_align has shape {R.shape}, not (3, 3)", "pass a 3x3 rotation")
    return write_atomic(path, lambda fh: np.save(fh, R, allow_pickle=False))


def load_r_align(path: str | Path) -> np.ndarray:
    """Read ``R_align.npy``; checks it is a 3x3 rotation.

    Raises:
        CalibrationFileError: missing, not a regular file, not .npy, or not a rotation.
    """
    from camdeck.calibration.files import R_ALIGN_SPEC, read_npy

    fix = "run camdeck calibrate align again"
    R = read_npy(path, R_ALIGN_SPEC, fix).astype(np.float64)
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise CalibrationFileError(f"{path}: not a 3x3 rotation matrix", fix)
    return R
