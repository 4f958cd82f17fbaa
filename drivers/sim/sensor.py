"""Sensor physics shared by the simulated cameras: sensor data, photon/electron model, noise,
Bayer mosaic, optics (lens blur, defocus) and sensor temperature.

Units: radiance is the scene's linear [0, 1]; signal in electrons (e-); times in seconds or
nanoseconds as named. Noise is Gaussian with the Poisson variance (shot) plus read noise,
which is exact enough above a few electrons and much faster than drawing Poisson numbers.
"""
from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SensorSpec:
    """Facts about one sensor (and the lens the simulator fits to it).

    Attributes:
        model: "ASI662MC", "IMX219", ...
        sensor_size: (width, height) of the full active area, px.
        pixel_um: pixel pitch, micrometres.
        hfov_deg: horizontal field of view of the full sensor with the simulated lens.
        full_well_e: electrons at saturation (and at the ADC's full scale at unity analogue gain).
        photon_rate_e_s: electrons per second a green pixel collects from radiance 1.0.
        qe_rgb: relative response of the R, G, B filters (G = 1).
        read_noise_e: read noise, electrons rms.
        dark_e_s_25c: dark current at 25 C, e-/s; doubles every 6.5 C.
        ambient_c, rise_c, thermal_tau_s: the sensor warms from ambient by rise_c while
            streaming, with time constant thermal_tau_s (and cools back when stopped).
        aperture_f: f-number of the lens (defocus blur).
    """

    model: str
    sensor_size: tuple[int, int]
    pixel_um: float
    hfov_deg: float
    full_well_e: float
    photon_rate_e_s: float
    qe_rgb: tuple[float, float, float]
    read_noise_e: float
    dark_e_s_25c: float = 0.5
    ambient_c: float = 20.0
    rise_c: float = 9.0
    thermal_tau_s: float = 150.0
    aperture_f: float = 2.0

    @property
    def focal_mm(self) -> float:
        """Focal length of the simulated lens, mm."""
        half_w_mm = 0.5 * self.sensor_size[0] * self.pixel_um * 1e-3
        return half_w_mm / math.tan(math.radians(self.hfov_deg) / 2)

    @property
    def focal_px(self) -> float:
        """Focal length in full-sensor pixels."""
        return 0.5 * self.sensor_size[0] / math.tan(math.radians(self.hfov_deg) / 2)

    def dark_e_s(self, temperature_c: float) -> float:
        return self.dark_e_s_25c * 2.0 ** ((temperature_c - 25.0) / 6.5)

    def defocus_px_per_dioptre(self, output_scale: float) -> float:
        """Blur-circle diameter in output px per dioptre of focus error (thin lens:
        c = aperture * f * |1/s_focus - 1/s|); ``output_scale`` = output px per sensor px."""
        f_m = self.focal_mm * 1e-3
        c_m = (f_m / self.aperture_f) * f_m
        return c_m / (self.pixel_um * 1e-6) * output_scale


# QE: with the ZWO default white balance (wb_r 52, wb_b 95; gains wb / 50) a grey scene
# comes out grey, as on the real camera: the blue filter passes about half the green.
SENSORS: dict[str, SensorSpec] = {
    "ASI662MC": SensorSpec("ASI662MC", (1920, 1080), 2.9, 55.0, full_well_e=38_500.0,
                           photon_rate_e_s=950_000.0, qe_rgb=(50 / 52, 1.0, 50 / 95), read_noise_e=0.8,
                           dark_e_s_25c=0.3, rise_c=9.0, thermal_tau_s=150.0, aperture_f=1.6),
    "IMX219": SensorSpec("IMX219", (3280, 2464), 1.12, 62.2, full_well_e=4_500.0,
                         photon_rate_e_s=90_000.0, qe_rgb=(0.62, 1.0, 0.55), read_noise_e=2.5,
                         rise_c=12.0, thermal_tau_s=120.0, aperture_f=2.0),
    "IMX708": SensorSpec("IMX708", (4608, 2592), 1.4, 102.0, full_well_e=6_000.0,
                         photon_rate_e_s=120_000.0, qe_rgb=(0.65, 1.0, 0.6), read_noise_e=1.8,
                         rise_c=14.0, thermal_tau_s=120.0, aperture_f=2.2),
    "IMX477": SensorSpec("IMX477", (4056, 3040), 1.55, 63.0, full_well_e=8_000.0,
                         photon_rate_e_s=150_000.0, qe_rgb=(0.6, 1.0, 0.55), read_noise_e=2.0,
                         rise_c=12.0, thermal_tau_s=120.0, aperture_f=2.8),
    "IMX296": SensorSpec("IMX296", (1456, 1088), 3.45, 50.0, full_well_e=10_000.0,
                         photon_rate_e_s=300_000.0, qe_rgb=(0.6, 1.0, 0.55), read_noise_e=2.2,
                         rise_c=8.0, thermal_tau_s=120.0, aperture_f=2.0),
}


