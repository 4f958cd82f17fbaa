"""Views of a PTZ head: which reference frames cover a query, and resampling one view into another.

A scan frame is a pinhole view (K, optional OpenCV distortion ``dist``) whose optical frame sits
at ``R_B_cam(pan, tilt)`` in the mount frame B (docs/design.md, Conventions). Since a PTZ head
only rotates (the world is far away compared with the head's own offsets), any two views of it
are related by the rotation between them, so:

- the *overlap* of a reference frame with a query is the fraction of the query's image whose
  rays land inside the reference's image, at the frames' recorded pan/tilt (a mount bump of a
  few degrees moves it a little; the selection keeps a margin for that by taking several);
- a frame can be *resampled* into a virtual camera of any orientation and focal length exactly
  (up to interpolation): a pixel of the virtual camera is a ray in B, and that ray is projected
  into the source frame through its K and distortion.

The offsets estimation (calibration.offsets) uses both for zoomed queries: a query at zoom 0.8
sees a few degrees of what a zoom-0 reference frame saw, tens of times smaller; feature
matching across such a scale change fails, so both are resampled into one virtual camera at
the query's orientation with pixels four times finer than the reference's, and matched there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from camdeck.calibration.rotations import R_B_cam

#: The virtual camera's pixels are this many times finer than the reference's: SIFT then finds
#: the reference's smallest structures at a scale it localises well (measured on the simulator:
#: 4 gives more inliers and smaller errors at zoom 0.6-1.0 than 2 or 3).
UPSAMPLE = 4.0
#: A query whose focal length exceeds the reference's by more than this is matched by resampling.
RESAMPLE_ABOVE_RATIO = 1.5


@dataclass(frozen=True)
class View:
    """A pinhole view of the head.

    Attributes:
        K: (3, 3) float64 intrinsics, px.
        size: (width, height) px.
        R: (3, 3) float64 optical -> mount frame B (``R_B_cam(pan, tilt)``).
        dist: OpenCV distortion coefficients (1, N) or None for none.
    """

    K: np.ndarray
    size: tuple[int, int]
    R: np.ndarray
    dist: np.ndarray | None = None

    @property
    def focal_px(self) -> float:
        return float(self.K[0, 0])


def view_of(frame, size: Sequence[int]) -> View:
    """The View of a ``calibration.align.ScanFrame`` whose scan has ``size`` = (w, h) (0s: from K)."""
    w, h = int(size[0]), int(size[1])
    if w <= 0 or h <= 0:
        w, h = int(round(2 * frame.K[0, 2] + 1)), int(round(2 * frame.K[1, 2] + 1))
    return View(K=np.asarray(frame.K, dtype=np.float64), size=(w, h), R=R_B_cam(frame.pan_deg, frame.tilt_deg),
                dist=getattr(frame, "dist", None))


def pixels_to_rays(view: View, uv: np.ndarray) -> np.ndarray:
    """Unit rays (N, 3) in the view's optical frame for pixels ``uv`` (N, 2), undistorting when it has ``dist``."""
    uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
    if view.dist is not None and np.any(view.dist):
        import cv2

        xy = cv2.undistortPoints(uv.reshape(-1, 1, 2), view.K, view.dist).reshape(-1, 2)
    else:
        xy = (uv - view.K[:2, 2]) / np.array([view.K[0, 0], view.K[1, 1]])
        xy[:, 0] -= view.K[0, 1] * xy[:, 1] / view.K[0, 0]
    rays = np.hstack([xy, np.ones((len(xy), 1))])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def rays_to_pixels(view: View, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project optical-frame rays (N, 3) into the view: (pixels (N, 2), in front (N,) bool)."""
    rays = np.asarray(rays, dtype=np.float64).reshape(-1, 3)
    front = rays[:, 2] > 1e-9
    z = np.where(front, rays[:, 2], 1.0)
    xy = rays[:, :2] / z[:, None]
    if view.dist is not None and np.any(view.dist):
        import cv2

        # far off-axis rays make the polynomial fold back; only rays in front within ~80° are projected
        safe = front & (np.hypot(xy[:, 0], xy[:, 1]) < 6.0)
        xy = np.where(safe[:, None], xy, 0.0)
        pts = np.hstack([xy, np.ones((len(xy), 1))])
        uv, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), view.K, view.dist)
        return uv.reshape(-1, 2), safe
    uv = xy @ view.K[:2, :2].T + view.K[:2, 2]
    return uv, front


def _inside(view: View, uv: np.ndarray, margin_px: float = 0.0) -> np.ndarray:
    w, h = view.size
    return ((uv[:, 0] >= -0.5 + margin_px) & (uv[:, 0] <= w - 0.5 - margin_px)
            & (uv[:, 1] >= -0.5 + margin_px) & (uv[:, 1] <= h - 0.5 - margin_px))


def _sample_grid(view: View, nx: int = 24, ny: int = 14) -> np.ndarray:
    w, h = view.size
    u = (np.arange(nx) + 0.5) * w / nx - 0.5
    v = (np.arange(ny) + 0.5) * h / ny - 0.5
    uu, vv = np.meshgrid(u, v)
    return np.stack([uu.ravel(), vv.ravel()], axis=1)


def overlap_fraction(query: View, reference: View) -> float:
    """Fraction (0..1) of the query's image that the reference's image also shows (a 24 x 14 sample).

    Both views' own pan/tilt are taken as they were recorded: the unknown mount offset being
    measured is a few degrees at most, which moves the overlap's border by as much.
    """
    rays_q = pixels_to_rays(query, _sample_grid(query))
    in_ref = rays_q @ (reference.R.T @ query.R).T         # query optical -> B -> reference optical
    uv, front = rays_to_pixels(reference, in_ref)
    return float(np.mean(front & _inside(reference, uv)))


def frames_by_overlap(query_view: View, references: Sequence[tuple[object, View]], count: int,
                      min_overlap: float) -> list[tuple[object, float]]:
    """Up to ``count`` reference frames that show most of the query, best first.

    Args:
        query_view: the query frame's view.
        references: (frame, its View) pairs.
        count: how many to keep.
        min_overlap: frames showing less than this fraction of the query are left out.
    Returns:
        (frame, overlap fraction) pairs, by decreasing overlap (ties: nearer optical axis first).
    """
    axis_q = query_view.R[:, 2]
    scored = []
    for position, (frame, view) in enumerate(references):
        overlap = overlap_fraction(query_view, view)
        if overlap >= min_overlap and overlap > 0.0:
            angle = math.acos(max(-1.0, min(1.0, float(axis_q @ view.R[:, 2]))))
            scored.append((-round(overlap, 6), angle, position, frame, overlap))
    scored.sort(key=lambda item: item[:3])
    return [(item[3], item[4]) for item in scored[:count]]


def virtual_view(query: View, reference: View) -> View:
    """The camera both are resampled into: the query's orientation and principal-point-centred
    square pixels ``UPSAMPLE`` times finer than the reference's (never finer than the query's)."""
    focal = min(query.focal_px, UPSAMPLE * reference.focal_px)
    scale = focal / query.focal_px
    w = max(16, int(math.ceil(query.size[0] * scale)))
    h = max(16, int(math.ceil(query.size[1] * scale)))
    K = np.array([[focal, 0.0, (w - 1) / 2.0], [0.0, focal, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
    return View(K=K, size=(w, h), R=query.R)


def resample_into(image: np.ndarray, source: View, target: View) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (taken by ``source``) as ``target`` would see it, and where it is defined.

    The source is low-pass filtered first when the target's pixels are coarser (no aliasing).

    Args:
        image: (H, W) or (H, W, 3) uint8 of the source view.
    Returns:
        (the resampled image (h, w[, 3]) uint8, valid (h, w) bool: the pixel lies inside the source).
    """
    import cv2

    w, h = target.size
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1).reshape(-1, 2)
    rays = pixels_to_rays(target, grid) @ (source.R.T @ target.R).T
    uv, front = rays_to_pixels(source, rays)
    valid = (front & _inside(source, uv, margin_px=1.0)).reshape(h, w)
    shrink = source.focal_px / target.focal_px        # source pixels per target pixel
    if shrink > 1.0:
        sigma = 0.5 * math.sqrt(shrink ** 2 - 1.0)
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    maps = uv.reshape(h, w, 2).astype(np.float32)
    out = cv2.remap(image, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, valid


def needs_resampling(query: View, reference: View) -> bool:
    """True when the query's pixels are so much finer than the reference's that features won't match."""
    return query.focal_px > RESAMPLE_ABOVE_RATIO * reference.focal_px
