"""Procedural solid textures for the simulated scene: seeded 3D value noise, summed over octaves.

A solid texture is a function of the 3D surface point, so it needs no UV mapping, has no
seams, and looks the same from every camera (what stereo matching and feature matching
rely on). Everything here is deterministic from the seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_LATTICE = 32  # lattice cells per axis before the noise repeats (per octave)


def _lattice(rng: np.random.Generator) -> np.ndarray:
    """A flat (32**3,) float32 table of lattice values uniform in [-1, 1]."""
    return rng.uniform(-1.0, 1.0, _LATTICE ** 3).astype(np.float32)


def value_noise(points: np.ndarray, lattice: np.ndarray, freq_per_m: float, offset: np.ndarray) -> np.ndarray:
    """Smooth 3D value noise at ``points``.

    Args:
        points: (3, N) float32 world points, metres (one row per axis).
        lattice: (32**3,) float32 random lattice values.
        freq_per_m: lattice cells per metre (the feature size is about 1 / freq metres).
        offset: (3,) shift in cells, so octaves and surfaces do not line up.

    Returns:
        (N,) float32 in [-1, 1].
    """
    q = points * np.float32(freq_per_m) + offset.astype(np.float32)[:, None]
    cell = np.floor(q)
    frac = q - cell
    w = frac * frac * (3.0 - 2.0 * frac)           # smoothstep: no creases at cell borders
    ic = cell.astype(np.int32) & (_LATTICE - 1)
    n = _LATTICE
    # flat lattice index = (x * n + y) * n + z, built from per-axis parts
    ix, iy, iz = ic[0] * (n * n), ic[1] * n, ic[2]
    jx, jy, jz = ((ic[0] + 1) & (n - 1)) * (n * n), ((ic[1] + 1) & (n - 1)) * n, (ic[2] + 1) & (n - 1)
    wx, wy, wz = w[0], w[1], w[2]

    def lerp_x(b, c):
        lo = lattice[ix + b + c]
        return lo + wx * (lattice[jx + b + c] - lo)

    x00 = lerp_x(iy, iz)
    x10 = lerp_x(jy, iz)
    x01 = lerp_x(iy, jz)
    x11 = lerp_x(jy, jz)
    y0 = x00 + wy * (x10 - x00)
    y1 = x01 + wy * (x11 - x01)
    return y0 + wz * (y1 - y0)


def value_noise_2d(points: np.ndarray, lattice: np.ndarray, freq_per_m: float, offset: np.ndarray) -> np.ndarray:
    """Value noise over two coordinates: ``points`` (2, N) float32 metres -> (N,) float32 in [-1, 1].

    Half the work of ``value_noise``; used on planes, where one coordinate is constant.
    """
    q = points * np.float32(freq_per_m) + offset[:2].astype(np.float32)[:, None]
    cell = np.floor(q)
    frac = q - cell
    w = frac * frac * (3.0 - 2.0 * frac)
    ic = cell.astype(np.int32) & (_LATTICE - 1)
    n = _LATTICE
    ix, iy = ic[0] * n, ic[1]
    jx, jy = ((ic[0] + 1) & (n - 1)) * n, (ic[1] + 1) & (n - 1)
    wx = w[0]
    lo0 = lattice[ix + iy]
    y0 = lo0 + wx * (lattice[jx + iy] - lo0)
    lo1 = lattice[ix + jy]
    y1 = lo1 + wx * (lattice[jx + jy] - lo1)
    return y0 + w[1] * (y1 - y0)


@dataclass(frozen=True)
class SolidTexture:
    """A coloured, multi-scale solid texture (albedo as a function of the 3D point).

    The albedo is ``mix(color_a, color_b, spots) * (1 + contrast * fbm)``: ``fbm`` is value
    noise summed over octaves from ``coarse_m`` down to ``fine_m`` (fine detail for dense
    stereo), ``spots`` is a thresholded noise field with sharp edges (corners for feature
    matching).

    Attributes:
        color_a, color_b: (3,) linear RGB albedo of the two paints.
        contrast: relative amplitude of the fbm modulation.
        coarse_m, fine_m: largest and smallest feature sizes, metres.
        spot_m: feature size of the spot pattern, metres.
        seed: texture seed.
        flat_axis: for a texture painted on an axis-aligned plane, the world axis that is
            constant there (0, 1, 2); the noise then runs over the other two (twice as fast).
    """

    color_a: tuple[float, float, float]
    color_b: tuple[float, float, float]
    contrast: float
    coarse_m: float
    fine_m: float
    spot_m: float
    seed: int
    flat_axis: int | None = None
    _tables: tuple = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        n_oct = max(1, int(round(np.log2(self.coarse_m / self.fine_m))) + 1)
        octaves = tuple((_lattice(rng), 1.0 / (self.coarse_m * 0.5 ** o), rng.uniform(0, _LATTICE, 3))
                        for o in range(n_oct))
        spots = (_lattice(rng), 1.0 / self.spot_m, rng.uniform(0, _LATTICE, 3))
        object.__setattr__(self, "_tables", (octaves, spots))

    def albedo(self, points: np.ndarray) -> np.ndarray:
        """Linear RGB albedo at ``points`` ((3, N) metres): (N, 3) float32, within
        ``[min(color) * (1 - contrast), max(color) * (1 + contrast)]``."""
        pts = np.asarray(points, dtype=np.float32)
        noise = value_noise
        if self.flat_axis is not None:
            pts = pts[[a for a in range(3) if a != self.flat_axis]]
            noise = value_noise_2d
        octaves, spots = self._tables
        fbm = np.zeros(pts.shape[1], np.float32)
        total = 0.0
        for o, (lat, freq, off) in enumerate(octaves):
            amp = 0.9 ** o   # a flat spectrum: pixel-scale detail for dense stereo
            fbm += np.float32(amp) * noise(pts, lat, freq, off)
            total += amp
        # value noise rarely leaves [-0.6, 0.6]; scale the sum to about [-1, 1], then bound it
        fbm *= np.float32(1.6 / total)
        np.clip(fbm, -1.0, 1.0, out=fbm)
        s = noise(pts, *spots)
        spot = np.clip((s - 0.1) * 8.0, 0.0, 1.0)[:, None]   # steep ramp: crisp blob edges
        a = np.asarray(self.color_a, np.float32)
        b = np.asarray(self.color_b, np.float32)
        rgb = a + spot * (b - a)
        rgb *= (1.0 + np.float32(self.contrast) * fbm)[:, None]
        return rgb