def sensor_spec(model: str) -> SensorSpec:
    """The SensorSpec of ``model`` (case-insensitive); KeyError names the known models."""
    try:
        return SENSORS[model.upper()]
    except KeyError:
        raise KeyError(f"no simulated sensor {model!r}; known: {', '.join(SENSORS)}") from None


# ---------------------------------------------------------------- noise

def stable_key(text: str) -> int:
    """A 32-bit number for ``text`` that is the same in every process (unlike hash())."""
    return zlib.crc32(text.encode("utf-8"))


class NoiseBank:
    """Standard-normal float32 numbers drawn once; each frame reads a window at a random offset.

    Drawing fresh Gaussian numbers for 2 M pixels costs more than a frame's budget; windows of
    a bank twice the frame size, at offsets drawn per frame, are as good for a viewer and for
    statistics (each pixel sees independent values over frames). With a seed, the bank and the
    offset of frame ``seq`` are fixed, so frame ``seq`` is reproducible.

    Args:
        seed: base seed (None: random).
        key: the camera's identity (name or serial), so two cameras differ.
    """

    def __init__(self, seed: int | None, key: str) -> None:
        self._seed = seed
        self._key = stable_key(key)
        self._bank = np.empty(0, np.float32)
        self._n = 0
        self._rng = np.random.default_rng() if seed is None else None

    def release(self) -> None:
        """Forget the bank (twice a frame of float32: 16 MB at 1920x1080) until the next ``window``.

        With a seed, the bank drawn again for the same frame size is the same one.
        """
        self._bank = np.empty(0, np.float32)
        self._n = 0

    def window(self, n: int, seq: int) -> np.ndarray:
        """(n,) float32 standard-normal values for frame ``seq`` (a view: do not modify)."""
        if n > self._n:
            self._n = n
            gen = np.random.default_rng([self._seed, self._key, n]) if self._seed is not None else self._rng
            self._bank = gen.standard_normal(2 * n, dtype=np.float32)
        span = len(self._bank) - n
        if self._seed is None:
            offset = int(self._rng.integers(span + 1))
        else:
            offset = int(np.random.default_rng([self._seed, self._key, seq, 1]).integers(span + 1))
        return self._bank[offset:offset + n]


def noise_sigma_e(signal_e: np.ndarray, read_noise_e: float, dark_e: float) -> np.ndarray:
    """Temporal noise, electrons rms: sqrt(shot + dark + read^2), elementwise, float32."""
    var = signal_e + np.float32(dark_e + read_noise_e ** 2)
    return np.sqrt(var, dtype=np.float32)


_BLOCK = 1 << 15   # elements per block in noisy_lookup: its work arrays stay in the CPU cache


@functools.lru_cache(maxsize=1)
def _cv2_lut16() -> Any:
    """cv2 when its LUT takes 16-bit input (OpenCV >= 5), else None."""
    try:
        import cv2
        cv2.LUT(np.zeros((1, 4), np.uint16), np.zeros((1, 65536), np.uint8))
        return cv2
    except Exception:                     # no cv2, or an OpenCV whose LUT wants 8-bit input
        return None


def lookup_table16(lut: np.ndarray) -> np.ndarray:
    """(1, 65536) uint8: ``lut`` extended with its last value, the table a 16-bit cv2.LUT needs."""
    out = np.full((1, 65536), lut[-1], np.uint8)
    out[0, :len(lut)] = lut
    return out


