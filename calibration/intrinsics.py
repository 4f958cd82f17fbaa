"""Camera intrinsics from chessboard views: detect, solve, reject outlier views, save.

The job reads every view, rejects what it cannot use (each with its reason), solves with
``cv2.calibrateCameraExtended`` for the per-view reprojection error, drops views whose error
stands far above the rest, solves again, and reports. ``calibration.npz`` holds ``K`` (3, 3),
``dist`` (1, N), ``image_size`` (w, h) and ``rms`` (px), plus the per-view errors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, Union

import numpy as np

from camdeck.calibration.chessboard import Board, Detection, detect_chessboard, read_image
from camdeck.calibration.errors import (BoardMismatch, CalibrationInputError, NotEnoughViews,
                                SolveFailed)

#: A view is a file path, or a (name, array) pair for frames already in memory.
ViewSource = Union[str, Path, tuple[str, np.ndarray]]
#: progress(stage, done, total): stage is "detect", "solve" or "refine".
Progress = Callable[[str, int, int], None]

MIN_VIEWS = 5
OUTLIER_FACTOR = 3.0        # a view whose error exceeds this times the median ...
OUTLIER_FLOOR_PX = 0.5      # ... and this many pixels is rejected


@dataclass
class ViewResult:
    """One view that went into the solve: its name, corners (N, 2) px and pose (rvec, tvec mm)."""

    name: str
    corners: np.ndarray
    error_px: float = float("nan")
    rvec: np.ndarray | None = None
    tvec: np.ndarray | None = None


@dataclass
class IntrinsicsResult:
    """A solved camera.

    Attributes:
        K: (3, 3) float64 camera matrix, px.
        dist: (1, 5) float64 distortion (k1, k2, p1, p2, k3).
        image_size: (width, height), px.
        rms: overall RMS reprojection error of the used views, px.
        views: the views used, in input order, each with its error and pose.
        rejected: (name, reason) for every view left out.
        board: the board solved with.
    """

    K: np.ndarray
    dist: np.ndarray
    image_size: tuple[int, int]
    rms: float
    views: list[ViewResult]
    rejected: list[tuple[str, str]] = field(default_factory=list)
    board: Board | None = None

    @property
    def used(self) -> list[str]:
        return [v.name for v in self.views]

    def to_json(self) -> dict[str, Any]:
        """What ``camdeck calibrate intrinsics --json`` prints."""
        return {
            "rms": float(self.rms),
            "K": self.K.tolist(),
            "dist": self.dist.ravel().tolist(),
            "image_size": list(self.image_size),
            "used": [{"file": v.name, "error_px": round(float(v.error_px), 4)} for v in self.views],
            "rejected": [{"file": name, "reason": reason} for name, reason in self.rejected],
        }


@dataclass
class LoadedViews:
    """Views read and searched for the board, before any solve."""

    detections: list[tuple[str, Detection]]        # found boards, in input order
    rejected: list[tuple[str, str]]
    image_size: tuple[int, int] | None
    readable: int                                   # views that were images of the right size


def _view_name(src: ViewSource, index: int) -> str:
    if isinstance(src, tuple):
        return str(src[0]) if src[0] else f"view {index}"
    return str(src)


def _load(src: ViewSource, pixel_format: str | None) -> tuple[np.ndarray | None, str]:
    if isinstance(src, tuple):
        arr = np.asarray(src[1]) if src[1] is not None else None
        if arr is None or arr.size == 0:
            return None, "empty image"
        from camdeck.calibration.chessboard import to_gray
        try:
            return to_gray(arr, pixel_format), ""
        except CalibrationInputError as err:
            return None, err.message
    return read_image(src)


def detect_views(sources: Sequence[ViewSource], board: Board, *, pixel_format: str | None = None,
                 image_size: tuple[int, int] | None = None, progress: Progress | None = None) -> LoadedViews:
    """Read every view and find the board; unusable views are listed with their reason.

    Args:
        sources: file paths or (name, array) pairs.
        board: the board to look for.
        pixel_format: for in-memory raw frames (e.g. "RAW8_RGGB"); files are read as grey.
        image_size: (w, h) every view must have; None takes the size most views share.
        progress: called as progress("detect", done, total).
    """
    images: list[tuple[str, np.ndarray | None, str]] = []
    rejected: list[tuple[str, str]] = []
    for i, src in enumerate(sources):
        name = _view_name(src, i)
        img, reason = _load(src, pixel_format)
        images.append((name, img, reason))
    if image_size is None:
        sizes = [(im.shape[1], im.shape[0]) for _, im, _ in images if im is not None]
        image_size = max(set(sizes), key=sizes.count) if sizes else None
    detections: list[tuple[str, Detection]] = []
    readable = 0
    total = len(images)
    for i, (name, img, reason) in enumerate(images):
        if img is None:
            rejected.append((name, reason))
        elif (img.shape[1], img.shape[0]) != tuple(image_size):
            rejected.append((name, f"image is {img.shape[1]}x{img.shape[0]}, the set is "
                                   f"{image_size[0]}x{image_size[1]}"))
        else:
            readable += 1
            det = detect_chessboard(img, board)
            if det.found:
                detections.append((name, det))
            else:
                rejected.append((name, det.reason))
        if progress:
            progress("detect", i + 1, total)
    return LoadedViews(detections, rejected, tuple(image_size) if image_size else None, readable)


def check_enough(loaded: LoadedViews, board: Board, min_views: int, what: str = "views") -> None:
    """Raise the right bad-input error when too few views show the board.

    Raises:
        BoardMismatch: images were readable but none shows the board.
        NotEnoughViews: fewer than ``min_views`` usable views, naming how many were found.
    """
    found = len(loaded.detections)
    if found == 0 and loaded.readable > 0:
        raise BoardMismatch(
            f"none of the {loaded.readable} readable images shows a {board.label} chessboard (inner corners)",
            "check --board: it counts inner corners, columns x rows (a board of 10 x 7 squares is 9x6)")
    if found < min_views:
        no_board = sum(1 for _, reason in loaded.rejected if "chessboard" in reason)
        fix = "capture more views with the whole board visible, at varied positions and tilts"
        if no_board > found:
            fix = (f"check --board first ({no_board} readable images show no {board.label} board; it counts "
                   "inner corners, columns x rows), then " + fix)
        raise NotEnoughViews(
            f"found {found} usable {what}, need at least {min_views} ({len(loaded.rejected)} rejected)",
            fix, found=found, needed=min_views)


def calibrate_intrinsics(sources: Sequence[ViewSource], board: Board, *, min_views: int = MIN_VIEWS,
                         pixel_format: str | None = None, image_size: tuple[int, int] | None = None,
                         reject_outliers: bool = True, progress: Progress | None = None) -> IntrinsicsResult:
    """Calibrate one camera from chessboard views.

    Args:
        sources: image files or (name, array) pairs; unreadable, corrupt, empty or wrong-size views
            are rejected with their reason and the run goes on.
        board: the chessboard (inner corners and square size).
        min_views: fewest usable views to solve with (>= 3).
        pixel_format: for in-memory frames, e.g. "RAW8_RGGB".
        image_size: (w, h) the views must have; None takes the most common size.
        reject_outliers: drop views whose reprojection error is far above the median, then re-solve.
        progress: callback progress(stage, done, total).

    Returns:
        IntrinsicsResult with K, dist, rms, per-view errors and the rejected views.

    Raises:
        CalibrationInputError: min_views < 3.
        BoardMismatch: no readable image shows the board.
        NotEnoughViews: fewer usable views than ``min_views``.
        SolveFailed: the solver did not converge.
    """
    if not isinstance(min_views, (int, np.integer)) or min_views < 3:
        raise CalibrationInputError(f"min_views must be an integer >= 3, got {min_views!r}",
                                    "ask for at least 3 views (10-20 is typical)")
    loaded = detect_views(sources, board, pixel_format=pixel_format, image_size=image_size, progress=progress)
    check_enough(loaded, board, min_views)
    views = [ViewResult(name, det.corners) for name, det in loaded.detections]
    return solve_intrinsics(views, board, loaded.image_size, rejected=loaded.rejected, min_views=min_views,
                            reject_outliers=reject_outliers, progress=progress)


def solve_intrinsics(views: list[ViewResult], board: Board, image_size: tuple[int, int], *,
                     rejected: Iterable[tuple[str, str]] = (), min_views: int = MIN_VIEWS,
                     reject_outliers: bool = True, progress: Progress | None = None) -> IntrinsicsResult:
    """Solve K and distortion from views whose corners are already found (see :func:`calibrate_intrinsics`)."""
    rejected = list(rejected)
    views = list(views)
    if len(views) < min_views:
        raise NotEnoughViews(f"found {len(views)} usable views, need at least {min_views}",
                             "capture more views with the whole board visible", found=len(views), needed=min_views)
    max_rounds = 3 if reject_outliers else 1
    for round_ in range(max_rounds):
        if progress:
            progress("solve" if round_ == 0 else "refine", round_, max_rounds)
        rms, K, dist, rvecs, tvecs, errors = _calibrate(views, board, image_size)
        for v, e, r, t in zip(views, errors, rvecs, tvecs):
            v.error_px, v.rvec, v.tvec = float(e), np.asarray(r).reshape(3), np.asarray(t).reshape(3)
        if not reject_outliers:
            break
        med = float(np.median(errors))
        limit = max(OUTLIER_FACTOR * med, OUTLIER_FLOOR_PX)
        bad = [v for v in views if v.error_px > limit]
        if not bad or len(views) - len(bad) < min_views:
            break
        for v in bad:
            rejected.append((v.name, f"reprojection error {v.error_px:.2f} px is over {limit:.2f} px "
                                     f"({OUTLIER_FACTOR:g}x the median {med:.2f} px)"))
        views = [v for v in views if v.error_px <= limit]
    if progress:
        progress("refine", max_rounds, max_rounds)
    return IntrinsicsResult(K=K, dist=dist, image_size=tuple(image_size), rms=float(rms), views=views,
                            rejected=rejected, board=board)


def _calibrate(views: list[ViewResult], board: Board, image_size: tuple[int, int]):
    import cv2

    obj = board.object_points()
    object_points = [obj.reshape(-1, 1, 3) for _ in views]
    image_points = [v.corners.reshape(-1, 1, 2).astype(np.float32) for v in views]
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    try:
        rms, K, dist, rvecs, tvecs, _, _, errors = cv2.calibrateCameraExtended(
            object_points, image_points, tuple(int(v) for v in image_size), None, None, criteria=criteria)
    except cv2.error as err:
        raise SolveFailed(f"the intrinsics solver failed: {' '.join(str(err).split())[:200]}",
                          "use views with the board at varied tilts, not all parallel to the sensor") from None
    if not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise SolveFailed("the intrinsics solver returned an invalid camera matrix",
                          "use more views, at varied tilts and covering the whole sensor")
    return rms, K, np.asarray(dist, dtype=np.float64).reshape(1, -1), rvecs, tvecs, np.asarray(errors).ravel()


# ------------------------------------------------------------------------- files

def save_calibration(path: str | Path, result: IntrinsicsResult) -> Path:
    """Write ``calibration.npz``: K (3, 3), dist (1, N), image_size (w, h), rms, plus the view errors.

    Atomic: a failed write leaves the old file as it was.

    Raises:
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    from camdeck.calibration.outputs import write_atomic

    return write_atomic(path, lambda fh: np.savez(
        fh, K=result.K, dist=result.dist, image_size=np.asarray(result.image_size, dtype=np.int64),
        rms=np.float64(result.rms),
        view_names=np.asarray(result.used, dtype=str),
        view_errors_px=np.asarray([v.error_px for v in result.views], dtype=np.float64)))


@dataclass(frozen=True)
class CameraCalibration:
    """What ``calibration.npz`` holds: K (3, 3), dist (1, N), image_size (w, h), rms (px)."""

    K: np.ndarray
    dist: np.ndarray
    image_size: tuple[int, int]
    rms: float


def load_calibration(path: str | Path) -> CameraCalibration:
    """Read ``calibration.npz``.

    Raises:
        CalibrationFileError: missing, not a regular file, corrupt, or a key missing or malformed
            (K not a finite camera matrix, dist not 4/5/8/12/14 finite values, image_size not (w, h)).
    """
    from camdeck.calibration.files import CAMERA_SPEC, check_camera_matrix, read_npz

    fix = "run camdeck calibrate intrinsics again to rewrite it"
    data = read_npz(path, CAMERA_SPEC, fix)
    K = check_camera_matrix(data["K"], path, "K", fix)
    size = tuple(int(v) for v in data["image_size"])
    return CameraCalibration(K, data["dist"].astype(np.float64).reshape(1, -1), size, float(data["rms"].ravel()[0]))
