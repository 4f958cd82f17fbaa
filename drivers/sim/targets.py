"""Chessboard calibration targets posed in front of simulated cameras: the board's geometry,
the poses it is held at, and the ChessboardTarget that moves it between views.

A printed chessboard (black squares on white paper, with a white margin) is posed in the
world; drivers/sim/board_render.py renders it through a camera's true pinhole model.

Conventions: world points X map to the camera as ``x_cam = R @ X + t`` (OpenCV optical frame,
metres). A board pose ``(R_wb, t_wb)`` maps board coordinates (metres; origin at the first inner
corner, x along a row of corners, y down the columns, z into the board) to the world:
``X = R_wb @ X_b + t_wb``. The board's corners are therefore ``board.object_points() / 1000``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from camdeck.calibration.chessboard import Board

PAPER_WHITE = 0.82        # reflectance of the paper
INK_BLACK = 0.06          # reflectance of the printed squares
MARGIN_SQUARES = 0.8      # white margin around the outer squares, in squares
MAX_VIEW_ANGLE_DEG = 60.0  # largest angle between the board's normal and the line of sight


@dataclass(frozen=True)
class PinholeView:
    """A camera's true geometry: what a simulated camera's ``truth`` carries.

    Attributes:
        K: (3, 3) intrinsics, px.
        dist: (N,) OpenCV distortion coefficients (k1, k2, p1, p2[, k3...]); zeros for none.
        R: (3, 3) rotation world -> camera.
        t: (3,) translation world -> camera, metres.
        image_size: (width, height), px.
    """

    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]


@dataclass(frozen=True)
class BoardPose:
    """Where a board is: ``X_world = R_wb @ X_board + t_wb`` (metres)."""

    R_wb: np.ndarray
    t_wb: np.ndarray


def view_of(camera: Any) -> PinholeView:
    """The true geometry of a simulated camera, its ``truth``, or a PinholeView as is.

    Raises:
        TypeError: the object carries no K, R, t and image_size.
    """
    obj = getattr(camera, "truth", camera)
    if callable(obj) and not hasattr(obj, "K"):
        obj = obj()
    try:
        K = np.asarray(obj.K, dtype=np.float64).reshape(3, 3)
        R = np.asarray(obj.R, dtype=np.float64).reshape(3, 3)
        t = np.asarray(obj.t, dtype=np.float64).reshape(3)
        size = tuple(int(v) for v in obj.image_size)
    except AttributeError as err:
        raise TypeError(f"{type(camera).__name__} has no camera truth (K, R, t, image_size): {err}") from None
    dist = np.asarray(getattr(obj, "dist", None) if getattr(obj, "dist", None) is not None else np.zeros(5),
                      dtype=np.float64).ravel()
    return PinholeView(K, dist, R, t, (size[0], size[1]))


def board_corners_world(board: Board, pose: BoardPose) -> np.ndarray:
    """The board's inner corners in the world, (cols*rows, 3) float64, metres."""
    pts = board.object_points().astype(np.float64) / 1000.0
    return pts @ np.asarray(pose.R_wb).T + np.asarray(pose.t_wb)


