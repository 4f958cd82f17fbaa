"""Chessboard boards and corner detection.

A board is named by its *inner* corners, columns x rows, as OpenCV's ``patternSize``:
a "9x6" board has 10 x 7 squares. Object points are in millimetres on the board plane
(z = 0), in OpenCV's order: row by row, x along a row.

Detection tries ``cv2.findChessboardCornersSB`` (sector-based) and falls back to
``cv2.findChessboardCorners``; both results are refined with ``cv2.cornerSubPix``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camdeck.calibration.errors import BoardSpecError, CalibrationInputError

MIN_INNER_CORNERS = 3
MAX_INNER_CORNERS = 64


@dataclass(frozen=True)
class Board:
    """A planar chessboard.

    Attributes:
        cols: inner corners along a row (OpenCV ``patternSize[0]``), 3..64.
        rows: inner corners along a column (``patternSize[1]``), 3..64.
        square_mm: side of one square, millimetres, > 0.
    """

    cols: int
    rows: int
    square_mm: float

    def __post_init__(self) -> None:
        for name in ("cols", "rows"):
            value = getattr(self, name)
            # OpenCV's detectors need more than two inner corners each way (findChessboardCornersSB
            # fails an assertion on 2), so a 2-corner side could never be found.
            if not isinstance(value, (int, np.integer)) or not MIN_INNER_CORNERS <= value <= MAX_INNER_CORNERS:
                raise BoardSpecError(f"board {name} must be an integer in {MIN_INNER_CORNERS}..{MAX_INNER_CORNERS}, "
                                     f"got {value!r}",
                                     "give the inner corners, e.g. --board 9x6 for a board of 10 x 7 squares")
        if self.cols == self.rows:
            raise BoardSpecError(f"board {self.cols}x{self.rows} is square, so its orientation is ambiguous",
                                 "use a board with different inner-corner counts, e.g. 9x6")
        if not np.isfinite(self.square_mm) or self.square_mm <= 0:
            raise BoardSpecError(f"square size must be a positive number of millimetres, got {self.square_mm!r}",
                                 "measure one square and pass it, e.g. --square-mm 25")

    @classmethod
    def parse(cls, text: str, square_mm: float) -> "Board":
        """Board from ``"9x6"`` (inner corners, columns x rows) and the square size in mm.

        Raises:
            BoardSpecError: text is not ``<cols>x<rows>``, or a value is out of range.
        """
        m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", str(text))
        if not m:
            raise BoardSpecError(f"--board {text!r} is not COLSxROWS",
                                 "give the inner corners, e.g. --board 9x6 for a board of 10 x 7 squares")
        return cls(int(m.group(1)), int(m.group(2)), float(square_mm))

    @property
    def pattern_size(self) -> tuple[int, int]:
        """(cols, rows), as OpenCV's ``patternSize``."""
        return (int(self.cols), int(self.rows))

    @property
    def n_corners(self) -> int:
        return int(self.cols * self.rows)

    @property
    def label(self) -> str:
        return f"{self.cols}x{self.rows}"

    def object_points(self) -> np.ndarray:
        """Corner positions on the board plane, (cols*rows, 3) float32, millimetres, z = 0."""
        ys, xs = np.mgrid[0:self.rows, 0:self.cols]
        pts = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1) * self.square_mm
        return pts.astype(np.float32)


@dataclass(frozen=True)
class Detection:
    """The outcome of looking for a board in one image.

    Attributes:
        found: whether every inner corner was found.
        corners: (cols*rows, 2) float32 pixel coordinates (x, y) when found, else None.
        image_size: (width, height) of the image, px.
        method: "sb" (findChessboardCornersSB) or "classic" (findChessboardCorners), "" when not found;
            either is refined with cornerSubPix.
        reason: why the board was not found ("" when found).
    """

    found: bool
    corners: np.ndarray | None
    image_size: tuple[int, int]
    method: str = ""
    reason: str = ""


