"""How far an offsets estimate can be trusted, from the geometry of its inliers.

The offsets are a rotation fitted to inlier rays. How well the rays pin it down depends on more
than how many agree: rays from one small patch of the image can agree perfectly and still leave
the rotation about their common direction loose, and a patch is also what a local look-alike
(a repeated facade, a reflection, a passing truck) produces. So the confidence multiplies four
factors, each in 0..1:

- ``match_ratio``: inliers / matches of the frames used (how clean the matches were);
- ``frames_ratio``: frames used / query frames (how many views agree);
- ``coverage``: the share of the query image the inliers cover (cells of an 8 x 8 grid holding an
  inlier, averaged over the frames used), credited in full from ``FULL_COVERAGE``;
- ``spread_deg``: the angular spread of the inlier rays about their worst-constrained axis,
  credited in full from ``FULL_SPREAD_DEG``. For rays ``bᵢ`` the information a rotation gets is
  ``Σ (I - bᵢ bᵢᵀ)``; its smallest eigenvalue (per ray) is the mean squared sine of the rays'
  angles about that axis, and the spread is that angle's RMS in degrees. A full zoom-0 view
  (60°) spreads about 20°, a view zoomed to 6° about 2°, rays of one point 0°.

``FULL_COVERAGE`` and ``FULL_SPREAD_DEG`` are where the simulator's measurements (benchmarks/
accuracy_report.py, section ptz-zoom) stop improving with more coverage or spread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: A quarter of the image's grid cells holding inliers earns full credit for coverage.
FULL_COVERAGE = 0.25
#: An RMS spread of 5° about the worst axis earns full credit for spread.
FULL_SPREAD_DEG = 5.0
GRID_CELLS = (8, 8)


def image_coverage(uv: np.ndarray, size: tuple[int, int], cells: tuple[int, int] = GRID_CELLS) -> float:
    """Share (0..1) of an ``cells`` grid over an image of ``size`` (w, h) px holding at least one of ``uv`` (N, 2)."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    w, h = size
    inside = (uv[:, 0] >= -0.5) & (uv[:, 0] < w - 0.5) & (uv[:, 1] >= -0.5) & (uv[:, 1] < h - 0.5)
    if not inside.any():
        return 0.0
    cx = np.clip(((uv[inside, 0] + 0.5) * cells[0] / w).astype(int), 0, cells[0] - 1)
    cy = np.clip(((uv[inside, 1] + 0.5) * cells[1] / h).astype(int), 0, cells[1] - 1)
    return len(set(zip(cx.tolist(), cy.tolist()))) / float(cells[0] * cells[1])


def angular_spread_deg(rays: np.ndarray) -> float:
    """RMS angle (degrees) of unit ``rays`` (N, 3) about the axis they constrain a rotation least."""
    rays = np.asarray(rays, dtype=np.float64).reshape(-1, 3)
    if len(rays) < 2:
        return 0.0
    info = np.eye(3) - (rays.T @ rays) / len(rays)      # mean of (I - b bᵀ)
    smallest = float(np.linalg.eigvalsh(info)[0])
    return math.degrees(math.asin(math.sqrt(min(1.0, max(0.0, smallest)))))


@dataclass(frozen=True)
class Evidence:
    """The factors of an estimate's confidence (see the module docstring)."""

    match_ratio: float
    frames_ratio: float
    coverage: float
    spread_deg: float

    @property
    def confidence(self) -> float:
        """0..1: the product of the four factors, coverage and spread credited up to their full marks."""
        return (self.match_ratio * self.frames_ratio * min(1.0, self.coverage / FULL_COVERAGE)
                * min(1.0, self.spread_deg / FULL_SPREAD_DEG))


def evidence(inliers: int, matches: int, frames_used: int, frames_total: int,
             coverages: Sequence[float], rays: np.ndarray) -> Evidence:
    """The evidence of a combined estimate.

    Args:
        inliers, matches: over the frames used.
        frames_used, frames_total: frames combined / query frames.
        coverages: each used frame's image coverage (:func:`image_coverage`).
        rays: (N, 3) the used inliers' query rays in the mount frame.
    """
    return Evidence(match_ratio=inliers / matches if matches else 0.0,
                    frames_ratio=frames_used / frames_total if frames_total else 0.0,
                    coverage=float(np.mean(coverages)) if len(coverages) else 0.0,
                    spread_deg=angular_spread_deg(rays))
