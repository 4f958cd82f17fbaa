"""How well a set of chessboard views covers what a calibration needs, as data.

Two measures, both for an operator deciding whether to capture more views:

- a coverage map: where on the sensor detected corners have landed, as counts in a coarse
  grid (the Calibration tab draws it as a heat map);
- four bars, X / Y / size / skew: for each, the span the views cover of the span a good
  calibration needs. X and Y are where the board sits across the image, size how much of the
  image it fills, skew how far it is tilted from square-on. A set with every bar full, enough
  views and a well-filled map calibrates well.

Nothing here draws: the TUI turns this data into cells.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from camdeck.calibration.chessboard import Board
from camdeck.calibration.errors import CalibrationInputError

#: span of each measure a good set covers (measures are in [0, 1]); sets that span these calibrated
#: the simulated ASI camera within 0.5 % (tests/calibration/test_coverage.py).
NEEDED_SPAN = {"x": 0.6, "y": 0.6, "size": 0.15, "skew": 0.5}
BAR_NAMES = ("x", "y", "size", "skew")


@dataclass(frozen=True)
class ViewMeasures:
    """Where one board view sits, each in [0, 1].

    Attributes:
        x: horizontal position of the board (0 left edge, 1 right edge), allowing for its size.
        y: vertical position (0 top, 1 bottom).
        size: sqrt(board area / image area).
        skew: how far the board's corner angle departs from 90 degrees (1 at 45 degrees off or more).
    """

    x: float
    y: float
    size: float
    skew: float

    def as_dict(self) -> dict[str, float]:
        return {"x": self.x, "y": self.y, "size": self.size, "skew": self.skew}


@dataclass(frozen=True)
class CoverageBar:
    """One bar: the covered range [lo, hi] of a measure and progress = span / needed span (<= 1)."""

    name: str
    lo: float
    hi: float
    progress: float


def measure_view(corners: np.ndarray, board: Board, image_size: tuple[int, int]) -> ViewMeasures:
    """The X / Y / size / skew measures of one detected board.

    Args:
        corners: (cols*rows, 2) pixel coordinates in OpenCV order.
        board: the board they belong to.
        image_size: (width, height), px.

    Raises:
        CalibrationInputError: corners of the wrong shape for the board.
    """
    pts = np.asarray(corners, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] != board.n_corners:
        raise CalibrationInputError(f"expected {board.n_corners} corners for a {board.label} board, "
                                    f"got {pts.shape[0]}", "pass the corners of one full detection")
    w, h = (float(v) for v in image_size)
    grid = pts.reshape(board.rows, board.cols, 2)
    ul, ur, dr, dl = grid[0, 0], grid[0, -1], grid[-1, -1], grid[-1, 0]
    quad = np.array([ul, ur, dr, dl])
    x_, y_ = quad[:, 0], quad[:, 1]
    area = 0.5 * abs(float(np.dot(x_, np.roll(y_, -1)) - np.dot(y_, np.roll(x_, -1))))
    border = math.sqrt(area)
    size = math.sqrt(area / (w * h))
    mx, my = float(pts[:, 0].mean()), float(pts[:, 1].mean())
    x = min(1.0, max(0.0, (mx - border / 2) / max(1.0, w - border)))
    y = min(1.0, max(0.0, (my - border / 2) / max(1.0, h - border)))
    a, b = ul - ur, dr - ur
    cos_angle = float(np.dot(a, b) / max(1e-12, np.linalg.norm(a) * np.linalg.norm(b)))
    angle = math.acos(min(1.0, max(-1.0, cos_angle)))
    skew = min(1.0, 2.0 * abs(math.pi / 2 - angle))
    return ViewMeasures(x, y, min(1.0, size), skew)


@dataclass
class Coverage:
    """Accumulates views: the corner heat map and the X / Y / size / skew measures.

    Args:
        board: the board being captured.
        image_size: (width, height) of the sensor, px.
        grid: (rows, cols) of the heat map, each >= 1.
    """

    board: Board
    image_size: tuple[int, int]
    grid: tuple[int, int] = (9, 16)
    counts: np.ndarray = field(init=False)
    views: list[ViewMeasures] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        rows, cols = self.grid
        if rows < 1 or cols < 1:
            raise CalibrationInputError(f"grid must be at least 1x1, got {self.grid!r}",
                                        "give (rows, cols), e.g. (9, 16)")
        w, h = self.image_size
        if w < 1 or h < 1:
            raise CalibrationInputError(f"image_size must be positive, got {self.image_size!r}",
                                        "give the sensor's (width, height) in px")
        self.counts = np.zeros((rows, cols), dtype=np.int64)
        self.views = []

    def add(self, corners: np.ndarray) -> ViewMeasures:
        """Add one detected board (corners (N, 2) px); returns its measures."""
        measures = measure_view(corners, self.board, self.image_size)
        pts = np.asarray(corners, dtype=np.float64).reshape(-1, 2)
        rows, cols = self.counts.shape
        w, h = self.image_size
        c = np.clip((pts[:, 0] / w * cols).astype(int), 0, cols - 1)
        r = np.clip((pts[:, 1] / h * rows).astype(int), 0, rows - 1)
        np.add.at(self.counts, (r, c), 1)
        self.views.append(measures)
        return measures

    def clear(self) -> None:
        self.counts[:] = 0
        self.views.clear()

    @property
    def n_views(self) -> int:
        return len(self.views)

    @property
    def heat(self) -> np.ndarray:
        """The heat map scaled to [0, 1], (rows, cols) float64 (0 everywhere before any view)."""
        top = self.counts.max()
        return self.counts / top if top > 0 else np.zeros(self.counts.shape)

    @property
    def filled(self) -> float:
        """Fraction of heat-map cells with at least one corner."""
        return float((self.counts > 0).mean())

    def bars(self) -> list[CoverageBar]:
        """X, Y, size and skew bars, in that order."""
        out = []
        for name in BAR_NAMES:
            values = [getattr(v, name) for v in self.views]
            if not values:
                out.append(CoverageBar(name, 0.0, 0.0, 0.0))
                continue
            lo, hi = min(values), max(values)
            out.append(CoverageBar(name, lo, hi, min(1.0, (hi - lo) / NEEDED_SPAN[name])))
        return out

    def good_enough(self, min_views: int = 10, min_filled: float = 0.6) -> bool:
        """Whether the set is worth solving: enough views, every bar full, the map well filled."""
        return (self.n_views >= min_views and all(b.progress >= 1.0 for b in self.bars())
                and self.filled >= min_filled)

    def summary(self) -> dict[str, Any]:
        """JSON-friendly: views, filled fraction, and the bars."""
        return {"views": self.n_views, "filled": round(self.filled, 3),
                "bars": {b.name: {"lo": round(b.lo, 3), "hi": round(b.hi, 3), "progress": round(b.progress, 3)}
                         for b in self.bars()}}
