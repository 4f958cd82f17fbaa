"""Orientation offsets of a PTZ mount: the rotation ΔR between a reference scan and a query scan.

Geometry (docs/design.md): a camera's orientation is ``R_W_cam = R_align · ΔR · R_B_cam(ψ, θ)``,
and a reference scan is taken with ΔR = I. A world point seen in a reference frame r and in a
query frame q gives optical rays ``x_r = K_r⁻¹ p_r`` and ``x_q = K_q⁻¹ p_q``; lifted into the
mount frame with each frame's own pan/tilt, ``b_r = R_B_cam(ψr, θr) x_r`` and
``b_q = R_B_cam(ψq, θq) x_q``, they satisfy ``b_r = ΔR · b_q`` (R_align cancels). So each query
frame's matches against its nearest reference frames give ΔR by Wahba/Kabsch inside RANSAC
(``calibration.align.ransac_rotation``); the frames' estimates are combined robustly
(iteratively re-weighted rotation averaging, then one Kabsch over the agreeing frames'
inliers), and ΔR is reported as ``pitch_deg, yaw_deg, roll_deg`` per docs/design.md.

A query whose frames find too few matches fails with its reason (``OffsetsFailed``), never
with a number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from camdeck.calibration.align import (
    ScanFrame,
    ScanManifest,
    angular_residuals_deg,
    kabsch_rotation,
    pixel_rays,
    ransac_rotation,
    read_scan_manifest,
)
from camdeck.calibration.errors import CalibrationFileError, SolveFailed
from camdeck.calibration.features import Features, extract_features, load_features
from camdeck.calibration.rotations import R_B_cam, offsets_from_delta_R, rotation_angle_deg
from camdeck.fastcore.extras import require_extra

Progress = Callable[[int, int, str], None]


class OffsetsFailed(SolveFailed):
    """The query could not be registered against the reference (too few matches, no overlap).

    Attributes:
        per_frame: what each query frame found, for the report.
    """

    def __init__(self, message: str, fix: str = "", *, per_frame: Sequence["FrameOffset"] = ()) -> None:
        self.per_frame = tuple(per_frame)
        super().__init__(message, fix)


@dataclass(frozen=True)
class OffsetsOptions:
    """Knobs of the estimation (the defaults suit the simulator and real 1080p PTZ views).

    Attributes:
        neighbours: reference frames matched per query frame (nearest by optical axis).
        max_axis_angle_deg: a reference frame further than this from the query's axis is skipped
            (None: the query's horizontal field of view).
        ratio: Lowe's ratio test for descriptor matches.
        threshold_px: RANSAC inlier threshold, pixels of the query frame.
        min_inliers: a query frame needs this many inliers to count.
        agree_deg: a frame whose own ΔR is further than this from the combined one is left out.
        max_features: strongest features kept per frame.
        method: feature method ("sift" | "disk", calibration.features).
    """

    neighbours: int = 2
    max_axis_angle_deg: float | None = None
    ratio: float = 0.8
    threshold_px: float = 2.0
    min_inliers: int = 25
    agree_deg: float = 0.25
    max_features: int = 4000
    method: str = "sift"


@dataclass(frozen=True)
class FrameOffset:
    """What one query frame found. Angles in degrees; None when the frame failed."""

    query_index: int
    reference_index: int | None
    pan_deg: float
    tilt_deg: float
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    roll_deg: float | None = None
    matches: int = 0
    inliers: int = 0
    residual_deg: float | None = None
    used: bool = False
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("query_index", "reference_index", "pan_deg", "tilt_deg", "pitch_deg",
                                              "yaw_deg", "roll_deg", "matches", "inliers", "residual_deg", "used",
                                              "error")}


@dataclass(frozen=True)
class OffsetsResult:
    """The combined mount offset and its evidence.

    Attributes:
        pitch_deg, yaw_deg, roll_deg: ΔR's angles (docs/design.md), degrees.
        delta_R: (3, 3) float64 ΔR.
        frames: query frames that agree and were combined.
        inliers: inlier matches over those frames.
        confidence: 0..1, (agreeing frames / query frames) x (inliers / matches of those frames).
        residual_deg: RMS inlier residual of the combined ΔR, degrees.
        per_frame: every query frame's own result.
    """

    pitch_deg: float
    yaw_deg: float
    roll_deg: float
    delta_R: np.ndarray
    frames: int
    inliers: int
    confidence: float
    residual_deg: float
    per_frame: tuple[FrameOffset, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``camdeck offsets --json`` (and the report's input)."""
        return {"pitch_deg": self.pitch_deg, "yaw_deg": self.yaw_deg, "roll_deg": self.roll_deg,
                "frames": self.frames, "inliers": self.inliers, "confidence": self.confidence,
                "residual_deg": self.residual_deg, "delta_R": self.delta_R.tolist(),
                "per_frame": [f.to_dict() for f in self.per_frame]}


# ---------------------------------------------------------------- features

def _frame_features(frame: ScanFrame, method: str, max_features: int) -> Features:
    """Stored features (``features/*.npz``) when the manifest names them and they match ``method``,
    else features extracted from the image."""
    if frame.features is not None and frame.features.is_file():
        try:
            stored = load_features(frame.features)
            if stored.method == method:
                return stored
        except CalibrationFileError:
            pass  # unreadable: compute from the image instead
    return extract_features(_read_rgb(frame.image), method, max_features=max_features)


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise CalibrationFileError(f"scan image {path}: not found", "collect the scan again")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise CalibrationFileError(f"scan image {path}: not a readable image", "collect the scan again")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _match(query: Features, ref: Features, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours passing the ratio test: (query idx (M,), ref idx (M,))."""
    import cv2

    if len(query) < 2 or len(ref) < 2:
        return np.zeros(0, int), np.zeros(0, int)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    fwd = matcher.knnMatch(query.descriptors, ref.descriptors, k=2)
    back = matcher.match(ref.descriptors, query.descriptors)
    back_of = {m.queryIdx: m.trainIdx for m in back}
    qi, ri = [], []
    for pair in fwd:
        if len(pair) < 2:
            continue
        best, second = pair
        if best.distance < ratio * second.distance and back_of.get(best.trainIdx) == best.queryIdx:
            qi.append(best.queryIdx)
            ri.append(best.trainIdx)
    return np.asarray(qi, int), np.asarray(ri, int)


# ---------------------------------------------------------------- estimation

def _axis(frame: ScanFrame) -> np.ndarray:
    return R_B_cam(frame.pan_deg, frame.tilt_deg)[:, 2]


def _hfov_deg(frame: ScanFrame, width_px: int) -> float:
    return math.degrees(2.0 * math.atan((width_px / 2.0) / frame.K[0, 0]))


def nearest_reference_frames(query: ScanFrame, reference: Sequence[ScanFrame], count: int,
                             max_angle_deg: float) -> list[ScanFrame]:
    """Up to ``count`` reference frames whose optical axes are nearest the query's (within ``max_angle_deg``)."""
    q = _axis(query)
    scored = []
    for frame in reference:
        angle = math.degrees(math.acos(max(-1.0, min(1.0, float(q @ _axis(frame))))))
        if angle <= max_angle_deg:
            scored.append((angle, frame.index, frame))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [frame for _, _, frame in scored[:count]]


def estimate_frame_offset(query: ScanFrame, query_feats: Features, refs: Sequence[tuple[ScanFrame, Features]],
                          options: OffsetsOptions) -> tuple[FrameOffset, np.ndarray | None, tuple | None]:
    """ΔR from one query frame against its reference frames.

    Returns:
        (the frame's result, its ΔR (3, 3) or None, (b_q, b_r) inlier rays or None).
    """
    b_q_all, b_r_all = [], []
    Rq = R_B_cam(query.pan_deg, query.tilt_deg)
    for ref, ref_feats in refs:
        qi, ri = _match(query_feats, ref_feats, options.ratio)
        if len(qi) == 0:
            continue
        Rr = R_B_cam(ref.pan_deg, ref.tilt_deg)
        b_q_all.append(pixel_rays(query.K, query_feats.keypoints[qi]) @ Rq.T)
        b_r_all.append(pixel_rays(ref.K, ref_feats.keypoints[ri]) @ Rr.T)
    base = dict(query_index=query.index, reference_index=refs[0][0].index if refs else None,
                pan_deg=query.pan_deg, tilt_deg=query.tilt_deg)
    if not refs:
        return FrameOffset(**base, error="no reference frame overlaps this view"), None, None
    matches = int(sum(len(b) for b in b_q_all))
    if matches < options.min_inliers:
        return FrameOffset(**base, matches=matches,
                           error=f"{matches} matches, {options.min_inliers} needed"), None, None
    b_q, b_r = np.vstack(b_q_all), np.vstack(b_r_all)
    threshold_deg = math.degrees(math.atan(options.threshold_px / query.K[0, 0]))
    try:
        dR, inliers = ransac_rotation(b_q, b_r, threshold_deg, iterations=400, seed=query.index)
    except SolveFailed as err:
        return FrameOffset(**base, matches=matches, error=err.message), None, None
    count = int(inliers.sum())
    if count < options.min_inliers:
        return FrameOffset(**base, matches=matches, inliers=count,
                           error=f"{count} inlier matches, {options.min_inliers} needed"), None, None
    res = angular_residuals_deg(dR, b_q[inliers], b_r[inliers])
    pitch, yaw, roll = offsets_from_delta_R(dR)
    frame = FrameOffset(**base, pitch_deg=pitch, yaw_deg=yaw, roll_deg=roll, matches=matches, inliers=count,
                        residual_deg=float(np.sqrt(np.mean(res ** 2))))
    return frame, dR, (b_q[inliers], b_r[inliers])


def average_rotations(rotations: Sequence[np.ndarray], weights: Sequence[float], *, scale_deg: float = 0.05,
                      iterations: int = 20) -> np.ndarray:
    """Robust mean rotation: chordal mean, re-weighted by a Cauchy function of each one's distance.

    Args:
        rotations: (3, 3) rotations.
        weights: prior weight of each (e.g. its inlier count).
        scale_deg: the Cauchy scale; rotations several times further than this barely count.
    Returns:
        (3, 3) rotation.
    """
    Rs = np.asarray(rotations, dtype=np.float64)
    w0 = np.asarray(weights, dtype=np.float64)
    w = w0.copy()
    mean = _project_so3(np.tensordot(w, Rs, axes=1))
    for _ in range(iterations):
        dist = np.array([rotation_angle_deg(mean.T @ R) for R in Rs])
        w = w0 / (1.0 + (dist / scale_deg) ** 2)
        new = _project_so3(np.tensordot(w, Rs, axes=1))
        if rotation_angle_deg(new.T @ mean) < 1e-6:
            mean = new
            break
        mean = new
    return mean


def _project_so3(M: np.ndarray) -> np.ndarray:
    U, _, Vt = np.linalg.svd(M)
    d = 1.0 if np.linalg.det(U @ Vt) >= 0 else -1.0
    return U @ np.diag([1.0, 1.0, d]) @ Vt


def estimate_offsets(reference: ScanManifest, query: ScanManifest, options: OffsetsOptions | None = None,
                     progress: Progress | None = None) -> OffsetsResult:
    """The mount offset ΔR between two scans of the same camera.

    Args:
        reference: the reference scan (taken with ΔR = I).
        query: the query scan.
        options: estimation knobs.
        progress: called as ``progress(done, total, message)`` after each query frame.
    Raises:
        CalibrationFileError: an image is missing or unreadable (bad input, exit 2).
        OffsetsFailed: no query frame found enough matches (the run failed, exit 1).
    """
    options = options or OffsetsOptions()
    if options.method == "disk":     # before any frame: the whole run would fail frame by frame
        require_extra("torch", 'features = "disk"')
        require_extra("kornia.feature", 'features = "disk"')
    ref_cache: dict[int, Features] = {}
    width = query.image_size[0] or int(round(2 * query.frames[0].K[0, 2] + 1))
    per_frame: list[FrameOffset] = []
    good: list[tuple[int, np.ndarray, tuple]] = []
    total = len(query.frames)
    for n, qframe in enumerate(query.frames):
        max_angle = options.max_axis_angle_deg or _hfov_deg(qframe, width)
        near = nearest_reference_frames(qframe, reference.frames, options.neighbours, max_angle)
        refs = []
        for ref in near:
            if ref.index not in ref_cache:
                ref_cache[ref.index] = _frame_features(ref, options.method, options.max_features)
            refs.append((ref, ref_cache[ref.index]))
        result, dR, rays = estimate_frame_offset(qframe, _frame_features(qframe, options.method, options.max_features), refs, options)
        per_frame.append(result)
        if dR is not None:
            good.append((len(per_frame) - 1, dR, rays))
        if progress is not None:
            progress(n + 1, total, f"query frame {qframe.index}: " + (result.error or f"{result.inliers} inliers"))
    if not good:
        reasons = "; ".join(f"frame {f.query_index}: {f.error}" for f in per_frame[:5])
        raise OffsetsFailed(f"offsets: no query frame matched the reference ({reasons})",
                            "check that the reference scan is of this camera and covers the query's view; "
                            "collect the references again if the scene changed", per_frame=per_frame)
    mean = average_rotations([g[1] for g in good], [per_frame[g[0]].inliers for g in good],
                             scale_deg=options.agree_deg / 3.0)
    agree = [g for g in good if rotation_angle_deg(mean.T @ g[1]) <= options.agree_deg]
    if not agree:  # every frame disagrees with the robust mean: keep the strongest one
        agree = [max(good, key=lambda g: per_frame[g[0]].inliers)]
    b_q = np.vstack([g[2][0] for g in agree])
    b_r = np.vstack([g[2][1] for g in agree])
    dR = kabsch_rotation(b_q, b_r)
    for idx, _, _ in agree:
        f = per_frame[idx]
        per_frame[idx] = FrameOffset(**{**f.to_dict(), "used": True})
    res = angular_residuals_deg(dR, b_q, b_r)
    pitch, yaw, roll = offsets_from_delta_R(dR)
    used = [per_frame[g[0]] for g in agree]
    inliers = int(sum(f.inliers for f in used))
    matches = int(sum(f.matches for f in used))
    confidence = (len(agree) / total) * (inliers / matches if matches else 0.0)
    return OffsetsResult(pitch_deg=pitch, yaw_deg=yaw, roll_deg=roll, delta_R=dR, frames=len(agree),
                         inliers=inliers, confidence=float(round(confidence, 4)),
                         residual_deg=float(np.sqrt(np.mean(res ** 2))), per_frame=tuple(per_frame))


def offsets_from_dirs(reference_dir: str | Path, query_dir: str | Path, options: OffsetsOptions | None = None,
                      progress: Progress | None = None) -> OffsetsResult:
    """``camdeck offsets``: read both scans' manifests and estimate the offsets.

    Raises:
        CalibrationFileError: a scan folder, manifest or image is missing or corrupt.
        OffsetsFailed: too few matches.
    """
    reference = read_scan_manifest(reference_dir)
    query = read_scan_manifest(query_dir)
    if reference.camera and query.camera and reference.camera != query.camera:
        raise CalibrationFileError(f"--query {query_dir}: camera {query.camera!r} differs from the reference's "
                                   f"{reference.camera!r}", "pass a query scan of the same camera")
    return estimate_offsets(reference, query, options, progress)
