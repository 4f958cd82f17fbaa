"""The simulated PTZ world: a procedural environment map seen through a pinhole camera.

The world is a sky sphere: its colour is a function of the world direction only, so two
views that differ by a pure rotation are related by an exact homography (what the offset
estimation of the fleet monitor relies on). The environment map is a cube map rather than
an equirectangular image: the PTZ heads tilt up to the zenith, where an equirectangular
texture degenerates, while a cube face keeps texels square within a factor of ~2.3 everywhere.

Texture: each face is a "dead leaves" image (random convex polygons and ellipses whose
sizes follow a power law), which is scale invariant, rich in distinctive corners at every
scale and free of repetition; colours shift from earth tones below the horizon to sky tones
above. It is generated deterministically from a seed, blurred slightly so that bilinear
sampling is faithful, and kept as a mip pyramid so zoomed-out views are anti-aliased
(trilinear between the two pyramid levels that bracket the view's pixel size).

Rendering: per view, the camera rays ``K^-1 [u, v, 1]`` (precomputed per K and size) are
rotated by ``R_W_cam`` and looked up in the cube map with ``cv2.remap`` (bilinear).
A ``Lighting`` (gain, gamma, per-channel colour gains) models a change of illumination.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: Texel pitch of a cube face at its centre, degrees, is TEXEL_DEG_PER_FACE_PX / face_px.
TEXEL_DEG_PER_FACE_PX = math.degrees(2.0)
MAX_FACE_PX = 2048
MIN_FACE_PX = 256
_MARGIN_PX = 32            # texture drawn beyond each face edge, so bilinear and mip filters never clamp


@dataclass(frozen=True)
class Lighting:
    """A change of illumination applied to a rendered view.

    ``out = 255 * clip(gain * (in / 255) ** gamma * colour_gains[c] + offset / 255)``, per RGB channel.
    The identity is ``Lighting()``.
    """

    gain: float = 1.0
    gamma: float = 1.0
    colour_gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self == Lighting()

    def luts(self) -> np.ndarray:
        """(256, 1, 3) uint8 lookup table, one column per RGB channel (for ``cv2.LUT``)."""
        x = np.arange(256, dtype=np.float64) / 255.0
        base = self.gain * np.power(x, self.gamma)
        out = np.stack([base * g + self.offset / 255.0 for g in self.colour_gains], axis=-1)
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).reshape(256, 1, 3)


def face_px_for_view(width_px: int, hfov_deg: float) -> int:
    """Cube-face size (a power of two) whose texels match the view's pixels at the centre."""
    pixel_deg = hfov_deg / float(width_px)
    want = TEXEL_DEG_PER_FACE_PX / pixel_deg
    px = 2 ** int(round(math.log2(max(want, 1.0))))
    return int(min(MAX_FACE_PX, max(MIN_FACE_PX, px)))


