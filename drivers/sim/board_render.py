"""Rendering a posed chessboard through a simulated camera's true pinhole model.

Every pixel is integrated over a grid of sub-pixel samples (anti-aliasing), each sample's ray
is cast through the lens model (K, distortion, R, t) onto the board plane, and the paper's
reflectance there is looked up analytically. A small lens blur and sensor noise follow, then
the result is delivered as the camera delivers frames (grey, RGB or a RAW8 RGGB mosaic).
Geometry and poses: drivers/sim/targets.py.
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from camdeck.calibration.chessboard import Board
from camdeck.drivers.sim.sensor import mosaic_rggb
from camdeck.drivers.sim.targets import (INK_BLACK, MARGIN_SQUARES, PAPER_WHITE, BoardPose, PinholeView,
                                         _paper_outline, project_points, view_of)


def render_board_radiance(camera: Any, board: Board, pose: BoardPose, *, supersample: int = 3,
                          background: Any = None, illumination: float = 0.8):
    """The posed board over a background, as noise-free linear radiance: a scene ``Render``.

    Args:
        camera: a simulated camera (with ``truth``) or a PinholeView.
        board: the board (its square size sets the paper's size).
        pose: where the board is in the world.
        supersample: sub-samples per pixel side (3 -> 9 rays per pixel), >= 1.
        background: a scene ``Render`` of the same size behind the board (the scene occludes the
            board where it is nearer), an (H, W) / (H, W, 3) radiance image in [0, 1], or None for
            a soft random texture.
        illumination: irradiance on the board; radiance = reflectance * illumination, > 0.

    Returns:
        drivers.sim.scene.Render: rgb (H, W, 3) float32 radiance, depth (H, W) float32 z in metres
        (the board's where it shows), object_mask (H, W) bool = pixels that see the paper.

    Raises:
        ValueError: a bad argument (the value is named).
    """
    from camdeck.drivers.sim.scene import Render

    view = view_of(camera)
    if not isinstance(supersample, (int, np.integer)) or supersample < 1:
        raise ValueError(f"supersample must be an integer >= 1, got {supersample!r}")
    if not illumination > 0:
        raise ValueError(f"illumination must be > 0, got {illumination!r}")
    w, h = view.image_size
    reflect, frac, board_z = _board_pass(view, board, pose, supersample)
    if background is None:
        bg = np.repeat(_soft_texture(h, w, np.random.default_rng(7))[:, :, None], 3, axis=2)
        bg_depth = np.full((h, w), np.inf, np.float32)
    elif isinstance(background, Render):
        bg, bg_depth = background.rgb.astype(np.float32), background.depth.astype(np.float32)
    else:
        bg = np.asarray(background, dtype=np.float32)
        if bg.max() > 1.0:
            bg = bg / 255.0
        if bg.ndim == 2:
            bg = np.repeat(bg[:, :, None], 3, axis=2)
        bg_depth = np.full((h, w), np.inf, np.float32)
    if bg.shape[:2] != (h, w):
        raise ValueError(f"background must be {w}x{h} px, got {bg.shape[1]}x{bg.shape[0]}")
    show = np.isfinite(reflect) & (bg_depth >= board_z)
    # `reflect` is the mean over the sub-samples that hit the paper; `frac` says how many did.
    a = np.where(show, frac, 0.0)[:, :, None].astype(np.float32)
    paper = (np.nan_to_num(reflect) * illumination)[:, :, None].astype(np.float32)
    rgb = (a * paper + (1.0 - a) * bg).astype(np.float32)
    depth = np.where(show & (frac >= 0.5), board_z, bg_depth).astype(np.float32)
    return Render(rgb=rgb, depth=depth, object_mask=show & (frac >= 0.5))


def render_board(camera: Any, board: Board, pose: BoardPose, *, supersample: int = 3,
                 background: Any = None, illumination: float = 1.0, noise_sigma: float = 1.5,
                 blur_sigma_px: float = 0.5, pixel_format: str = "GRAY", seed: int | None = 0) -> np.ndarray:
    """Render the posed board as a plain camera would deliver it (own lens blur and noise model).

    For a simulated camera, :func:`capture_board` renders through the camera's own sensor model
    instead; this function serves any PinholeView (tests, offline sets).

    Args:
        camera, board, pose, supersample, background, illumination: as :func:`render_board_radiance`.
        noise_sigma: sensor noise, digital numbers (0-255 scale), >= 0.
        blur_sigma_px: lens blur (Gaussian sigma), px, >= 0.
        pixel_format: "GRAY" -> (H, W) uint8; "RGB" -> (H, W, 3) uint8; "RAW8_RGGB" -> (H, W) uint8 mosaic.
        seed: noise seed; None for fresh noise.

    Returns:
        the frame, uint8, shaped as ``pixel_format`` says.

    Raises:
        ValueError: a bad argument (the value is named).
    """
    import cv2

    if pixel_format not in ("GRAY", "RGB", "RAW8_RGGB"):
        raise ValueError(f"pixel_format must be GRAY, RGB or RAW8_RGGB, got {pixel_format!r}")
    if noise_sigma < 0 or blur_sigma_px < 0:
        raise ValueError(f"need noise_sigma >= 0 and blur_sigma_px >= 0; got {noise_sigma!r}, {blur_sigma_px!r}")
    render = render_board_radiance(camera, board, pose, supersample=supersample, background=background,
                                   illumination=illumination)
    img = render.rgb.mean(axis=2)
    if blur_sigma_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma_px)
    dn = img * 255.0
    if noise_sigma > 0:
        dn = dn + np.random.default_rng(seed).normal(0.0, noise_sigma, size=dn.shape)
    grey = np.clip(np.rint(dn), 0, 255).astype(np.uint8)
    if pixel_format == "GRAY":
        return grey
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    return rgb if pixel_format == "RGB" else mosaic_rggb(rgb).astype(rgb.dtype)   # exact for uint8 values


_UNDISTORT_CACHE: dict[bytes, np.ndarray] = {}


def _undistorted_grid(view: PinholeView) -> np.ndarray:
    """Normalised undistorted coordinates (x, y) of every integer pixel position from -1 to W (H),
    (H+2, W+2, 2) float64; cached per camera, since rays depend on the lens, not the board."""
    import cv2

    key = view.K.tobytes() + view.dist.tobytes() + np.asarray(view.image_size).tobytes()
    grid = _UNDISTORT_CACHE.get(key)
    if grid is None:
        w, h = view.image_size
        vv, uu = np.mgrid[-1:h + 1, -1:w + 1].astype(np.float64)
        pts = np.stack([uu.ravel(), vv.ravel()], axis=1).reshape(-1, 1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-9)
        if hasattr(cv2, "undistortPointsIter"):      # OpenCV 4.x
            und = cv2.undistortPointsIter(pts, view.K, view.dist, None, None, criteria)
        else:                                         # OpenCV 5 folded it into undistortPoints
            und = cv2.undistortPoints(pts, view.K, view.dist, None, None, None, criteria)
        grid = und.reshape(h + 2, w + 2, 2)
        if len(_UNDISTORT_CACHE) >= 4:
            _UNDISTORT_CACHE.pop(next(iter(_UNDISTORT_CACHE)))
        _UNDISTORT_CACHE[key] = grid
    return grid


def _sample_rays(view: PinholeView, supersample: int, row0: int, row1: int) -> np.ndarray:
    """Normalised, undistorted ray directions (x, y, 1) for the sub-samples of rows [row0, row1).

    With distortion, the per-pixel undistortion is interpolated bilinearly between integer pixel
    positions (the lens model is smooth at that scale). Returns (row1-row0, W, S*S, 3) float64.
    """
    w = view.image_size[0]
    n = row1 - row0
    offs = (np.arange(supersample) + 0.5) / supersample - 0.5
    out = np.empty((n, w, supersample, supersample, 3))
    out[..., 2] = 1.0
    if np.any(view.dist != 0):
        grid = _undistorted_grid(view)
        for a, oy in enumerate(offs):
            by = int(np.floor(oy)); fy = oy - by
            for b, ox in enumerate(offs):
                bx = int(np.floor(ox)); fx = ox - bx
                r = slice(row0 + by + 1, row1 + by + 1)
                r2 = slice(row0 + by + 2, row1 + by + 2)
                c = slice(bx + 1, w + bx + 1)
                c2 = slice(bx + 2, w + bx + 2)
                out[:, :, a, b, :2] = ((1 - fy) * ((1 - fx) * grid[r, c] + fx * grid[r, c2])
                                       + fy * ((1 - fx) * grid[r2, c] + fx * grid[r2, c2]))
    else:
        K = view.K
        vv = np.arange(row0, row1)[:, None, None, None] + offs[None, None, :, None]
        uu = np.arange(w)[None, :, None, None] + offs[None, None, None, :]
        yn = (vv - K[1, 2]) / K[1, 1]
        out[..., 1] = yn
        out[..., 0] = (uu - K[0, 2] - K[0, 1] * yn) / K[0, 0]
    return out.reshape(n, w, supersample * supersample, 3)


def _intersect(view: PinholeView, pose: BoardPose, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Board-plane coordinates (x_b, y_b, metres) and camera z of each ray's hit; NaN where it misses."""
    R_bc = pose.R_wb.T @ view.R.T                        # camera -> board rotation
    C_b = pose.R_wb.T @ (-view.R.T @ view.t - pose.t_wb)  # camera centre in board coordinates
    d = rays @ R_bc.T
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -C_b[2] / d[..., 2]
    s = np.where(s > 0, s, np.nan)
    xb = C_b[0] + s * d[..., 0]
    yb = C_b[1] + s * d[..., 1]
    return xb, yb, s  # rays have z = 1 in the camera, so s is the camera-frame depth


def _paper_hits(board: Board, xb: np.ndarray, yb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(on_paper mask, reflectance) for board-plane points (metres)."""
    s = board.square_mm / 1000.0
    outline = _paper_outline(board)
    on = (xb >= outline[0, 0]) & (xb <= outline[1, 0]) & (yb >= outline[0, 1]) & (yb <= outline[2, 1])
    i = np.floor(xb / s) + 1.0     # square column, 0..cols
    j = np.floor(yb / s) + 1.0
    in_squares = (i >= 0) & (i <= board.cols) & (j >= 0) & (j <= board.rows)
    black = in_squares & (np.mod(i + j, 2.0) == 0.0)
    reflect = np.where(black, INK_BLACK, PAPER_WHITE)
    return on, reflect


def _board_pass(view: PinholeView, board: Board, pose: BoardPose,
                supersample: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: mean reflectance of the sub-samples on the paper (NaN where none), the fraction of
    sub-samples on the paper (anti-aliased edge) and the board's camera z (inf where none)."""
    w, h = view.image_size
    reflect = np.full((h, w), np.nan, dtype=np.float32)
    frac = np.zeros((h, w), dtype=np.float32)
    depth = np.full((h, w), np.inf, dtype=np.float32)
    rows0, rows1 = _paper_rows(view, board, pose)
    step = max(1, 400_000 // max(1, w * supersample * supersample))
    for r0 in range(rows0, rows1, step):
        r1 = min(rows1, r0 + step)
        xb, yb, z = _intersect(view, pose, _sample_rays(view, supersample, r0, r1))
        on, refl = _paper_hits(board, xb, yb)
        hits = on.sum(axis=2)
        some = hits > 0
        safe = np.maximum(hits, 1)
        reflect[r0:r1] = np.where(some, np.where(on, refl, 0.0).sum(axis=2) / safe, np.nan)
        frac[r0:r1] = hits / on.shape[2]
        depth[r0:r1] = np.where(some, np.where(on, z, 0.0).sum(axis=2) / safe, np.inf)
    return reflect, frac, depth


def _paper_rows(view: PinholeView, board: Board, pose: BoardPose) -> tuple[int, int]:
    """Image rows the paper can touch (a bound from its projected outline), to skip empty rows."""
    outline = _paper_outline(board)
    ts = np.linspace(0.0, 1.0, 17)[:, None]
    world = outline @ pose.R_wb.T + pose.t_wb
    edges = np.concatenate([world[i] + ts * (world[(i + 1) % 4] - world[i]) for i in range(4)])
    cam = edges @ view.R.T + view.t
    h = view.image_size[1]
    if np.any(cam[:, 2] <= 0):
        return 0, h
    px, _ = project_points(view, edges)
    return int(np.clip(np.floor(px[:, 1].min()) - 2, 0, h)), int(np.clip(np.ceil(px[:, 1].max()) + 3, 0, h))


def _soft_texture(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A soft, low-contrast random background (a lab wall), (H, W) float32 in [0, 1]."""
    import cv2

    coarse = rng.uniform(0.25, 0.55, size=(max(2, h // 24), max(2, w // 24))).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(0.0, 1.0)


def render_views(camera: Any, board: Board, poses: Iterable[BoardPose], **kwargs: Any) -> list[np.ndarray]:
    """Render one frame per pose (seeds vary per view so the noise does); kwargs as :func:`render_board`."""
    seed = kwargs.pop("seed", 0)
    return [render_board(camera, board, pose, seed=None if seed is None else seed + i, **kwargs)
            for i, pose in enumerate(poses)]


# ---------------------------------------------------------------- simulated cameras

def capture_board(camera: Any, board: Board, pose: BoardPose, *, supersample: int = 3,
                  illumination: float = 0.8, timeout_s: float | None = None):
    """Capture one frame from a simulated camera with the board posed in its scene.

    The camera captures as usual (timestamp, sequence number, metadata, dropped frames), and the
    frame's pixels are those of the scene with the board in it, pushed through the camera's own
    sensor model (lens blur, Bayer mosaic, exposure, gain, white balance, noise, quantisation).

    Args:
        camera: an opened simulated camera (``drivers.sim``), started or not.
        board: the board.  pose: where it is in the world (see :func:`board_poses`).
        supersample: sub-samples per pixel side.  illumination: irradiance on the board.
        timeout_s: capture timeout, seconds.

    Returns:
        drivers.base.Frame with the board in view.

    Raises:
        TypeError: ``camera`` is not a simulated camera.
        DriverError: the capture itself failed (timeout, disconnected).
    """
    from dataclasses import replace

    if not hasattr(camera, "render_truth") or not hasattr(camera, "truth"):
        raise TypeError(f"{type(camera).__name__} is not a simulated camera (no truth / render_truth)")
    frame = camera.capture(timeout_s)
    render = render_board_radiance(camera, board, pose, supersample=supersample,
                                   background=camera.render_truth(), illumination=illumination)
    return replace(frame, array=camera.sensor_image(render, frame.seq))
