"""The simulated 3D scene: textured primitives in front of a wall, above a floor; exact ray casting.

The scene is the ground truth of every accuracy test: ``render`` gives radiance, depth and
the object mask for any pinhole camera; ``occupancy`` gives the true voxel grid.

Conventions (docs/design.md): world frame z up, metres; a camera maps world points by
``x_cam = R @ X + t`` into the OpenCV optical frame (x right, y down, z forward);
pixel ``(u, v)`` sees the ray through ``K^-1 @ [u, v, 1]``, with pixel centres at integers.
Voxel ``(i, j, k)`` has centre ``grid_center + (np.array([i, j, k]) - (N - 1) / 2) * voxel_size``
and grids are indexed ``[x, y, z]``.
"""
from __future__ import annotations

import functools
import math
import threading
from typing import Callable, Sequence

import numpy as np

from camdeck.drivers.sim.primitives import Box, Cylinder, Plane, Primitive, Sphere
from camdeck.drivers.sim.texture import SolidTexture

LAB_CENTER: tuple[float, float, float] = (0.0, 2.5, 1.0)   # middle of the objects, metres
WALL_Y_M = 5.5                                              # the background wall is the plane y = 5.5
LIGHT_DIR = np.array([0.4, -0.5, 0.8]) / np.linalg.norm([0.4, -0.5, 0.8])  # towards the light
# Radiance bounds the lab scene keeps (after shading): every object pixel is brighter than
# every background pixel, so thresholding between them separates objects (voxel carving).
OBJECT_RADIANCE_MIN = 0.33
BACKGROUND_RADIANCE_MAX = 0.24
_SKY_RADIANCE = 0.01
_BAND_RAYS = 1 << 15    # rays per band of image rows: a band's arrays stay in the CPU cache