class PtzWorld:
    """A deterministic environment map (cube map with mip levels) and a renderer for it.

    Args:
        seed: texture seed; the same seed gives the same world, bit for bit.
        face_px: cube-face size in texels (a power of two, 256 to 2048); 2048 matches an
            8192 x 4096 equirectangular panorama in angular resolution.
    """

    def __init__(self, seed: int = 0, face_px: int = 1024) -> None:
        if face_px < 16 or face_px & (face_px - 1):
            raise ValueError(f"face_px must be a power of two of at least 16, got {face_px}")
        self.seed = int(seed)
        self.face_px = int(face_px)
        self._levels = _build_levels(self.seed, self.face_px)
        self._ray_cache: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def texel_deg(self) -> float:
        """Angular texel pitch at a face centre, degrees."""
        return TEXEL_DEG_PER_FACE_PX / self.face_px

    def render(self, K: np.ndarray, R_W_cam: np.ndarray, size: tuple[int, int],
               lighting: Lighting | None = None) -> np.ndarray:
        """Render the view of a pinhole camera.

        Args:
            K: (3, 3) intrinsics (px).
            R_W_cam: (3, 3) camera (optical, OpenCV) -> world (ENU) rotation.
            size: (width, height) px.
            lighting: optional illumination change.
        Returns:
            (height, width, 3) uint8 RGB.
        """
        import cv2

        w, h = int(size[0]), int(size[1])
        rays = self._rays(np.asarray(K, dtype=np.float64), w, h)       # (3, h * w) camera frame
        d = np.asarray(R_W_cam, dtype=np.float32) @ rays                # (3, h * w) world directions
        face, u, v = _cube_lookup(d[0].reshape(h, w), d[1].reshape(h, w), d[2].reshape(h, w))
        # Pixel pitch in texels at the image centre decides the mip level (trilinear between two).
        pixel_deg = math.degrees(math.atan(1.0 / float(K[0, 0])))
        level = max(0.0, math.log2(max(pixel_deg / self.texel_deg, 1e-9)))
        lo = min(int(math.floor(level)), len(self._levels) - 1)
        frac = 0.0 if lo == len(self._levels) - 1 else level - lo
        img = self._sample(lo, face, u, v)
        if frac > 0.02:
            img2 = self._sample(lo + 1, face, u, v)
            img = cv2.addWeighted(img, 1.0 - frac, img2, frac, 0.0)
        if lighting is not None and not lighting.is_identity:
            img = cv2.LUT(img, lighting.luts())
        return img

    # ------------------------------------------------------------ internals

    def _rays(self, K: np.ndarray, w: int, h: int) -> np.ndarray:
        key = (w, h, *np.round(K.ravel(), 9).tolist())
        with self._lock:
            rays = self._ray_cache.get(key)
            if rays is None:
                if len(self._ray_cache) > 8:
                    self._ray_cache.clear()
                Kinv = np.linalg.inv(K)
                uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
                pix = np.stack([uu.ravel(), vv.ravel(), np.ones(uu.size)])
                rays = np.ascontiguousarray((Kinv @ pix).astype(np.float32))
                self._ray_cache[key] = rays
        return rays

    def _sample(self, level: int, face: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        import cv2

        atlas, pitch = self._levels[level]
        scale = 1.0 / (1 << level)
        half = self.face_px / 2.0
        # Level-0 padded coordinates (texel centres at integers), then scaled to this level.
        col0 = u * np.float32(half) + np.float32(half - 0.5 + _MARGIN_PX)
        row0 = v * np.float32(half) + np.float32(half - 0.5 + _MARGIN_PX)
        map_x = col0 * np.float32(scale) + np.take(_FACE_COL * np.float32(pitch), face)
        map_y = row0 * np.float32(scale) + np.take(_FACE_ROW * np.float32(pitch), face)
        return cv2.remap(atlas, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


_FACE_COL = np.array([0, 1, 2, 0, 1, 2], np.float32)   # atlas cell of each face: 3 columns x 2 rows
_FACE_ROW = np.array([0, 0, 0, 1, 1, 1], np.float32)


def _cube_lookup(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direction components (each (H, W)) -> face 0..5 (+x, -x, +y, -y, +z, -z) and face coords u, v in [-1, 1].

    Face axis a with sign s; (u, v) are the two other components (ascending axis order) over |d_a|.
    """
    ax, ay, az = np.abs(x), np.abs(y), np.abs(z)
    on_x = (ax >= ay) & (ax >= az)
    on_z = ~on_x & (az > ay)
    on_y = ~on_x & ~on_z
    major = np.where(on_x, x, np.where(on_z, z, y))
    first = np.where(on_x, y, x)
    second = np.where(on_z, y, z)
    inv = np.float32(1.0) / np.abs(major)
    face = on_y.astype(np.int32) * 2 + on_z.astype(np.int32) * 4 + (major < 0)
    return face, first * inv, second * inv


# ------------------------------------------------------------ texture

_CACHE: dict[tuple[int, int], list[tuple[np.ndarray, float]]] = {}
_CACHE_LOCK = threading.Lock()


def _build_levels(seed: int, face_px: int) -> list[tuple[np.ndarray, float]]:
    """Mip levels of the cube atlas (cached per seed and size): [(atlas (H, W, 3) uint8, face pitch px)]."""
    key = (seed, face_px)
    with _CACHE_LOCK:
        levels = _CACHE.get(key)
        if levels is None:
            levels = _make_levels(seed, face_px)
            if len(_CACHE) >= 3:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = levels
        return levels


def _make_levels(seed: int, face_px: int) -> list[tuple[np.ndarray, float]]:
    import cv2

    faces = [_dead_leaves_face(seed, f, face_px) for f in range(6)]
    levels: list[tuple[np.ndarray, float]] = []
    n_levels = int(math.log2(_MARGIN_PX)) - 1      # keep at least 4 margin texels on the coarsest level
    for level in range(n_levels):
        pitch = faces[0].shape[0]
        atlas = np.zeros((2 * pitch, 3 * pitch, 3), np.uint8)
        for f, img in enumerate(faces):
            r, c = divmod(f, 3)
            atlas[r * pitch:(r + 1) * pitch, c * pitch:(c + 1) * pitch] = img
        levels.append((atlas, float(pitch)))
        if level + 1 < n_levels:
            faces = [cv2.pyrDown(img) for img in faces]
    return levels


def _dead_leaves_face(seed: int, face: int, face_px: int) -> np.ndarray:
    """One padded cube face, (face_px + 2 * margin)^2 x 3 uint8 RGB, deterministic in (seed, face)."""
    import cv2

    rng = np.random.default_rng([seed, face, face_px, 0x5EED])
    size = face_px + 2 * _MARGIN_PX
    shift = 4                                     # sub-pixel vertex precision for cv2 drawing
    one = 1 << shift
    img = np.empty((size, size, 3), np.uint8)
    img[:] = _palette(rng, face, np.array([0.5]))[0]
    r_min = max(2.0, 3.0 * face_px / 2048.0 * 1.5)
    r_max = face_px / 5.0
    octaves = max(1, int(math.log2(r_max / r_min)))
    radii: list[np.ndarray] = []
    for k in range(octaves):
        lo = r_max / 2 ** (k + 1)
        area = 0.6 * size * size                   # every octave covers about the same area
        n = int(area / (2.2 * lo * lo * 1.7))
        radii.append(lo * np.exp(rng.uniform(0.0, math.log(2.0), n)))
    r = np.concatenate(radii)
    rng.shuffle(r)
    n = r.size
    cx = rng.uniform(0, size, n)
    cy = rng.uniform(0, size, n)
    heights = cy / size                               # 0 top row .. 1 bottom row of the face image
    colours = _palette(rng, face, heights)
    kinds = rng.random(n)
    n_vert = rng.integers(3, 7, n)
    aspect = rng.uniform(0.35, 1.0, n)
    rot = rng.uniform(0, 2 * math.pi, n)
    for i in range(n):
        colour = colours[i].tolist()
        if kinds[i] < 0.3:
            axes = (int(r[i] * one), int(r[i] * aspect[i] * one))
            cv2.ellipse(img, (int(cx[i] * one), int(cy[i] * one)), axes, math.degrees(rot[i]), 0, 360,
                        colour, -1, cv2.LINE_AA, shift)
        else:
            k = int(n_vert[i])
            ang = np.sort(rng.uniform(0, 2 * math.pi, k)) + rot[i]
            rad = r[i] * rng.uniform(0.55, 1.0, k)
            pts = np.stack([cx[i] + rad * np.cos(ang), cy[i] + rad * aspect[i] * np.sin(ang)], axis=-1)
            cv2.fillConvexPoly(img, np.rint(pts * one).astype(np.int32), colour, cv2.LINE_AA, shift)
    # Band-limit: bilinear sampling of the views then reproduces the texture faithfully.
    return cv2.GaussianBlur(img, (0, 0), 0.8)


def _palette(rng: np.random.Generator, face: int, heights: np.ndarray) -> np.ndarray:
    """Colours (N, 3) uint8 for shapes at relative heights (0 top .. 1 bottom) on ``face``.

    Side faces (+-x, +-y) run from sky (up, larger v) to earth; +z is sky, -z is ground.
    The face image's row grows with v, which points up on the side faces.
    """
    n = heights.shape[0]
    if face == 4:
        sky = np.ones(n)
    elif face == 5:
        sky = np.zeros(n)
    else:
        sky = np.clip((heights - 0.35) / 0.3, 0.0, 1.0)   # rows grow upward in the world on side faces
    lum = rng.uniform(0.08, 0.95, n)
    earth = np.stack([0.9 + 0.3 * rng.random(n), 0.75 + 0.3 * rng.random(n), 0.45 + 0.3 * rng.random(n)], -1)
    air = np.stack([0.55 + 0.3 * rng.random(n), 0.75 + 0.25 * rng.random(n), 1.0 + 0.2 * rng.random(n)], -1)
    tint = earth * (1 - sky[:, None]) + air * sky[:, None]
    # A fifth of the shapes get a saturated accent colour: distinctive for descriptors.
    accent = rng.random(n) < 0.2
    tint[accent] = rng.uniform(0.2, 1.3, (int(accent.sum()), 3))
    return np.clip(lum[:, None] * tint * 255.0, 0, 255).astype(np.uint8)


def view_directions(K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Unit camera-frame ray directions (height, width, 3) float64 for pixel centres, for tests and tools."""
    w, h = size
    uu, vv = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    pix = np.stack([uu, vv, np.ones_like(uu)], axis=-1) @ np.linalg.inv(np.asarray(K, float)).T
    return pix / np.linalg.norm(pix, axis=-1, keepdims=True)


def world_for(seed: int | None, width_px: int, hfov_deg: Sequence[float] | float) -> PtzWorld:
    """The (cached) world for a camera of this width and zoom-0 field of view."""
    h0 = float(hfov_deg[0]) if isinstance(hfov_deg, (tuple, list)) else float(hfov_deg)
    return PtzWorld(seed=0 if seed is None else seed, face_px=face_px_for_view(width_px, h0))
