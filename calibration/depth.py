"""Stereo depth: rectify, disparity (OpenCV SGBM), depth and points (kornia), range filter, PLY.

The pipeline of the Oak/Amiga-style depth cameras, for a calibrated pair:

1. rectify both views with the pair's ``R1/P1`` and ``R2/P2`` (``cv2.initUndistortRectifyMap``);
2. disparity with ``cv2.StereoSGBM`` (px, 1/16 px steps; 0 where there is no match);
3. depth with ``kornia.geometry.depth.depth_from_disparity``: z = f * B / d (metres);
4. points with ``kornia.geometry.depth.depth_to_3d_v2`` in the rectified left camera frame,
   turned back into the left camera's own frame (x_left = R1^T @ x_rect);
5. keep points whose depth in the left camera's own frame (its z, the depth a user measures from
   that camera) is within ``[min_depth_m, max_depth_m]`` (0.2-7.5 m by default): the rectified
   frame is turned by R1, so its z differs and a filter there would let points past the range;
6. a binary PLY with the left view's colour, and a colour-mapped disparity PNG.

Near limit: a point at depth z has disparity d = f * B / z, so the nearest depth the search
reaches is f * B / num_disparities. The automatic search range stops at MAX_DISPARITIES (256:
SGBM's time and memory grow with it); for the ASI662MC pair (f = 1844 px at 1920x1080,
B = 100 mm) that is 1844 * 0.1 / 256 = 0.72 m. Nearer objects get no (or a wrong) match unless
a larger range is asked for explicitly (``DepthOptions.num_disparities``, ``--max-disparity``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from camdeck.calibration.errors import CalibrationInputError, CalibrationWriteError
from camdeck.calibration.stereo import StereoCalibration
from camdeck.fastcore.extras import require_extra

MIN_DEPTH_M = 0.2
MAX_DEPTH_M = 7.5
MAX_DISPARITIES = 256


@dataclass(frozen=True)
class DepthOptions:
    """Knobs of the depth pipeline.

    Attributes:
        min_depth_m, max_depth_m: the range filter, metres (0 < min < max).
        num_disparities: SGBM search range, px, a positive multiple of 16 (any size, above 256
            too, when asked); None derives it from ``min_depth_m`` (capped at MAX_DISPARITIES = 256
            and at a quarter of the width: see :func:`nearest_depth_m` for what that costs).
        block_size: SGBM matching block, odd, 3..11.
        uniqueness_ratio: SGBM uniqueness margin, percent.
    """

    min_depth_m: float = MIN_DEPTH_M
    max_depth_m: float = MAX_DEPTH_M
    num_disparities: int | None = None
    block_size: int = 5
    uniqueness_ratio: int = 10

    def __post_init__(self) -> None:
        if not (0 < self.min_depth_m < self.max_depth_m) or not math.isfinite(self.max_depth_m):
            raise CalibrationInputError(
                f"depth range must be 0 < min < max, got {self.min_depth_m!r}..{self.max_depth_m!r} m",
                "give e.g. 0.2 and 7.5")
        if self.num_disparities is not None and (self.num_disparities < 16 or self.num_disparities % 16):
            raise CalibrationInputError(f"num_disparities must be a positive multiple of 16, got "
                                        f"{self.num_disparities!r}", "use 64, 128 or 256")
        if self.block_size % 2 == 0 or not 3 <= self.block_size <= 11:
            raise CalibrationInputError(f"block_size must be odd, 3..11, got {self.block_size!r}", "use 5")


@dataclass
class DepthResult:
    """One processed pair.

    Attributes:
        disparity: (H, W) float32 px in the rectified left view; 0 where no match.
        depth: (H, W) float32 z in the rectified left frame, metres; inf where no match or where the
            point's depth in the left camera's frame is out of range.
        points: (N, 3) float32 metres in the left camera's frame (x right, y down, z forward).
        colors: (N, 3) uint8 RGB of each point, from the left view.
        num_disparities: the SGBM search range used, px.
    """

    disparity: np.ndarray
    depth: np.ndarray
    points: np.ndarray
    colors: np.ndarray
    num_disparities: int


class Rectifier:
    """Rectification maps for a calibrated pair, computed once.

    Args:
        stereo: the calibrated pair.
    """

    def __init__(self, stereo: StereoCalibration) -> None:
        import cv2

        self.stereo = stereo
        size = tuple(int(v) for v in stereo.image_size)
        self._maps = [cv2.initUndistortRectifyMap(K, d, Rr, P, size, cv2.CV_32FC1)
                      for K, d, Rr, P in ((stereo.K1, stereo.dist1, stereo.R1, stereo.P1),
                                          (stereo.K2, stereo.dist2, stereo.R2, stereo.P2))]

    def rectify(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rectify a pair of (H, W) or (H, W, 3) images of the calibrated size.

        Raises:
            CalibrationInputError: an image whose size is not the calibration's.
        """
        import cv2

        w, h = self.stereo.image_size
        for name, img in (("left", left), ("right", right)):
            if np.asarray(img).shape[:2] != (h, w):
                raise CalibrationInputError(f"{name} image is {np.asarray(img).shape[1::-1]}, the calibration is "
                                            f"{w}x{h}", "capture at the calibrated resolution or calibrate again")
        return tuple(cv2.remap(np.ascontiguousarray(img), mx, my, cv2.INTER_LINEAR)  # type: ignore[return-value]
                     for img, (mx, my) in zip((left, right), self._maps))