class Render:
    """What a noise-free pinhole camera sees.

    Attributes:
        rgb: (H, W, 3) float32 linear radiance in [0, 1].
        depth: (H, W) float32 z in the camera frame, metres; inf where no surface.
        object_mask: (H, W) bool, pixels that see an object (not wall, floor or nothing).

    Args:
        rgb, depth, object_mask: the arrays. depth and object_mask may be left out when
            ``trace`` is given: it returns both, and runs once, when one is first read
            (thread-safe). The simulator's render cache keeps renders for a console's life,
            and a simulated ASI camera never reads them: 10 MB of a 1920x1080 render.
    """

    def __init__(self, rgb: np.ndarray, depth: np.ndarray | None = None, object_mask: np.ndarray | None = None,
                 *, trace: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        if (depth is None or object_mask is None) and trace is None:
            raise ValueError("Render: pass depth and object_mask, or trace to compute them")
        self.rgb = rgb
        self._depth, self._object_mask, self._trace = depth, object_mask, trace
        self._lock = threading.Lock()

    @property
    def depth(self) -> np.ndarray:
        return self._traced()[0]

    @property
    def object_mask(self) -> np.ndarray:
        return self._traced()[1]

    @property
    def nbytes(self) -> int:
        """Bytes the render holds now (depth and object_mask once they were traced)."""
        return self.rgb.nbytes + sum(a.nbytes for a in (self._depth, self._object_mask) if a is not None)

    def _traced(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._depth is None or self._object_mask is None:
                self._depth, self._object_mask = self._trace()
                self._trace = None
            return self._depth, self._object_mask


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


def pixel_rays(K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int],
               rows: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Camera centre (3,) and world ray directions (3, H*W) (pixels row-major), scaled so
    that the ray parameter equals the camera-frame depth z.

    ``rows`` = (first, stop) gives the rays of those image rows only: the same numbers as the
    matching columns of the whole image's rays (tests/drivers/test_sim_scene.py checks that a
    render does not depend on how the image is cut into bands)."""
    w, h = size
    r0, r1 = (0, h) if rows is None else rows
    K = np.asarray(K, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64).reshape(3)
    pix = np.empty((3, r1 - r0, w))
    pix[0] = np.arange(w, dtype=np.float64)[None, :]
    pix[1] = np.arange(r0, r1, dtype=np.float64)[:, None]
    pix[2] = 1.0
    d_cam = np.linalg.inv(K) @ pix.reshape(3, -1)
    d_cam /= d_cam[2]
    return -R.T @ t, R.T @ d_cam


_NO_PIXELS = (0, 0, 0, 0)


def pixel_bounds(prim: Primitive, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                 size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(u0, u1, v0, v1): a half-open pixel rectangle outside which no ray of the camera can
    hit ``prim``; the whole image for a plane, or when the primitive reaches behind the camera.

    The primitive lies inside its bounding sphere, the sphere inside a cube; in front of the
    camera a convex body projects inside the hull of its corners' projections. A pixel sees
    the point its ray passes through on the image plane, so rays outside the rectangle (plus a
    margin for rounding) miss the sphere, hence the primitive.
    """
    w, h = size
    bound = prim.bounding_sphere()
    if bound is None:
        return 0, w, 0, h
    centre, radius = bound
    radius = radius * 1.001 + 1e-6
    c_cam = np.asarray(R, np.float64) @ np.asarray(centre, np.float64) + np.asarray(t, np.float64).reshape(3)
    corners = c_cam[:, None] + radius * _CUBE_CORNERS
    if corners[2].min() <= 1e-3:
        return 0, w, 0, h
    uvw = np.asarray(K, np.float64) @ corners
    u, v = uvw[0] / uvw[2], uvw[1] / uvw[2]
    margin = 2
    u0, u1 = max(0, math.floor(u.min()) - margin), min(w, math.ceil(u.max()) + margin + 1)
    v0, v1 = max(0, math.floor(v.min()) - margin), min(h, math.ceil(v.max()) + margin + 1)
    if u0 >= u1 or v0 >= v1:
        return _NO_PIXELS
    return u0, u1, v0, v1


_CUBE_CORNERS = np.array([[x, y, z] for x in (-1.0, 1.0) for y in (-1.0, 1.0) for z in (-1.0, 1.0)]).T


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
        self._is_object = np.array([p.is_object for p in self.primitives] + [False])
        self._index_dtype = np.int8 if len(self.primitives) < 127 else np.int32

    # ---------------------------------------------------------------- ray casting
    def _cast(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int],
              shade: bool) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """Trace (and shade) every pixel, a band of rows at a time.

        Returns:
            rgb (H*W, 3) float32 or None, depth (H*W,) float32 (inf: nothing), primitive
            index (H*W,) (-1: nothing).

        Per band: each primitive is intersected with the rays of its pixel_bounds rectangle
        only (the nearest hit wins; on a tie the earlier primitive); then the pixels each
        primitive won are shaded. Every number is computed per ray as in a whole-image pass.
        """
        w, h = _check_size(size)
        bounds = [pixel_bounds(p, K, R, t, (w, h)) for p in self.primitives]
        rgb = np.empty((w * h, 3), np.float32) if shade else None
        depth = np.empty(w * h, np.float32)
        index = np.empty(w * h, self._index_dtype)
        band_rows = max(1, _BAND_RAYS // w)
        for r0 in range(0, h, band_rows):
            r1 = min(h, r0 + band_rows)
            origin, dirs = pixel_rays(K, R, t, (w, h), rows=(r0, r1))
            best, idx = self._trace_band(origin, dirs, bounds, w, r0, r1)
            a, b = r0 * w, r1 * w
            depth[a:b] = best
            index[a:b] = idx
            if shade:
                rgb[a:b] = self._shade_band(origin, dirs, best, idx).T
        return rgb, depth, index

    def _trace_band(self, origin: np.ndarray, dirs: np.ndarray, bounds: list, w: int, r0: int,
                    r1: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest hit per ray of rows r0..r1: (depth (N,) float64 with inf, primitive index (N,), -1 = none)."""
        best = np.full(dirs.shape[1], np.inf)
        index = np.full(dirs.shape[1], -1, dtype=self._index_dtype)
        for i, prim in enumerate(self.primitives):
            u0, u1, v0, v1 = bounds[i]
            a, b = max(v0, r0), min(v1, r1)
            if a >= b or u0 >= u1:
                continue
            if (a, b, u0, u1) == (r0, r1, 0, w):
                s, best_v, index_v = prim.intersect(origin, dirs), best, index
            else:
                sub = dirs.reshape(3, r1 - r0, w)[:, a - r0:b - r0, u0:u1]
                s = prim.intersect(origin, sub.reshape(3, -1)).reshape(b - a, u1 - u0)
                best_v = best.reshape(r1 - r0, w)[a - r0:b - r0, u0:u1]
                index_v = index.reshape(r1 - r0, w)[a - r0:b - r0, u0:u1]
            closer = s < best_v
            best_v[closer] = s[closer]
            index_v[closer] = i
        return best, index

    def _shade_band(self, origin: np.ndarray, dirs: np.ndarray, depth: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Linear radiance (3, N) float32 of each ray's hit (Lambertian, soft key light)."""
        rgb = np.empty((3, dirs.shape[1]), dtype=np.float32)
        rgb.fill(_SKY_RADIANCE)
        with np.errstate(invalid="ignore"):            # inf * 0 where a ray meets nothing
            hits = depth * dirs
        hits += origin[:, None]                        # the hit points, as origin + depth * dir
        for i, prim in enumerate(self.primitives):
            sel = np.flatnonzero(index == i)
            if not len(sel):
                continue
            pts = hits.take(sel, axis=1)             # (faster than hits[:, sel])
            # a plane's normal is the same everywhere: one value stands for all (same arithmetic)
            normals = prim.normal(pts[:, :1] if isinstance(prim, Plane) else pts)
            lambert = np.clip(LIGHT_DIR @ normals, 0.0, 1.0).astype(np.float32)
            # objects: strong ambient so the shaded side stays brighter than any background
            shade = 0.75 + 0.25 * lambert if prim.is_object else 0.85 + 0.15 * lambert
            planes = prim.texture.albedo_planar(pts, shade if len(shade) > 1 else shade[0])
            for c in range(3):
                rgb[c][sel] = planes[c]
        return np.clip(rgb, 0.0, 1.0, out=rgb)

    def render(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int], *,
               lazy: bool = False) -> Render:
        """Radiance, depth and object mask through the pinhole camera (K, R, t) at ``size`` (w, h) px.

        Args:
            lazy: keep only the radiance now; depth and object mask are traced again (the
                same values, read-only) the first time one is read.

        Returns:
            Render with rgb (H, W, 3) float32, depth (H, W) float32 metres (inf: nothing),
            object_mask (H, W) bool.
        """
        w, h = _check_size(size)
        rgb, depth, index = self._cast(K, R, t, (w, h), shade=True)
        if not lazy:
            return Render(rgb.reshape(h, w, 3), depth.reshape(h, w), self._is_object[index].reshape(h, w))
        del depth, index
        pose = tuple(np.array(a, dtype=np.float64) for a in (K, R, t))   # the caller's may change later

        def trace() -> tuple[np.ndarray, np.ndarray]:
            _, traced, hit = self._cast(*pose, (w, h), shade=False)
            depth_hw, mask_hw = traced.reshape(h, w), self._is_object[hit].reshape(h, w)
            depth_hw.flags.writeable = mask_hw.flags.writeable = False
            return depth_hw, mask_hw
        return Render(rgb.reshape(h, w, 3), trace=trace)

    def depth(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W) float32 camera-frame z of the nearest surface, metres; inf where none."""
        w, h = _check_size(size)
        return self._cast(K, R, t, (w, h), shade=False)[1].reshape(h, w)

    def silhouette(self, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """(H, W) bool: pixels whose ray hits an object first."""
        w, h = _check_size(size)
        return self._is_object[self._cast(K, R, t, (w, h), shade=False)[2]].reshape(h, w)

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
