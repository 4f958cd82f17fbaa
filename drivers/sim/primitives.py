"""Analytic scene primitives: ray intersection, surface normal and inside test, vectorised.

Rays are ``X(s) = origin + s * dirs``. The scene passes directions whose camera-frame z
component is 1, so the ray parameter ``s`` of a hit *is* the depth (z in the camera frame).
World frame: z up, metres. Point and direction arrays are (3, N): one row per axis
(row-contiguous, which keeps numpy fast on the long axis).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camdeck.drivers.sim.texture import SolidTexture

_INF = np.inf
_EPS = 1e-9


def _yaw_matrix(yaw_deg: float) -> np.ndarray:
    """(3, 3) rotation about world z by ``yaw_deg`` (object -> world)."""
    a = math.radians(yaw_deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _nearest_positive(*candidates: np.ndarray) -> np.ndarray:
    """Elementwise smallest value above a tiny epsilon (inf where none)."""
    out = np.full(candidates[0].shape, _INF)
    for c in candidates:
        np.minimum(out, np.where(c > _EPS, c, _INF), out=out)
    return out


def _centered(points: np.ndarray, center: tuple[float, float, float]) -> np.ndarray:
    return points - np.asarray(center, dtype=np.float64)[:, None]


@dataclass(frozen=True)
class Sphere:
    """A textured sphere. ``center`` (3,) metres, ``radius`` metres."""

    center: tuple[float, float, float]
    radius: float
    texture: SolidTexture
    is_object: bool = True

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter of the first hit in front of the origin, (N,) float64; inf on a miss."""
        oc = origin - np.asarray(self.center)
        a = (dirs * dirs).sum(axis=0)
        b = oc @ dirs
        c = float(oc @ oc) - self.radius ** 2
        disc = b * b - a * c
        root = np.sqrt(np.maximum(disc, 0.0))
        near = np.where(disc >= 0, (-b - root) / a, _INF)
        far = np.where(disc >= 0, (-b + root) / a, _INF)
        return _nearest_positive(near, far)

    def bounding_sphere(self) -> tuple[tuple[float, float, float], float]:
        """(centre, radius) of a sphere holding the primitive, metres."""
        return self.center, float(self.radius)

    def normal(self, points: np.ndarray) -> np.ndarray:
        """Unit outward normals (3, N) at surface points (3, N)."""
        n = _centered(points, self.center)
        return n / np.sqrt((n * n).sum(axis=0))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool: points (3, N) inside (or on) the sphere."""
        d = _centered(points, self.center)
        return (d * d).sum(axis=0) <= self.radius ** 2


@dataclass(frozen=True)
class Box:
    """A textured box turned ``yaw_deg`` about the vertical; ``size`` (3,) full edge lengths, metres."""

    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw_deg: float
    texture: SolidTexture
    is_object: bool = True

    def _half(self) -> np.ndarray:
        return 0.5 * np.asarray(self.size, dtype=np.float64)

    def bounding_sphere(self) -> tuple[tuple[float, float, float], float]:
        """(centre, radius) of a sphere holding the primitive, metres."""
        return self.center, float(np.linalg.norm(self._half()))

    def _to_local(self, v: np.ndarray) -> np.ndarray:
        return _yaw_matrix(self.yaw_deg).T @ v      # world axes -> box axes

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Slab test; (N,) float64 ray parameter of the first hit, inf on a miss."""
        half = self._half()
        o = self._to_local(origin - np.asarray(self.center))
        d = self._to_local(dirs)
        t_in = np.full(d.shape[1], -_INF)
        t_out = np.full(d.shape[1], _INF)
        for ax in range(3):
            da = d[ax]
            if abs(o[ax]) > half[ax]:
                t_out[da == 0] = -_INF                 # parallel to the slab, outside it: miss
            with np.errstate(divide="ignore", invalid="ignore"):
                t1 = (-half[ax] - o[ax]) / da
                t2 = (half[ax] - o[ax]) / da
            ok = da != 0
            np.maximum(t_in, np.where(ok, np.minimum(t1, t2), -_INF), out=t_in)
            np.minimum(t_out, np.where(ok, np.maximum(t1, t2), _INF), out=t_out)
        hit = t_out >= np.maximum(t_in, 0.0)
        return np.where(hit, np.where(t_in > _EPS, t_in, t_out), _INF)

    def normal(self, points: np.ndarray) -> np.ndarray:
        """Unit outward normals (3, N) of the face each surface point lies on."""
        p = self._to_local(_centered(points, self.center))
        rel = np.abs(p) / self._half()[:, None]
        axis = np.argmax(rel, axis=0)
        n_local = np.zeros_like(p)
        cols = np.arange(p.shape[1])
        n_local[axis, cols] = np.sign(p[axis, cols])
        return _yaw_matrix(self.yaw_deg) @ n_local

    def contains(self, points: np.ndarray) -> np.ndarray:
        p = self._to_local(_centered(points, self.center))
        return np.all(np.abs(p) <= self._half()[:, None], axis=0)


