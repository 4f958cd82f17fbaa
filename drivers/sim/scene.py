"""The simulated 3D scene: textured primitives in front of a wall, above a floor; exact ray casting.

The scene is the ground truth of every accuracy test: ``render`` gives radiance, depth and
the object mask for any pinhole camera; ``occupancy`` gives the true voxel grid.

Conventions (DESIGN.md): world frame z up, metres; a camera maps world points by
``x_cam = R @ X + t`` into the OpenCV optical frame (x right, y down, z forward);
pixel ``(u, v)`` sees the ray through ``K^-1 @ [u, v, 1]``, with pixel centres at integers.
Voxel ``(i, j, k)`` has centre ``grid_center + (np.array([i, j, k]) - (N - 1) / 2) * voxel_size``
and grids are indexed ``[x, y, z]``.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from drivers.sim.primitives import Box, Cylinder, Plane, Primitive, Sphere
from drivers.sim.texture import SolidTexture

LAB_CENTER: tuple[float, float, float] = (0.0, 2.5, 1.0)   # middle of the objects, metres
WALL_Y_M = 5.5                                              # the background wall is the plane y = 5.5
LIGHT_DIR = np.array([0.4, -0.5, 0.8]) / np.linalg.norm([0.4, -0.5, 0.8])  # towards the light
# Radiance bounds the lab scene keeps (after shading): every object pixel is brighter than
# every background pixel, so thresholding between them separates objects (voxel carving).
OBJECT_RADIANCE_MIN = 0.33
BACKGROUND_RADIANCE_MAX = 0.24
_SKY_RADIANCE = 0.01
_CHUNK_RAYS = 1 << 17


@dataclass(frozen=True)
class Render:
    """What a noise-free pinhole camera sees.

    Attributes:
        rgb: (H, W, 3) float32 linear radiance in [0, 1].
        depth: (H, W) float32 z in the camera frame, metres; inf where no surface.
        object_mask: (H, W) bool, pixels that see an object (not wall, floor or nothing).
    """

    rgb: np.ndarray
    depth: np.ndarray
    object_mask: np.ndarray


def look_at(position: Sequence[float], target: Sequence[float],
            up: Sequence[float] = (0.0, 0.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Pose of a camera at ``position`` looking at ``target`` (metres), image top towards ``up``.

    Returns:
        R: (3, 3) float64 world -> camera; t: (3,) float64, so ``x_cam = R @ X + t``.

    Raises:
        ValueError: position equals target, or the view direction is parallel to ``up``.
    """
    pos = np.asarray(position, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - pos
    if np.linalg.norm(z) < 1e-12:
        raise ValueError(f"look_at: position {tuple(pos)} equals the target; give a distinct target")
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(x) < 1e-9:
        raise ValueError("look_at: the view direction is parallel to 'up'; pass another up vector")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    return R, -R @ pos


def intrinsics_from_hfov(hfov_deg: float, size: tuple[int, int]) -> np.ndarray:
    """(3, 3) float64 K with square pixels for a horizontal field of view over ``size`` (w, h) px;
    principal point at ((w - 1) / 2, (h - 1) / 2)."""
    w, h = size
    if not 0 < hfov_deg < 180:
        raise ValueError(f"hfov_deg must be in (0, 180), got {hfov_deg}")
    f = 0.5 * w / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])


