"""Orientation offsets of a PTZ mount: the rotation ΔR between a reference scan and a query scan.

Geometry (docs/design.md): a camera's orientation is ``R_W_cam = R_align · ΔR · R_B_cam(ψ, θ)``,
and a reference scan is taken with ΔR = I. A world point seen in a reference frame r and in a
query frame q gives optical rays ``x_r = K_r⁻¹ p_r`` and ``x_q = K_q⁻¹ p_q``; lifted into the
mount frame with each frame's own pan/tilt, ``b_r = R_B_cam(ψr, θr) x_r`` and
``b_q = R_B_cam(ψq, θq) x_q``, they satisfy ``b_r = ΔR · b_q`` (R_align cancels). So each query
frame's matches against the reference frames that show most of its view give ΔR by
Wahba/Kabsch inside RANSAC (``calibration.align.ransac_rotation``); the frames' estimates are
combined robustly (iteratively re-weighted rotation averaging, then one Kabsch over the
agreeing frames' inliers), and ΔR is reported as ``pitch_deg, yaw_deg, roll_deg`` per
docs/design.md.

Reference frames are chosen by how much of the query's image they show (calibration.views), so
a query zoomed in to a few degrees finds the zoom-0 frames it lies in; a query zoomed in well
past the reference is matched in a virtual camera both are resampled into
(calibration.matching). With a lens calibration the frames' ``dist`` undistorts every ray.
The confidence (calibration.confidence) falls when the inliers cover little of the image or
spread over a small angle, however cleanly they match.

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
    ScanManifest,
    angular_residuals_deg,
    kabsch_rotation,
    ransac_rotation,
    read_scan_manifest,
)
from camdeck.calibration.confidence import evidence, image_coverage
from camdeck.calibration.errors import CalibrationFileError, SolveFailed
from camdeck.calibration.matching import FrameSource, pair_rays
from camdeck.calibration.rotations import offsets_from_delta_R, rotation_angle_deg
from camdeck.calibration.views import frames_by_overlap, rays_to_pixels
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
        neighbours: reference frames matched per query frame (those showing most of its view).
        min_overlap: a reference frame showing less than this fraction of the query's image is skipped.
        ratio: Lowe's ratio test for descriptor matches.
        threshold_px: RANSAC inlier threshold, pixels of the query frame (of the virtual camera
            when a zoomed query is matched by resampling).
        min_inliers: a query frame needs this many inliers to count (2-point rotation hypotheses make a
            chance consensus of 15 within the threshold negligible; a view zoomed to a few degrees
            of a small reference may hold no more).
        agree_deg: a frame whose own ΔR is further than this from the combined one is left out.
        max_features: strongest features kept per frame.
        method: feature method ("sift" | "disk", calibration.features).
    """

    neighbours: int = 2
    min_overlap: float = 0.1
    ratio: float = 0.8
    threshold_px: float = 2.0
    min_inliers: int = 15
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
    coverage: float | None = None
    resampled: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("query_index", "reference_index", "pan_deg", "tilt_deg", "pitch_deg",
                                              "yaw_deg", "roll_deg", "matches", "inliers", "residual_deg", "used",
                                              "error", "coverage", "resampled")}


@dataclass(frozen=True)
class OffsetsResult:
    """The combined mount offset and its evidence.

    Attributes:
        pitch_deg, yaw_deg, roll_deg: ΔR's angles (docs/design.md), degrees.
        delta_R: (3, 3) float64 ΔR.
        frames: query frames that agree and were combined.
        inliers: inlier matches over those frames.
        confidence: 0..1, (agreeing frames / query frames) x (inliers / matches of those frames)
            x coverage and spread credit (calibration.confidence).
        residual_deg: RMS inlier residual of the combined ΔR, degrees.
        per_frame: every query frame's own result.
        coverage: mean share of the image the used frames' inliers cover (8 x 8 cells), 0..1.
        spread_deg: RMS angle of the inlier rays about their worst-constrained axis, degrees.
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
    coverage: float = 0.0
    spread_deg: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``camdeck offsets --json`` (and the report's input)."""
        return {"pitch_deg": self.pitch_deg, "yaw_deg": self.yaw_deg, "roll_deg": self.roll_deg,
                "frames": self.frames, "inliers": self.inliers, "confidence": self.confidence,
                "residual_deg": self.residual_deg, "coverage": self.coverage, "spread_deg": self.spread_deg,
                "delta_R": self.delta_R.tolist(),
                "per_frame": [f.to_dict() for f in self.per_frame]}


# ---------------------------------------------------------------- estimation