def noisy_lookup(mean: np.ndarray, sigma: np.ndarray, noise: np.ndarray, lut: np.ndarray,
                 lut16: np.ndarray | None = None) -> np.ndarray:
    """One noisy frame through a tone curve: ``lut[uint16(clip(noise * sigma + mean, 0, len(lut) - 1))]``.

    Bit for bit that expression (float32 product, then sum, truncation to an index), but
    one pass over the frame in cache-sized blocks instead of five over whole-frame arrays;
    the lookup is cv2's 16-bit LUT when OpenCV has it (``lut16`` from lookup_table16), else
    numpy ``take`` in clip mode (which is the clip).

    Args:
        mean: float32 mean index + 0.5 (rounding), any shape.
        sigma: float32 noise rms in index units, the shape of ``mean``.
        noise: float32 standard-normal values, ``mean.size`` of them.
        lut: (L,) uint8 tone curve.
        lut16: lookup_table16(lut), or None (numpy lookup).

    Returns:
        uint8 array of ``mean``'s shape.
    """
    m, s, z = mean.reshape(-1), sigma.reshape(-1), noise.reshape(-1)
    n = m.size
    out = np.empty(n, np.uint8)
    work = np.empty(min(n, _BLOCK), np.float32)
    cv2 = _cv2_lut16() if lut16 is not None else None
    index = np.empty(min(n, _BLOCK), np.uint16 if cv2 is not None else np.intp)
    top = float(len(lut) - 1)
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        f, i = work[:b - a], index[:b - a]
        np.multiply(z[a:b], s[a:b], out=f)
        f += m[a:b]
        if cv2 is not None:
            np.clip(f, 0.0, top, out=f)
            np.copyto(i, f, casting="unsafe")                 # astype(uint16): truncation
            cv2.LUT(i.reshape(1, -1), lut16, dst=out[a:b].reshape(1, -1))
        else:
            np.copyto(i, f, casting="unsafe")                 # below 0 or above top: clipped by take
            lut.take(i, out=out[a:b], mode="clip")
    return out.reshape(mean.shape)


_QUANT_BLOCK = 1 << 18   # elements per block in noisy_quantize: few Python steps per full-HD frame


def noisy_quantize(mean: np.ndarray, sigma: np.ndarray, noise: np.ndarray, top: float,
                   dtype: type) -> np.ndarray:
    """One noisy frame in digital numbers: ``clip(noise * sigma + mean, 0, top).astype(dtype)``.

    Bit for bit that expression (float32 product, sum and clip, then truncation), in
    blocks of 1 MB of float32: a streaming camera keeps no full-frame float32 work buffer (8 MB at
    1920x1080) besides its mean and sigma, and no frame-sized temporary is made per frame.

    Args:
        mean: float32 mean DN + 0.5 (rounding), any shape.
        sigma: float32 noise rms in DN, the shape of ``mean``.
        noise: float32 standard-normal values, ``mean.size`` of them.
        top: the largest DN (255.0 for 8-bit output).
        dtype: the output's integer dtype (np.uint8, np.uint16).

    Returns:
        array of ``mean``'s shape and ``dtype``.
    """
    m, s, z = mean.reshape(-1), sigma.reshape(-1), noise.reshape(-1)
    n = m.size
    out = np.empty(n, dtype)
    work = np.empty(min(n, _QUANT_BLOCK), np.float32)
    for a in range(0, n, _QUANT_BLOCK):
        b = min(n, a + _QUANT_BLOCK)
        f = work[:b - a]
        np.multiply(z[a:b], s[a:b], out=f)
        f += m[a:b]
        np.clip(f, 0.0, top, out=f)
        np.copyto(out[a:b], f, casting="unsafe")          # astype(dtype): truncation
    return out.reshape(mean.shape)


# ---------------------------------------------------------------- Bayer

def mosaic_rggb(planes: np.ndarray) -> np.ndarray:
    """(H, W) float32 RGGB mosaic from (H, W, 3) per-channel values: R at (even row, even col),
    G at (even, odd) and (odd, even), B at (odd, odd)."""
    h, w = planes.shape[:2]
    out = np.empty((h, w), np.float32)
    out[0::2, 0::2] = planes[0::2, 0::2, 0]
    out[0::2, 1::2] = planes[0::2, 1::2, 1]
    out[1::2, 0::2] = planes[1::2, 0::2, 1]
    out[1::2, 1::2] = planes[1::2, 1::2, 2]
    return out


