"""Procedural solid textures for the simulated scene: seeded 3D value noise, summed over octaves.

A solid texture is a function of the 3D surface point, so it needs no UV mapping, has no
seams, and looks the same from every camera (what stereo matching and feature matching
rely on). Everything here is deterministic from the seed.

``value_noise`` and ``value_noise_2d`` are the definitions. ``SolidTexture.albedo`` evaluates
the same float32 operations in the same order, so it gives the same bits, but faster: points
go through in cache-sized blocks with preallocated buffers, and the lattice corners a lookup
needs come from per-octave corner tables (one gather of 4 or 2 values instead of 4 or 8
gathers plus the index arithmetic of the wrap-around).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_LATTICE = 32  # lattice cells per axis before the noise repeats (per octave)
_BLOCK = 8192  # points per block in SolidTexture.albedo (its buffers stay in the CPU cache)


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


def _corners_2d(lattice: np.ndarray) -> np.ndarray:
    """(32 * 32, 4) float32: row ``i * 32 + j`` holds the lattice values of value_noise_2d's
    cell (i, j) at its corners (i, j), (i + 1, j), (i, j + 1), (i + 1, j + 1), wrapping at 32."""
    lat = lattice[:_LATTICE * _LATTICE].reshape(_LATTICE, _LATTICE)
    lat_x = np.roll(lat, -1, axis=0)
    return np.ascontiguousarray(np.stack([lat, lat_x, np.roll(lat, -1, axis=1), np.roll(lat_x, -1, axis=1)],
                                         axis=-1).reshape(-1, 4))


def _corners_3d(lattice: np.ndarray) -> np.ndarray:
    """(32 ** 3, 2) float32: row ``(i * 32 + j) * 32 + k`` holds the lattice values at
    (i, j, k) and (i + 1, j, k) (wrapping at 32): the two ends of value_noise's x-lerps."""
    lat = lattice.reshape(_LATTICE, _LATTICE, _LATTICE)
    return np.ascontiguousarray(np.stack([lat, np.roll(lat, -1, axis=0)], axis=-1).reshape(-1, 2))


class _Buffers:
    """Scratch arrays for one albedo call (blocks of at most ``m`` points over ``dims`` axes)."""

    def __init__(self, dims: int, m: int) -> None:
        self.q = np.empty((dims, m), np.float32)
        self.cell = np.empty((dims, m), np.float32)
        self.w = np.empty((dims, m), np.float32)
        self.tmp = np.empty((dims, m), np.float32)
        self.idx32 = np.empty((dims, m), np.int32)
        self.idx = np.empty((dims, m), np.intp)
        self.corners = np.empty((m, 4 if dims == 2 else 2), np.float32)
        self.k = np.empty((4, m), np.intp)
        self.lerp = np.empty((6, m), np.float32)
        self.noise = np.empty(m, np.float32)
        self.fbm = np.empty(m, np.float32)

    def view(self, m: int) -> "_Buffers":
        """The same buffers cut to ``m`` points (the last, shorter block)."""
        if m == self.noise.shape[0]:
            return self
        out = object.__new__(_Buffers)
        for name, arr in vars(self).items():
            setattr(out, name, arr[..., :m] if name != "corners" else arr[:m])
        return out