def reference_frames_for(query: FrameSource, reference: Sequence[FrameSource], options: "OffsetsOptions"
                         ) -> list[tuple[FrameSource, float]]:
    """The reference frames a query frame is matched against: those showing most of its view.

    Returns:
        up to ``options.neighbours`` (frame, overlap fraction) pairs, best first
        (calibration.views.frames_by_overlap).
    """
    chosen = frames_by_overlap(query.view, [(ref, ref.view) for ref in reference], options.neighbours,
                               options.min_overlap)
    return chosen  # type: ignore[return-value]


def estimate_frame_offset(query: FrameSource, refs: Sequence[FrameSource], options: "OffsetsOptions"
                          ) -> tuple[FrameOffset, np.ndarray | None, tuple | None]:
    """ΔR from one query frame against its reference frames.

    Returns:
        (the frame's result, its ΔR (3, 3) or None, (b_q, b_r) inlier rays or None).
    """
    frame = query.frame
    base = dict(query_index=frame.index, reference_index=refs[0].frame.index if refs else None,
                pan_deg=frame.pan_deg, tilt_deg=frame.tilt_deg)
    if not refs:
        return FrameOffset(**base, error="no reference frame overlaps this view"), None, None
    pairs = [pair_rays(query, ref, options.ratio) for ref in refs]
    solved = _solve_pairs(pairs, options, frame.index)
    if isinstance(solved, tuple) and any(p.resampled for p in pairs):
        # zoomed in: match again with the reference resampled where the first estimate says the
        # query looks, so the two virtual images line up and tracking covers the whole view
        again = _solve_pairs([pair_rays(query, ref, options.ratio, prior=solved[0]) for ref in refs], options,
                             frame.index)
        if isinstance(again, tuple) and int(again[1].sum()) >= int(solved[1].sum()):
            solved = again
    if isinstance(solved, str):
        matches = int(sum(len(p) for p in pairs))
        return FrameOffset(**base, matches=matches, error=solved), None, None
    dR, inliers, b_q, b_r, matches = solved
    count = int(inliers.sum())
    if count < options.min_inliers:
        return FrameOffset(**base, matches=matches, inliers=count,
                           error=f"{count} inlier matches, {options.min_inliers} needed"), None, None
    res = angular_residuals_deg(dR, b_q[inliers], b_r[inliers])
    pitch, yaw, roll = offsets_from_delta_R(dR)
    uv, front = rays_to_pixels(query.view, b_q[inliers] @ query.view.R)
    result = FrameOffset(**base, pitch_deg=pitch, yaw_deg=yaw, roll_deg=roll, matches=matches, inliers=count,
                         residual_deg=float(np.sqrt(np.mean(res ** 2))),
                         coverage=image_coverage(uv[front], query.view.size),
                         resampled=any(p.resampled for p in pairs))
    return result, dR, (b_q[inliers], b_r[inliers])


def _solve_pairs(pairs: Sequence[Any], options: "OffsetsOptions", seed: int) -> tuple | str:
    """RANSAC ΔR over the pairs' rays: (ΔR, inliers, b_q, b_r, matches), or why not (a message)."""
    pairs = [p for p in pairs if len(p)]
    matches = int(sum(len(p) for p in pairs))
    if matches < options.min_inliers:
        return f"{matches} matches, {options.min_inliers} needed"
    b_q = np.vstack([p.b_q for p in pairs])
    b_r = np.vstack([p.b_r for p in pairs])
    # the threshold holds in the pixels the keypoints were found in: the coarsest of the pairs'
    threshold_deg = math.degrees(math.atan(options.threshold_px / min(p.focal_px for p in pairs)))
    try:
        dR, inliers = ransac_rotation(b_q, b_r, threshold_deg, iterations=400, seed=seed)
    except SolveFailed as err:
        return err.message
    return dR, inliers, b_q, b_r, matches


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
    refs = [FrameSource(f, reference.image_size, options.method, options.max_features) for f in reference.frames]
    per_frame: list[FrameOffset] = []
    good: list[tuple[int, np.ndarray, tuple]] = []
    total = len(query.frames)
    for n, qframe in enumerate(query.frames):
        source = FrameSource(qframe, query.image_size, options.method, options.max_features)
        chosen = [ref for ref, _ in reference_frames_for(source, refs, options)]
        result, dR, rays = estimate_frame_offset(source, chosen, options)
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
    proof = evidence(inliers, matches, len(agree), total, [f.coverage or 0.0 for f in used], b_q)
    return OffsetsResult(pitch_deg=pitch, yaw_deg=yaw, roll_deg=roll, delta_R=dR, frames=len(agree),
                         inliers=inliers, confidence=float(round(proof.confidence, 4)),
                         residual_deg=float(np.sqrt(np.mean(res ** 2))), per_frame=tuple(per_frame),
                         coverage=round(proof.coverage, 4), spread_deg=round(proof.spread_deg, 4))


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