def needed_disparities(stereo: StereoCalibration, min_depth_m: float) -> int:
    """The search range (a multiple of 16) that reaches ``min_depth_m``: f * B / z, rounded up."""
    need = stereo.rectified_focal_px * stereo.baseline_mm / 1000.0 / min_depth_m
    return int(max(16, math.ceil(need / 16.0) * 16))


def pick_num_disparities(stereo: StereoCalibration, min_depth_m: float) -> int:
    """SGBM search range that reaches ``min_depth_m`` (a multiple of 16, 16..256, <= width / 4)."""
    cap = max(16, min(MAX_DISPARITIES, (stereo.image_size[0] // 4) // 16 * 16))
    return int(min(cap, needed_disparities(stereo, min_depth_m)))


def nearest_depth_m(stereo: StereoCalibration, num_disparities: int) -> float:
    """The nearest depth a search of ``num_disparities`` px reaches: f * B / d, metres.

    For the ASI662MC pair at 1920x1080 (f = 1844 px, B = 100 mm) and 256 disparities: 0.72 m.
    """
    return stereo.rectified_focal_px * stereo.baseline_mm / 1000.0 / float(num_disparities)


def check_num_disparities(num_disparities: int, image_width: int, option: str = "num_disparities") -> int:
    """Validate an explicit search range: a positive multiple of 16, below the image width.

    Raises:
        CalibrationInputError: naming ``option`` and the fix.
    """
    if not isinstance(num_disparities, (int, np.integer)) or num_disparities < 16 or num_disparities % 16:
        raise CalibrationInputError(f"{option} must be a positive multiple of 16, got {num_disparities!r}",
                                    "use e.g. 256, 384 or 512")
    if num_disparities >= image_width:
        raise CalibrationInputError(f"{option} {num_disparities} is not below the image width {image_width} px",
                                    f"use at most {(image_width - 1) // 16 * 16}")
    return int(num_disparities)


def compute_disparity(left_rect: np.ndarray, right_rect: np.ndarray, *, num_disparities: int = 128,
                      block_size: int = 5, uniqueness_ratio: int = 10) -> np.ndarray:
    """Disparity of a rectified pair with OpenCV's semi-global block matcher.

    Args:
        left_rect, right_rect: (H, W) grey or (H, W, 3) RGB, uint8, rectified.
        num_disparities: search range, px, a positive multiple of 16.
        block_size: odd matching block size, px.
        uniqueness_ratio: percent margin the best match must win by.

    Returns:
        (H, W) float32 disparity, px; 0 where no reliable match.

    Raises:
        CalibrationInputError: images of different shapes, or a bad search range.
    """
    import cv2

    if np.asarray(left_rect).shape != np.asarray(right_rect).shape:
        raise CalibrationInputError(f"left {np.asarray(left_rect).shape} and right {np.asarray(right_rect).shape} "
                                    "differ", "rectify both views of one pair")
    if num_disparities < 16 or num_disparities % 16:
        raise CalibrationInputError(f"num_disparities must be a positive multiple of 16, got {num_disparities!r}",
                                    "use 64, 128 or 256")
    gl, gr = (_gray(img) for img in (left_rect, right_rect))
    cn = 1
    sgbm = cv2.StereoSGBM_create(minDisparity=0, numDisparities=int(num_disparities), blockSize=int(block_size),
                                 P1=8 * cn * block_size ** 2, P2=32 * cn * block_size ** 2, disp12MaxDiff=1,
                                 uniquenessRatio=int(uniqueness_ratio), speckleWindowSize=100, speckleRange=2,
                                 preFilterCap=63, mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY)
    raw = sgbm.compute(gl, gr)
    disp = raw.astype(np.float32) / 16.0
    disp[disp <= 0] = 0.0
    return disp


def _gray(img: np.ndarray) -> np.ndarray:
    import cv2

    arr = np.asarray(img)
    if arr.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(arr)


def require_depth_libraries(what: str = "stereo depth") -> None:
    """Fail early, before any camera opens, when torch or kornia (the ``torch`` extra) is missing.

    Raises:
        MissingExtra: (exit 2 in the CLI) naming the library and ``pip install 'camdeck[torch]'``.
    """
    require_extra("torch", what)
    require_extra("kornia.geometry.depth", what)


def disparity_to_depth(disparity: np.ndarray, baseline_m: float, focal_px: float) -> np.ndarray:
    """Depth z = f * B / d with kornia; (H, W) float32 metres, inf where the disparity is 0.

    Args:
        disparity: (H, W) px, 0 where no match.
        baseline_m: distance between the camera centres, metres, > 0.
        focal_px: rectified focal length, px, > 0.

    Raises:
        CalibrationInputError: a non-positive baseline or focal length.
    """
    torch = require_extra("torch", "stereo depth (disparity to depth)")
    depth_from_disparity = require_extra("kornia.geometry.depth", "stereo depth (disparity to depth)").depth_from_disparity

    if not baseline_m > 0 or not focal_px > 0:
        raise CalibrationInputError(f"baseline and focal must be > 0, got {baseline_m!r} m, {focal_px!r} px",
                                    "use a calibrated pair")
    disp = np.asarray(disparity, dtype=np.float32)
    depth = depth_from_disparity(torch.from_numpy(disp), float(baseline_m), float(focal_px)).numpy()
    return np.where(disp > 0, depth, np.inf).astype(np.float32)


def depth_to_points(depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Back-project a depth map with kornia's ``depth_to_3d_v2``.

    Args:
        depth: (H, W) z, metres (inf allowed: those points are inf).
        K: (3, 3) intrinsics of the view the depth belongs to, px.

    Returns:
        (H, W, 3) float32 camera-frame points, metres.
    """
    torch = require_extra("torch", "stereo depth (depth to points)")
    depth_to_3d_v2 = require_extra("kornia.geometry.depth", "stereo depth (depth to points)").depth_to_3d_v2

    K = np.asarray(K, dtype=np.float32)
    if K.shape != (3, 3):
        raise CalibrationInputError(f"K must be (3, 3), got {K.shape}", "pass the camera matrix")
    d = torch.from_numpy(np.ascontiguousarray(np.asarray(depth, dtype=np.float32)))
    pts = depth_to_3d_v2(d, torch.from_numpy(K)[None])
    return pts[0].numpy()


def colorize_disparity(disparity: np.ndarray, num_disparities: int | None = None) -> np.ndarray:
    """A colour-mapped picture of a disparity map, (H, W, 3) uint8 RGB (TURBO; black where no match)."""
    import cv2

    disp = np.asarray(disparity, dtype=np.float32)
    top = float(num_disparities or (disp.max() if disp.size and disp.max() > 0 else 1.0))
    scaled = np.clip(disp / top * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.applyColorMap(scaled, getattr(cv2, "COLORMAP_TURBO", cv2.COLORMAP_JET))[:, :, ::-1].copy()
    colour[disp <= 0] = 0
    return colour


def stereo_to_pointcloud(left: np.ndarray, right: np.ndarray, stereo: StereoCalibration, *,
                         options: DepthOptions | None = None, rectifier: Rectifier | None = None) -> DepthResult:
    """Run the whole pipeline on one pair of (unrectified) views.

    Args:
        left, right: (H, W, 3) RGB or (H, W) grey uint8 views at the calibrated size.
        stereo: the calibrated pair.
        options: range filter and SGBM knobs (defaults: 0.2-7.5 m).
        rectifier: reuse maps across frames (built when None).

    Returns:
        DepthResult with disparity, depth and the filtered, coloured points.

    Raises:
        CalibrationInputError: images of the wrong size.
    """
    options = options or DepthOptions()
    rectifier = rectifier or Rectifier(stereo)
    lr, rr = rectifier.rectify(left, right)
    if options.num_disparities:
        n_disp = check_num_disparities(options.num_disparities, int(stereo.image_size[0]))
    else:
        n_disp = pick_num_disparities(stereo, options.min_depth_m)
    disp = compute_disparity(lr, rr, num_disparities=n_disp, block_size=options.block_size,
                             uniqueness_ratio=options.uniqueness_ratio)
    depth = disparity_to_depth(disp, stereo.baseline_mm / 1000.0, stereo.rectified_focal_px)
    matched = np.isfinite(depth)
    K_rect = stereo.P1[:3, :3]
    pts_rect = depth_to_points(np.where(matched, depth, 0.0), K_rect)[matched]
    points = (pts_rect.astype(np.float64) @ stereo.R1).astype(np.float32)   # x_left = R1^T x_rect
    # The range is the left camera's own depth (its z), not the rectified z, which R1 turns.
    keep = (points[:, 2] >= options.min_depth_m) & (points[:, 2] <= options.max_depth_m)
    in_range = np.zeros_like(matched)
    in_range[matched] = keep
    depth = np.where(in_range, depth, np.inf).astype(np.float32)
    colour = lr if lr.ndim == 3 else np.repeat(lr[:, :, None], 3, axis=2)
    return DepthResult(disp, depth, points[keep], colour[in_range].astype(np.uint8), n_disp)


# ---------------------------------------------------------------- the job

#: progress(event, info): event is "frame" (info: index, points, files) or "skip" (info: index).
JobProgress = Callable[[str, dict[str, Any]], None]


@dataclass
class PointCloudJob:
    """Process a stream of pairs: every n-th pair becomes a point cloud, and optionally files.

    Attributes:
        stereo: the calibrated pair.
        out_dir: where files go ("disparity_000000.png", "cloud_000000.ply").
        every_n: process one pair in this many (>= 1).
        save_disparity: write a colour-mapped disparity PNG per processed pair.
        save_pointcloud: write a PLY per processed pair.
        options: the depth pipeline's knobs.
    """

    stereo: StereoCalibration
    out_dir: Path
    every_n: int = 5
    save_disparity: bool = False
    save_pointcloud: bool = False
    options: DepthOptions = field(default_factory=DepthOptions)

    def __post_init__(self) -> None:
        if not isinstance(self.every_n, int) or self.every_n < 1:
            raise CalibrationInputError(f"every_n must be an integer >= 1, got {self.every_n!r}",
                                        "use e.g. --every-n 5")
        require_depth_libraries()
        self._rectifier = Rectifier(self.stereo)

    def run(self, pairs: Iterable[tuple[np.ndarray, np.ndarray]],
            progress: JobProgress | None = None) -> list[dict[str, Any]]:
        """Consume ``pairs`` of (left, right) RGB views; returns one record per processed pair."""
        records = []
        for index, (left, right) in enumerate(pairs):
            if index % self.every_n:
                if progress:
                    progress("skip", {"index": index})
                continue
            result = stereo_to_pointcloud(left, right, self.stereo, options=self.options, rectifier=self._rectifier)
            record: dict[str, Any] = {"index": index, "points": int(len(result.points)),
                                      "valid_fraction": round(float((result.disparity > 0).mean()), 4),
                                      "median_depth_m": (round(float(np.median(result.points[:, 2])), 4)
                                                         if len(result.points) else None)}
            if self.save_disparity:
                record["disparity"] = str(self._write_png(f"disparity_{index:06d}.png",
                                                          colorize_disparity(result.disparity,
                                                                             result.num_disparities)))
            if self.save_pointcloud:
                from camdeck.calibration.ply import write_ply
                record["pointcloud"] = str(write_ply(self.out_dir / f"cloud_{index:06d}.ply",
                                                     result.points, result.colors))
            records.append(record)
            if progress:
                progress("frame", record)
        return records

    def _write_png(self, name: str, rgb: np.ndarray) -> Path:
        import cv2

        from camdeck.calibration.outputs import write_atomic

        path = self.out_dir / name
        ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
        if not ok:
            raise CalibrationWriteError(f"{path}: could not encode the PNG", "check the disparity image")
        return write_atomic(path, lambda fh: fh.write(png.tobytes()))