def bayer_sites(h: int, w: int) -> dict[str, tuple[slice, slice]]:
    """Slices of each colour site in an RGGB mosaic: {"R": ..., "G1": ..., "G2": ..., "B": ...}."""
    return {"R": (slice(0, h, 2), slice(0, w, 2)), "G1": (slice(0, h, 2), slice(1, w, 2)),
            "G2": (slice(1, h, 2), slice(0, w, 2)), "B": (slice(1, h, 2), slice(1, w, 2))}


# ---------------------------------------------------------------- optics

def lens_blur(rgb: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of an (H, W[, 3]) float32 image (the lens's point spread); sigma in px."""
    if sigma_px <= 0.05:
        return rgb
    import cv2
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(sigma_px), borderType=cv2.BORDER_REFLECT)


_DEFOCUS_LEVELS_PX = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)


def defocus(rgb: np.ndarray, depth_m: np.ndarray, focus_dioptre: float, px_per_dioptre: float) -> np.ndarray:
    """Depth-dependent defocus blur.

    Each pixel's blur circle has diameter ``px_per_dioptre * |focus_dioptre - 1 / depth|`` px
    (depth inf -> 0 dioptres). The image is blurred at a few levels and each pixel blends the
    two levels around its own blur (Gaussian sigma = diameter / 4).

    Args:
        rgb: (H, W, 3) float32 radiance.
        depth_m: (H, W) float32 depth, metres (inf allowed).
        focus_dioptre: where the lens focuses, dioptres (1 / metres; 0 = infinity).
        px_per_dioptre: blur-circle diameter per dioptre of error, output px.

    Returns:
        (H, W, 3) float32.
    """
    with np.errstate(divide="ignore"):
        scene_dioptre = np.where(np.isfinite(depth_m) & (depth_m > 0), 1.0 / depth_m, 0.0)
    sigma = (np.abs(focus_dioptre - scene_dioptre) * (px_per_dioptre / 4.0)).astype(np.float32)
    del scene_dioptre
    levels = np.asarray(_DEFOCUS_LEVELS_PX, np.float32)
    sigma = np.minimum(sigma, levels[-1])
    top = int(np.searchsorted(levels, float(sigma.max())))
    if top == 0:
        return rgb
    hi = np.clip(np.searchsorted(levels, sigma), 1, top).astype(np.int8)
    out = np.empty_like(rgb)
    # Two blur levels alive at a time, and each blended in bands of rows: every level of a
    # full-HD render at once was 175 MB, and whole-frame blend temporaries 100 MB more.
    band = max(1, _BLOCK // max(1, rgb.shape[1]))
    lower = lens_blur(rgb, float(levels[0]))
    for i in range(1, top + 1):
        upper = lens_blur(rgb, float(levels[i]))
        for r0 in range(0, rgb.shape[0], band):
            rows = slice(r0, r0 + band)
            sel = hi[rows] == i
            if not sel.any():
                continue
            frac = ((sigma[rows][sel] - levels[i - 1]) / (levels[i] - levels[i - 1]))[:, None]
            out[rows][sel] = lower[rows][sel] * (1 - frac) + upper[rows][sel] * frac
        lower = upper
    return out


# ---------------------------------------------------------------- temperature

class ThermalModel:
    """Sensor temperature: first-order approach to ambient + rise while streaming, ambient when idle."""

    def __init__(self, spec: SensorSpec, now_ns: int) -> None:
        self._spec = spec
        self._t0_ns = now_ns
        self._temp0_c = spec.ambient_c
        self._running = False

    def temperature_c(self, now_ns: int) -> float:
        target = self._spec.ambient_c + (self._spec.rise_c if self._running else 0.0)
        dt_s = max(0, now_ns - self._t0_ns) * 1e-9
        return target + (self._temp0_c - target) * math.exp(-dt_s / self._spec.thermal_tau_s)

    def set_running(self, running: bool, now_ns: int) -> None:
        self._temp0_c = self.temperature_c(now_ns)
        self._t0_ns = now_ns
        self._running = running