def to_gray(image: np.ndarray, pixel_format: str | None = None) -> np.ndarray:
    """A uint8 grey image from a grey, colour or raw Bayer frame.

    Args:
        image: (H, W) grey or raw Bayer, or (H, W, 3) colour; uint8 or uint16.
        pixel_format: "RAW8_RGGB"/"RAW16_RGGB": the (H, W) mosaic is read through
            :func:`balanced_mosaic`; "RGB" or "BGR" says the channel order of a colour image;
            None treats (H, W) as grey and (H, W, 3) as BGR.

    Raises:
        CalibrationInputError: an array that is not an image (wrong ndim, channels, dtype or empty).
    """
    import cv2

    arr = np.asarray(image)
    if arr.size == 0 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise CalibrationInputError(f"expected an (H, W) or (H, W, 3) image, got shape {arr.shape}",
                                    "pass a grey, colour or raw Bayer frame")
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
    elif arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(np.nan_to_num(arr) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        else:
            raise CalibrationInputError(f"unsupported image dtype {arr.dtype}", "pass uint8 or uint16 frames")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    fmt = (pixel_format or "").upper()
    if arr.ndim == 2:
        if fmt.startswith("RAW") and fmt.endswith(("RGGB", "BGGR", "GRBG", "GBRG")):
            return balanced_mosaic(arr)
        return np.ascontiguousarray(arr)
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    code = cv2.COLOR_RGB2GRAY if fmt == "RGB" else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(np.ascontiguousarray(arr), code)


def balanced_mosaic(raw: np.ndarray) -> np.ndarray:
    """A raw Bayer mosaic read as a full-resolution grey image, for a black-and-white target.

    Each of the four Bayer sites is scaled so its bright level (99th percentile: the white
    paper) matches, which flattens the colour filter pattern on a grey board without the
    interpolation of a demosaic. On simulated ASI frames this cuts the corner error by about a
    quarter compared with ``cv2.COLOR_BayerBG2GRAY``.

    Args:
        raw: (H, W) uint8 mosaic, H and W even.

    Returns:
        (H, W) uint8.
    """
    r = np.asarray(raw, dtype=np.float32)
    if r.shape[0] % 2 or r.shape[1] % 2:
        r = r[: r.shape[0] // 2 * 2, : r.shape[1] // 2 * 2]
    out = np.empty_like(r)
    for dy in (0, 1):
        for dx in (0, 1):
            site = r[dy::2, dx::2]
            out[dy::2, dx::2] = site / max(float(np.percentile(site, 99)), 1.0)
    top = float(out.max()) or 1.0
    return np.clip(out * (255.0 / top), 0, 255).astype(np.uint8)


#: Largest image file read, bytes (a 1920x1080 PNG is a few MB).
IMAGE_CAP = 256 * 1024 * 1024


def read_image(path: str | Path) -> tuple[np.ndarray | None, str]:
    """Read an image file as uint8 grey.

    Returns:
        (image (H, W) uint8, "") or (None, reason) for a missing, empty, unreadable or corrupt file,
        a folder, a FIFO or a device, or one over 256 MiB.
    """
    from camdeck.fileio.bounded import UnreadableFile, read_regular

    p = Path(path)
    try:
        raw = read_regular(p, cap=IMAGE_CAP)            # a FIFO or a device is refused, never opened
    except UnreadableFile as err:
        return None, "file not found" if err.problem == "does not exist" else err.problem
    if not raw:
        return None, "empty file (0 bytes)"
    data = np.frombuffer(raw, dtype=np.uint8)
    image = _quiet_decode(data)
    if image is None or image.size == 0:
        return None, "not a readable image (corrupt or unknown format)"
    return to_gray(image), ""


def _quiet_decode(data: np.ndarray) -> np.ndarray | None:
    """cv2.imdecode without OpenCV's own log lines on a corrupt file (the caller reports the reason)."""
    import cv2

    log = getattr(getattr(cv2, "utils", None), "logging", None)
    previous = None
    if log is not None and hasattr(log, "setLogLevel"):
        previous = log.getLogLevel()
        log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    finally:
        if previous is not None:
            log.setLogLevel(previous)


def detect_chessboard(image: np.ndarray, board: Board, *, pixel_format: str | None = None,
                      fallback: bool = False) -> Detection:
    """Find the inner corners of ``board`` in ``image``.

    Args:
        image: (H, W) grey/raw Bayer or (H, W, 3) colour, uint8 or uint16.
        board: the board to look for.
        pixel_format: as for :func:`to_gray` ("RAW8_RGGB" balances the Bayer sites first).
        fallback: try the classic detector (with sub-pixel refinement) when the sector-based one
            fails. Off by default: when the image shows a board of another size than ``board``
            (the usual mistake, counting squares: --board 10x7 for a 9x6 board) OpenCV's classic
            search ran for minutes on one 1920x1080 frame, where the sector-based one answers in
            about a second.

    Returns:
        A :class:`Detection`; ``corners`` are (cols*rows, 2) float32 pixel coordinates.

    Raises:
        CalibrationInputError: ``image`` is not an image.
    """
    import cv2

    gray = to_gray(image, pixel_format)
    h, w = gray.shape
    size = (int(w), int(h))
    min_side = 4 * (max(board.cols, board.rows) + 1)
    if min(w, h) < min_side // 2:
        return Detection(False, None, size, reason=f"image {w}x{h} is too small for a {board.label} board")

    flags = cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
    found, corners = cv2.findChessboardCornersSB(gray, board.pattern_size, flags=flags)
    if found and corners is not None and len(corners) == board.n_corners:
        refined = _refine(gray, corners.reshape(-1, 2).astype(np.float32), board)
        if _pattern_continues(gray, refined, board):
            return Detection(False, None, size, reason=f"shows a chessboard larger than {board.label}: "
                                                      "--board counts all inner corners")
        return Detection(True, _canonical_order(refined, board), size, "sb")
    if fallback:
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        found, corners = cv2.findChessboardCorners(gray, board.pattern_size, flags=flags)
        if found and corners is not None and len(corners) == board.n_corners:
            refined = _refine(gray, corners.reshape(-1, 2).astype(np.float32), board)
            return Detection(True, _canonical_order(refined, board), size, "classic")
    return Detection(False, None, size, reason=f"no {board.label} chessboard found")


def _refine(gray: np.ndarray, corners: np.ndarray, board: Board, max_shift_px: float | None = None) -> np.ndarray:
    """Sub-pixel refinement with ``cv2.cornerSubPix`` over a window a third of a square wide.

    A corner that moves more than ``max_shift_px`` (default: half the window) keeps its first
    estimate: the window slid onto an edge or a neighbour. Measured on simulated views, this
    halves the corner error of the sector-based detector (about 0.1 -> 0.05 px RMS) and removes
    its 1 px outliers on steeply tilted boards.
    """
    import cv2

    win = _subpix_window(corners, board)
    if max_shift_px is None:
        max_shift_px = max(1.0, win / 2.0)
    refined = corners.reshape(-1, 1, 2).copy()
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-3)
    cv2.cornerSubPix(gray, refined, (win, win), (-1, -1), criteria)
    refined = refined.reshape(-1, 2)
    moved = np.linalg.norm(refined - corners, axis=1) > max_shift_px
    refined[moved] = corners[moved]
    return np.ascontiguousarray(refined, dtype=np.float32)


def _pattern_continues(gray: np.ndarray, corners: np.ndarray, board: Board) -> bool:
    """Whether the checker pattern goes on beyond the detected grid (a sub-board of a larger one).

    The detected corners fix a homography from board squares to the image. On a board of the
    given size, the cells one square beyond the outer squares are the paper's margin (or the
    scene); on a larger board they are more squares, alternating in step with the grid's
    parity. Any side whose beyond-cells alternate with at least half the board's contrast
    means the board is larger than asked.
    """
    import cv2

    obj = board.object_points()[:, :2] / board.square_mm            # corner (i, j) in squares
    H, _ = cv2.findHomography(obj, corners.reshape(-1, 2))
    if H is None:
        return False
    h, w = gray.shape
    blurred = cv2.blur(gray, (3, 3)).astype(np.float32)

    def sample(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = cv2.perspectiveTransform(cells.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
        ok = (pts[:, 0] >= 0) & (pts[:, 0] <= w - 1) & (pts[:, 1] >= 0) & (pts[:, 1] <= h - 1)
        vals = np.full(len(cells), np.nan)
        ij = np.rint(pts[ok]).astype(int)
        vals[ok] = blurred[ij[:, 1], ij[:, 0]]
        return vals, (np.floor(cells[:, 0]) + np.floor(cells[:, 1])) % 2

    c, r = board.cols, board.rows
    inner = np.array([(i + 0.5, j + 0.5) for i in range(-1, c) for j in range(-1, r)])
    vals, parity = sample(inner)
    contrast = np.nanmean(vals[parity == 1]) - np.nanmean(vals[parity == 0])
    if not np.isfinite(contrast) or abs(contrast) < 10:
        return False
    sides = [np.array([(-1.5, j + 0.5) for j in range(0, r - 1)]),
             np.array([(c - 1 + 1.5, j + 0.5) for j in range(0, r - 1)]),
             np.array([(i + 0.5, -1.5) for i in range(0, c - 1)]),
             np.array([(i + 0.5, r - 1 + 1.5) for i in range(0, c - 1)])]
    for cells in sides:
        v, p = sample(cells)
        if np.isfinite(v).sum() < 2 or not (np.isfinite(v[p == 1]).any() and np.isfinite(v[p == 0]).any()):
            continue
        step = np.nanmean(v[p == 1]) - np.nanmean(v[p == 0])
        if step / contrast > 0.5:
            return True
    return False


def _subpix_window(corners: np.ndarray, board: Board) -> int:
    """Half-size of the cornerSubPix window: a third of the smallest square side, 2..11 px."""
    grid = corners.reshape(board.rows, board.cols, 2)
    dx = np.linalg.norm(np.diff(grid, axis=1), axis=2).min()
    dy = np.linalg.norm(np.diff(grid, axis=0), axis=2).min()
    return int(np.clip(min(dx, dy) / 3.0, 2, 11))


def _canonical_order(corners: np.ndarray, board: Board) -> np.ndarray:
    """Corners ordered so corner 0 lies left of the last one (ties: above it).

    A chessboard's detection is defined up to a 180-degree turn; fixing the order by the image
    direction makes the two views of a stereo pair agree on which corner is which.
    """
    first, last = corners[0], corners[-1]
    d = last - first
    if d[0] < 0 or (abs(d[0]) < 1e-6 and d[1] < 0):
        return np.ascontiguousarray(corners[::-1])
    return corners


def draw_detection(image: np.ndarray, detection: Detection, board: Board,
                   pixel_format: str | None = None) -> np.ndarray:
    """An (H, W, 3) uint8 RGB picture of the image with the detected corners drawn (for previews)."""
    import cv2

    gray = to_gray(image, pixel_format)
    rgb = cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)
    if detection.found and detection.corners is not None:
        cv2.drawChessboardCorners(rgb, board.pattern_size, detection.corners.reshape(-1, 1, 2), True)
    return rgb


def describe(detection: Detection) -> dict[str, Any]:
    """A JSON-friendly summary of one detection."""
    return {"found": detection.found, "method": detection.method, "reason": detection.reason,
            "image_size": list(detection.image_size)}