def project_points(view: PinholeView, points_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project world points: pixel coordinates (N, 2) and camera-frame depth z (N,), metres."""
    import cv2

    pts = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
    cam = pts @ view.R.T + view.t
    rvec, _ = cv2.Rodrigues(view.R)
    px, _ = cv2.projectPoints(pts.reshape(-1, 1, 3), rvec, view.t.reshape(3, 1), view.K, view.dist)
    return px.reshape(-1, 2), cam[:, 2]


def _paper_outline(board: Board) -> np.ndarray:
    """The paper's four corners in board coordinates, (4, 3) metres."""
    s = board.square_mm / 1000.0
    m = (1.0 + MARGIN_SQUARES) * s
    x0, x1 = -m, (board.cols - 1) * s + m
    y0, y1 = -m, (board.rows - 1) * s + m
    return np.array([[x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0]], dtype=np.float64)


def _rotation(rx_rad: float, ry_rad: float, rz_rad: float) -> np.ndarray:
    cx, sx, cy, sy, cz, sz = (math.cos(rx_rad), math.sin(rx_rad), math.cos(ry_rad), math.sin(ry_rad),
                              math.cos(rz_rad), math.sin(rz_rad))
    Rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    Ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    Rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def board_poses(camera: Any, board: Board, n: int, *, seed: int = 0,
                visible_in: Sequence[Any] = (), fill: tuple[float, float] = (0.4, 0.8),
                max_tilt_deg: float = 45.0, min_tilt_deg: float = 15.0, max_roll_deg: float = 20.0, margin_px: float = 12.0,
                max_tries: int = 20000) -> list[BoardPose]:
    """``n`` varied board poses in front of ``camera``, wholly visible in it and in ``visible_in``.

    Poses vary the board's place on the sensor (walking a 3 x 3 grid of regions, so the corners
    reach the sensor's edges), its size (distance) and its tilt about both axes and roll, which
    is what a good calibration set needs.

    Args:
        camera: a simulated camera (with ``truth``) or a PinholeView; poses are built in its frame.
        board: the board to pose.
        n: how many poses, >= 1.
        seed: random seed (same seed, same poses).
        visible_in: further cameras (e.g. the other of a stereo pair) that must see the whole paper too.
        fill: range of the paper's width as a fraction of the image width.
        max_tilt_deg: largest tilt about the board's x and y axes, degrees.
        min_tilt_deg: smallest combined tilt, degrees: square-on views say little about the
            principal point, so every view is tilted at least this much.
        max_roll_deg: largest roll about the viewing axis, degrees.
        margin_px: the paper's outline keeps this far from every image edge.
        max_tries: give up after this many candidates.

    Raises:
        ValueError: a bad argument, or no pose fits (the cameras do not share a view).
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not (0.0 < fill[0] <= fill[1] <= 1.0):
        raise ValueError(f"fill must be 0 < lo <= hi <= 1, got {fill!r}")
    main = view_of(camera)
    others = [view_of(c) for c in visible_in]
    rng = np.random.default_rng(seed)
    w, h = main.image_size
    fx, fy, cx, cy = main.K[0, 0], main.K[1, 1], main.K[0, 2], main.K[1, 2]
    outline = _paper_outline(board)
    centre_b = outline.mean(axis=0)
    paper_w_m = outline[1, 0] - outline[0, 0]
    R_cw, C_w = main.R.T, -main.R.T @ main.t        # camera -> world rotation, camera centre

    poses: list[BoardPose] = []
    tries_in_cell = 0
    for _ in range(max_tries):
        if len(poses) == n:
            break
        # Walk the board through a 3 x 3 grid of image regions (corners, edges, centre), as an
        # operator is told to: the corners must reach the sensor's edges for the lens model.
        cell = len(poses) % 9
        tries_in_cell += 1
        if tries_in_cell > max_tries // (4 * n) + 50:      # a region no pose fits (stereo overlap): anywhere
            cell = -1
        frac = rng.uniform(*fill)
        dist_m = fx * paper_w_m / (frac * w)
        if cell < 0:
            u, v = rng.uniform(0, w), rng.uniform(0, h)
        else:
            u = rng.uniform((cell % 3) * w / 3, (cell % 3 + 1) * w / 3)
            v = rng.uniform((cell // 3) * h / 3, (cell // 3 + 1) * h / 3)
        ray = np.array([(u - cx) / fx, (v - cy) / fy, 1.0])
        centre_c = ray / np.linalg.norm(ray) * dist_m
        tilt_deg = rng.uniform(-max_tilt_deg, max_tilt_deg, size=2)
        if np.hypot(*tilt_deg) < min_tilt_deg:
            continue
        tilt = np.radians(tilt_deg)
        roll = np.radians(rng.uniform(-max_roll_deg, max_roll_deg))
        R_cb = _rotation(tilt[0], tilt[1], roll)
        t_cb = centre_c - R_cb @ centre_b
        # board -> world
        pose = BoardPose(R_cw @ R_cb, R_cw @ t_cb + C_w)
        if all(_fully_visible(view, outline, pose, margin_px) for view in (main, *others)):
            poses.append(pose)
            tries_in_cell = 0
    if len(poses) < n:
        # ``fill`` is a fraction of the image width. A board taller for its width than the image
        # (a portrait board, --board 6x9) cannot fit in the height near the top of that range, so
        # try again with the range shrunk until its paper's height fits in 90 % of the image's.
        # Boards that found their poses at once (every landscape one) keep them unchanged.
        paper_h_m = outline[2, 1] - outline[1, 1]
        fits_at = (h / w) * (paper_w_m / paper_h_m) * (fx / fy)   # fraction of w where paper h = image h
        if fill[1] > fits_at:
            shrink = 0.9 * fits_at / fill[1]
            return board_poses(camera, board, n, seed=seed, visible_in=visible_in,
                               fill=(fill[0] * shrink, fill[1] * shrink), max_tilt_deg=max_tilt_deg,
                               min_tilt_deg=min_tilt_deg, max_roll_deg=max_roll_deg, margin_px=margin_px,
                               max_tries=max_tries)
        raise ValueError(f"found only {len(poses)} of {n} board poses visible in every camera; "
                         "the cameras may not share a view, or the board is too large")
    return poses


def _fully_visible(view: PinholeView, outline_b: np.ndarray, pose: BoardPose, margin_px: float) -> bool:
    world = outline_b @ pose.R_wb.T + pose.t_wb
    cam = world @ view.R.T + view.t
    if np.any(cam[:, 2] <= 0.05):
        return False
    # The board must face the camera, not too obliquely: corners blur into slivers beyond that.
    normal_c = view.R @ pose.R_wb[:, 2]
    to_board = cam.mean(axis=0) / np.linalg.norm(cam.mean(axis=0))
    if float(normal_c @ to_board) < math.cos(math.radians(MAX_VIEW_ANGLE_DEG)):
        return False
    # Check the outline densely: distortion bends straight edges.
    ts = np.linspace(0.0, 1.0, 9)[:, None]
    edges = np.concatenate([world[i] + ts * (world[(i + 1) % 4] - world[i]) for i in range(4)])
    px, _ = project_points(view, edges)
    w, h = view.image_size
    return bool(np.all((px[:, 0] >= margin_px) & (px[:, 0] <= w - 1 - margin_px)
                       & (px[:, 1] >= margin_px) & (px[:, 1] <= h - 1 - margin_px)))


class ChessboardTarget:
    """A chessboard held up in front of simulated cameras, moved to a new pose for every capture.

    With one camera it poses the board anywhere in that camera's view; with a stereo pair every
    pose is wholly visible in both, so each capture gives a usable calibration pair. It is the
    drivers.base.CalibrationTarget a simulated camera gives (``moves_itself``: nobody needs to
    move it between views).

    Args:
        board: the board.
        cameras: one or more opened simulated cameras; poses are built in the first one's view.
        seed: pose seed (same seed, same sequence of poses).
        n_poses: how many distinct poses to cycle through.
        fill: the paper's width as a fraction of the image width (range).
    """

    def __init__(self, board: Board, cameras: Sequence[Any], *, seed: int = 0, n_poses: int = 45,
                 fill: tuple[float, float] = (0.4, 0.8)) -> None:
        if not cameras:
            raise ValueError("ChessboardTarget needs at least one camera")
        self.board = board
        self.cameras = list(cameras)
        self.poses = board_poses(self.cameras[0], board, n_poses, seed=seed, visible_in=self.cameras[1:],
                                 fill=fill)
        self.index = 0

    moves_itself = True

    def next_views(self, timeout_s: float | None = None) -> list[Any]:
        """One frame per camera with the board at the next pose (drivers.base.CalibrationTarget)."""
        return self.capture(timeout_s=timeout_s)

    def capture(self, index: int | None = None, *, timeout_s: float | None = None) -> list[Any]:
        """One frame per camera with the board at pose ``index`` (default: the next pose)."""
        i = self.index if index is None else int(index)
        pose = self.poses[i % len(self.poses)]
        if index is None:
            self.index += 1
        from camdeck.drivers.sim.board_render import capture_board

        return [capture_board(cam, self.board, pose, timeout_s=timeout_s) for cam in self.cameras]