def _weights(b: _Buffers, pts: np.ndarray, freq: np.float32, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shared start of both noises, as value_noise computes it: the smoothstep weights (dims, m)
    and the wrapped integer cell (dims, m)."""
    q = np.multiply(pts, freq, out=b.q)
    q += offset
    cell = np.floor(q, out=b.cell)
    np.copyto(b.idx32, cell, casting="unsafe")   # cell.astype(np.int32), as value_noise (far out too)
    b.idx32 &= _LATTICE - 1
    ic = b.idx
    np.copyto(ic, b.idx32)                        # as intp: numpy's take wants it
    frac = np.subtract(q, cell, out=q)
    w = np.multiply(frac, frac, out=b.w)          # frac * frac * (3.0 - 2.0 * frac)
    t = np.multiply(frac, 2.0, out=b.tmp)
    np.subtract(3.0, t, out=t)
    w *= t
    return w, ic


def _noise_2d_fast(b: _Buffers, pts: np.ndarray, corners: np.ndarray, freq: np.float32,
                   offset: np.ndarray) -> np.ndarray:
    """value_noise_2d(pts, ...) into ``b.noise``, bit for bit."""
    w, ic = _weights(b, pts, freq, offset)
    k = ic[0]
    k <<= 5                                       # i * 32 + j
    k |= ic[1]
    g = corners.take(k, axis=0, out=b.corners)
    lo0, hi0, lo1, hi1 = g[:, 0], g[:, 1], g[:, 2], g[:, 3]
    y0, y1 = b.lerp[0], b.lerp[1]
    np.subtract(hi0, lo0, out=y0)                 # y0 = lo0 + wx * (hi0 - lo0)
    y0 *= w[0]
    y0 += lo0
    np.subtract(hi1, lo1, out=y1)
    y1 *= w[0]
    y1 += lo1
    out = np.subtract(y1, y0, out=b.noise)        # y0 + wy * (y1 - y0)
    out *= w[1]
    out += y0
    return out


def _noise_3d_fast(b: _Buffers, pts: np.ndarray, corners: np.ndarray, freq: np.float32,
                   offset: np.ndarray) -> np.ndarray:
    """value_noise(pts, ...) into ``b.noise``, bit for bit."""
    w, ic = _weights(b, pts, freq, offset)
    n = _LATTICE
    ix, iy, iz = ic[0], ic[1], ic[2]
    ix *= n * n
    jy, jz = b.k[2], b.k[3]
    np.add(iy, 1, out=jy)
    jy &= n - 1
    jy *= n
    iy *= n
    np.add(iz, 1, out=jz)
    jz &= n - 1
    iy += ix                                      # x * n * n + y * n (and with y + 1)
    jy += ix
    x = b.lerp
    for slot, (base, zz) in enumerate(((iy, iz), (jy, iz), (iy, jz), (jy, jz))):
        k = np.add(base, zz, out=b.k[0])
        g = corners.take(k, axis=0, out=b.corners)
        lo = g[:, 0]
        xs = np.subtract(g[:, 1], lo, out=x[slot])  # lerp_x: lo + wx * (hi - lo)
        xs *= w[0]
        xs += lo
    x00, x10, x01, x11 = x[0], x[1], x[2], x[3]
    y0, y1 = x[4], x[5]
    np.subtract(x10, x00, out=y0)
    y0 *= w[1]
    y0 += x00
    np.subtract(x11, x01, out=y1)
    y1 *= w[1]
    y1 += x01
    out = np.subtract(y1, y0, out=b.noise)
    out *= w[2]
    out += y0
    return out


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
    _fast: tuple | None = field(default=None, repr=False, compare=False, init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        n_oct = max(1, int(round(np.log2(self.coarse_m / self.fine_m))) + 1)
        octaves = tuple((_lattice(rng), 1.0 / (self.coarse_m * 0.5 ** o), rng.uniform(0, _LATTICE, 3))
                        for o in range(n_oct))
        spots = (_lattice(rng), 1.0 / self.spot_m, rng.uniform(0, _LATTICE, 3))
        object.__setattr__(self, "_tables", (octaves, spots))
        object.__setattr__(self, "_fast", None)

    def _fast_tables(self) -> tuple:
        """Per-octave (corner table, float32 frequency, float32 offset column), then the spots',
        built on first use (two threads may both build them: the tables are the same): a flat
        texture needs 16 KB per octave, a solid one 256 KB."""
        fast = self._fast
        if fast is None:
            dims = 3 if self.flat_axis is None else 2
            corners = _corners_3d if dims == 3 else _corners_2d
            octaves, spots = self._tables
            fast = tuple((corners(lat), np.float32(freq), off[:dims].astype(np.float32)[:, None])
                         for lat, freq, off in (*octaves, spots))
            object.__setattr__(self, "_fast", fast)
        return fast

    def albedo(self, points: np.ndarray) -> np.ndarray:
        """Linear RGB albedo at ``points`` ((3, N) metres): (N, 3) float32, within
        ``[min(color) * (1 - contrast), max(color) * (1 + contrast)]``."""
        planes = self.albedo_planar(points)
        return np.ascontiguousarray(planes.T)

    def albedo_planar(self, points: np.ndarray, scale: np.ndarray | float | None = None) -> np.ndarray:
        """``albedo(points).T * scale``: (3, N) float32, one row per channel.

        Args:
            points: (3, N) surface points, metres.
            scale: (N,) float32 or a scalar multiplying every channel (shading); None: 1.
        """
        pts = np.asarray(points, dtype=np.float32)
        if self.flat_axis is not None:
            pts = pts[[a for a in range(3) if a != self.flat_axis]]
        dims, n = pts.shape
        out = np.empty((3, n), np.float32)
        if n == 0:
            return out
        fast = self._fast_tables()
        noise = _noise_3d_fast if dims == 3 else _noise_2d_fast
        buffers = _Buffers(dims, min(n, _BLOCK))
        a = np.asarray(self.color_a, np.float32)
        ab = np.asarray(self.color_b, np.float32) - a
        fbm_scale = np.float32(1.6 / sum(0.9 ** o for o in range(len(fast) - 1)))
        contrast = np.float32(self.contrast)
        for lo in range(0, n, _BLOCK):
            hi = min(n, lo + _BLOCK)
            b = buffers.view(hi - lo)
            p = pts[:, lo:hi]
            fbm = b.fbm
            fbm.fill(0.0)
            for o, (corners, freq, off) in enumerate(fast[:-1]):
                v = noise(b, p, corners, freq, off)
                v *= np.float32(0.9 ** o)              # a flat spectrum: pixel-scale detail for dense stereo
                fbm += v
            # value noise rarely leaves [-0.6, 0.6]; scale the sum to about [-1, 1], then bound it
            fbm *= fbm_scale
            np.clip(fbm, -1.0, 1.0, out=fbm)
            spot = noise(b, p, *fast[-1])
            spot -= 0.1
            spot *= 8.0                                 # steep ramp: crisp blob edges
            np.clip(spot, 0.0, 1.0, out=spot)
            fbm *= contrast                             # the fbm modulation 1 + contrast * fbm
            fbm += 1.0
            for c in range(3):
                ch = np.multiply(spot, ab[c], out=out[c, lo:hi])   # mix(color_a, color_b, spot)
                ch += a[c]
                ch *= fbm
                if scale is not None:
                    ch *= scale if np.ndim(scale) == 0 else scale[lo:hi]
        return out