def pixel_rays(K: np.ndarray, R: np.ndarray, t: np.ndarray,
               size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre (3,) and world ray directions (3, H*W) (pixels row-major), scaled so
    that the ray parameter equals the camera-frame depth z."""
    w, h = size
    K = np.asarray(K, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64).reshape(3)
    pix = np.empty((3, h, w))
    pix[0] = np.arange(w, dtype=np.float64)[None, :]
    pix[1] = np.arange(h, dtype=np.float64)[:, None]
    pix[2] = 1.0
    d_cam = np.linalg.inv(K) @ pix.reshape(3, -1)
    d_cam /= d_cam[2]
    return -R.T @ t, R.T @ d_cam


class Scene:
    """Textured objects (spheres, boxes, cylinders) and background planes.

    Args:
        objects: primitives that count as objects (occupancy, object mask).
        background: planes behind and below them (wall, floor).
    """

    def __init__(self, objects: Sequence[Primitive], background: Sequence[Plane]) -> None:
        self.objects = tuple(objects)
        self.background = tuple(background)
        self.primitives = self.objects + self.background

    # ---------------------------------------------------------------- ray casting
    def _trace(self, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit per ray: (depth (N,) float64 with inf, primitive index (N,) int, -1 = none)."""
        best = np.full(dirs.shape[1], np.inf)
        index = np.full(dirs.shape[1], -1, dtype=np.int64)
        for i, prim in enumerate(self.primitives):
            s = prim.intersect(origin, dirs)
            closer = s < best
            best[closer] = s[closer]
            index[closer] = i
        return best, index

    def _shade(self, origin: np.ndarray, dirs: np.ndarray, depth: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Linear radiance (N, 3) float32 of each ray's hit (Lambertian, soft key light)."""
        rgb = np.full((dirs.shape[1], 3), _SKY_RADIANCE, dtype=np.float32)
        for i, prim in enumerate(self.primitives):
            sel = np.nonzero(index == i)[0]
            if not len(sel):
                continue
            pts = origin[:, None] + depth[sel] * dirs[:, sel]
            lambert = np.clip(LIGHT_DIR @ prim.normal(pts), 0.0, 1.0).astype(np.float32)
            # objects: strong ambient so the shaded side stays brighter than any background
            shade = 0.75 + 0.25 * lambert if prim.is_object else 0.85 + 0.15 * lambert
            rgb[sel] = prim.texture.albedo(pts) * shade[:, None]
        return np.clip(rgb, 0.0, 1.0, out=rgb)

    def render(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> Render:
        """Radiance, depth and object mask through the pinhole camera (K, R, t) at ``size`` (w, h) px.

        Returns:
            Render with rgb (H, W, 3) float32, depth (H, W) float32 metres (inf: nothing),
            object_mask (H, W) bool.
        """
        w, h = _check_size(size)
        origin, dirs = pixel_rays(K, R, t, (w, h))
        rgb = np.empty((w * h, 3), np.float32)
        depth = np.empty(w * h, np.float32)
        mask = np.empty(w * h, bool)
        is_object = np.array([p.is_object for p in self.primitives] + [False])
        for a in range(0, w * h, _CHUNK_RAYS):
            b = min(a + _CHUNK_RAYS, w * h)
            d, idx = self._trace(origin, dirs[:, a:b])
            rgb[a:b] = self._shade(origin, dirs[:, a:b], d, idx)
            depth[a:b] = d
            mask[a:b] = is_object[idx]
        return Render(rgb.reshape(h, w, 3), depth.reshape(h, w), mask.reshape(h, w))

    def depth(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W) float32 camera-frame z of the nearest surface, metres; inf where none."""
        w, h = _check_size(size)
        origin, dirs = pixel_rays(K, R, t, (w, h))
        return self._trace(origin, dirs)[0].astype(np.float32).reshape(h, w)

    def silhouette(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W) bool: pixels whose ray hits an object first."""
        w, h = _check_size(size)
        origin, dirs = pixel_rays(K, R, t, (w, h))
        is_object = np.array([p.is_object for p in self.primitives] + [False])
        return is_object[self._trace(origin, dirs)[1]].reshape(h, w)

    # ---------------------------------------------------------------- volumes
    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: points (N, 3) metres inside any object."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3).T
        inside = np.zeros(pts.shape[1], dtype=bool)
        for prim in self.objects:
            inside |= prim.contains(pts)
        return inside

    def occupancy(self, grid_size: int, voxel_size: float,
                  grid_center: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
        """True occupancy of a cubic voxel grid: (N, N, N) bool indexed [x, y, z]; a voxel is
        occupied when its centre lies inside an object (wall and floor excluded).

        Args:
            grid_size: N voxels per axis.
            voxel_size: edge length, metres.
            grid_center: (3,) world position of the grid's centre, metres.
        """
        n = int(grid_size)
        if n < 1 or voxel_size <= 0:
            raise ValueError(f"occupancy needs grid_size >= 1 and voxel_size > 0, got {grid_size}, {voxel_size}")
        axis = (np.arange(n) - (n - 1) / 2) * float(voxel_size)
        c = np.asarray(grid_center, dtype=np.float64)
        out = np.empty((n, n, n), dtype=bool)
        gy, gz = np.meshgrid(axis + c[1], axis + c[2], indexing="ij")
        for i in range(n):                      # one x-slab at a time: bounded memory at N = 256
            pts = np.stack([np.full(gy.size, axis[i] + c[0]), gy.ravel(), gz.ravel()])
            inside = np.zeros(pts.shape[1], dtype=bool)
            for prim in self.objects:
                inside |= prim.contains(pts)
            out[i] = inside.reshape(n, n)
        return out


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 1 or h < 1:
        raise ValueError(f"image size must be positive (w, h), got {size}")
    return w, h


def _object_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    """A tinted, bright paint: every channel in [0.6, 0.75]."""
    c = rng.uniform(0.6, 0.75, 3)
    c[rng.integers(3)] = 0.75
    return tuple(float(v) for v in c)


def _background_colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(0.05, 0.16, 3))


@functools.lru_cache(maxsize=8)
def lab_scene(seed: int = 0) -> Scene:
    """The default scene: five textured objects about ``LAB_CENTER``, a wall at y = 5.5 m,
    the floor at z = 0. Geometry is fixed; colours and textures follow ``seed``.

    The objects float in a region about 0.8 m across (x -0.4..0.4, y 2.2..2.9, z 0.55..1.45).
    Object radiance stays >= OBJECT_RADIANCE_MIN, background <= BACKGROUND_RADIANCE_MAX.
    """
    rng = np.random.default_rng([seed, 6620])

    def obj_tex() -> SolidTexture:
        return SolidTexture(_object_colour(rng), _object_colour(rng), contrast=0.22,
                            coarse_m=0.15, fine_m=0.006, spot_m=0.05, seed=int(rng.integers(2**31)))

    def bg_tex(flat_axis: int) -> SolidTexture:
        # brighter-than-mean paints may gain up to +50 % from the texture: cap the product
        a, b = _background_colour(rng), _background_colour(rng)
        return SolidTexture(a, b, contrast=0.45, coarse_m=0.6, fine_m=0.012, spot_m=0.15,
                            seed=int(rng.integers(2**31)), flat_axis=flat_axis)

    objects = [
        Sphere((-0.20, 2.45, 1.12), 0.20, obj_tex()),
        Box((0.20, 2.60, 0.95), (0.30, 0.25, 0.35), 30.0, obj_tex()),
        Sphere((0.12, 2.30, 1.32), 0.10, obj_tex()),
        Cylinder((-0.10, 2.80, 0.76), 0.09, 0.40, obj_tex()),
        Box((-0.30, 2.30, 0.72), (0.16, 0.16, 0.16), -20.0, obj_tex()),
    ]
    background = [
        Plane((0.0, WALL_Y_M, 0.0), (0.0, -1.0, 0.0), bg_tex(1)),
        Plane((0.0, 0.0, 0.0), (0.0, 0.0, 1.0), bg_tex(2)),
    ]
    return Scene(objects, background)