@dataclass(frozen=True)
class Cylinder:
    """A textured upright cylinder with flat caps; ``center`` is its middle, metres."""

    center: tuple[float, float, float]
    radius: float
    height: float
    texture: SolidTexture
    is_object: bool = True

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """(N,) float64 ray parameter of the first hit (side or caps), inf on a miss."""
        o = origin - np.asarray(self.center)
        dx, dy, dz = dirs
        half = 0.5 * self.height
        a = dx * dx + dy * dy
        b = dx * o[0] + dy * o[1]
        c = o[0] ** 2 + o[1] ** 2 - self.radius ** 2
        disc = b * b - a * c
        valid = (disc >= 0) & (a > 0)
        root = np.sqrt(np.maximum(disc, 0.0))
        safe_a = np.where(a > 0, a, 1.0)
        candidates = []
        for sign in (-1.0, 1.0):
            s = np.where(valid, (-b + sign * root) / safe_a, _INF)
            with np.errstate(invalid="ignore"):          # inf * 0 on a level ray that misses: nan, no hit
                candidates.append(np.where(np.abs(o[2] + s * dz) <= half, s, _INF))
        safe_dz = np.where(dz != 0, dz, 1.0)
        for zc in (-half, half):
            s = (zc - o[2]) / safe_dz
            x, y = o[0] + s * dx, o[1] + s * dy
            candidates.append(np.where((dz != 0) & (x * x + y * y <= self.radius ** 2), s, _INF))
        return _nearest_positive(*candidates)

    def bounding_sphere(self) -> tuple[tuple[float, float, float], float]:
        """(centre, radius) of a sphere holding the primitive, metres."""
        return self.center, math.hypot(self.radius, 0.5 * self.height)

    def normal(self, points: np.ndarray) -> np.ndarray:
        """Unit outward normals (3, N): radial on the side, +-z on the caps."""
        p = _centered(points, self.center)
        half = 0.5 * self.height
        radial = np.hypot(p[0], p[1])
        on_cap = np.abs(np.abs(p[2]) - half) < np.abs(radial - self.radius)   # nearer a cap than the side
        safe = np.where(radial > 0, radial, 1.0)
        n = np.stack([p[0] / safe, p[1] / safe, np.zeros_like(radial)])
        n[:, on_cap] = 0.0
        n[2, on_cap] = np.sign(p[2, on_cap])
        return n

    def contains(self, points: np.ndarray) -> np.ndarray:
        p = _centered(points, self.center)
        return (p[0] ** 2 + p[1] ** 2 <= self.radius ** 2) & (np.abs(p[2]) <= 0.5 * self.height)


@dataclass(frozen=True)
class Plane:
    """An infinite textured plane through ``point`` facing ``normal_vec`` (background: wall, floor)."""

    point: tuple[float, float, float]
    normal_vec: tuple[float, float, float]
    texture: SolidTexture
    is_object: bool = False

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """(N,) float64 ray parameter where rays meet the plane in front of the origin, else inf."""
        n = np.asarray(self.normal_vec, dtype=np.float64)
        denom = n @ dirs
        num = float((np.asarray(self.point) - origin) @ n)
        with np.errstate(divide="ignore", invalid="ignore"):
            s = num / denom
        return np.where(np.isfinite(s) & (s > _EPS), s, _INF)

    def bounding_sphere(self) -> None:
        """None: a plane is unbounded."""
        return None

    def normal(self, points: np.ndarray) -> np.ndarray:
        n = np.asarray(self.normal_vec, dtype=np.float64)[:, None]
        return np.broadcast_to(n, points.shape)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.zeros(points.shape[1], dtype=bool)


Primitive = Sphere | Box | Cylinder | Plane
