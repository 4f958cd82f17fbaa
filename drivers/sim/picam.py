"""A simulated Raspberry Pi camera (IMX219, IMX708, IMX477, IMX296) with Picamera2's controls.

Frames are processed colour, (H, W, 3) uint8 in **R, G, B order** (meta format "RGB"; note
that Picamera2's "RGB888" is B, G, R in memory: the real driver converts or says "BGR").

Pipeline: scene radiance -> defocus (IMX708: blur circle grows with
``|LensPosition - 1 / depth|`` dioptres) -> lens blur -> electrons (``ExposureTime``, QE,
full well) with shot and read noise -> ``AnalogueGain`` -> colour gains (AWB grey-world or
``ColourGains``) -> ``Saturation`` -> ``Sharpness`` (unsharp mask) -> tone curve (sRGB gamma,
``Contrast`` about mid-grey, ``Brightness`` offset) -> 8 bits.

Sensor modes (``SENSOR_MODES``) are the real ones, with their crops of the pixel array and
fastest frame rates as ``rpicam-hello --list-cameras`` and Picamera2's ``sensor_modes`` report
them (and the kernel drivers define them). The sensor runs in the mode libcamera's Raspberry Pi
pipeline picks for the output size (``pick_sensor_mode``: its ``findBestFormat`` score, as
Picamera2 asks for a raw stream of the main stream's size). A cropped mode narrows the field of
view: ``ScalerCrop`` (native sensor px) defaults to the mode's crop, trimmed about its centre to
the output's aspect ratio as the ISP does; a smaller one zooms (digital zoom) and must lie within
the mode's crop (``ScalerCropMaximum``). The true K follows ``ScalerCrop``. Frame duration =
``ExposureTime`` clamped by ``FrameDurationLimits`` and the mode's fastest frame; exposure cannot
exceed the frame duration (as in libcamera).

Setting ``ExposureTime`` or ``AnalogueGain`` turns auto exposure off, setting ``ColourGains``
turns auto white balance off (as Picamera2 does); ``AeEnable`` / ``AwbEnable`` turn them on again.
Auto exposure aims at mid-grey shifted by ``ExposureValue`` stops. The controls come from the
model's table (drivers/controls.py); those without a simulated effect (autofocus, ``AwbMode``,
``AeMeteringMode``, ``NoiseReductionMode``) are stored and reported (drivers/sim/controls.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import numpy as np

from camdeck.drivers.base import CameraSpec, Capability
from camdeck.drivers.errors import ControlError
from camdeck.drivers.controls import MAX_EXPOSURE_US, ControlDef, control_table, with_defaults
from camdeck.drivers.sim.scene import Render, intrinsics_from_hfov
from camdeck.drivers.sim.sensor import (defocus, lens_blur, lookup_table16, noise_sigma_e, noisy_lookup,
                                sensor_spec)
from camdeck.drivers.sim.simcam import SimCamera, apply_config_controls, crop_scale_K

DEFAULT_RESOLUTION = (1280, 720)


class SensorMode(NamedTuple):
    """One sensor mode: output ``width`` x ``height`` (binned when smaller than ``crop``),
    fastest frame rate ``fps``, ``crop`` (x, y, width, height) of the pixel array it reads
    (native px; libcamera's analogue crop, Picamera2's ``crop_limits``), ADC ``bit_depth``."""

    width: int
    height: int
    fps: float
    crop: tuple[int, int, int, int]
    bit_depth: int = 10


# The modes of the Raspberry Pi kernel drivers (imx219.c, imx708.c, imx477.c, imx296.c), as
# ``rpicam-hello --list-cameras`` lists them: "1920x1080 [47.57 fps - (680, 692)/1920x1080 crop]".
SENSOR_MODES: dict[str, tuple[SensorMode, ...]] = {
    "IMX219": (SensorMode(640, 480, 206.65, (1000, 752, 1280, 960)),        # 2x2 binned, cropped
               SensorMode(1640, 1232, 41.85, (0, 0, 3280, 2464)),           # 2x2 binned, full field
               SensorMode(1920, 1080, 47.57, (680, 692, 1920, 1080)),       # cropped, native pitch
               SensorMode(3280, 2464, 21.19, (0, 0, 3280, 2464))),          # full resolution
    "IMX708": (SensorMode(1536, 864, 120.13, (768, 432, 3072, 1728)),       # 2x2 binned, cropped
               SensorMode(2304, 1296, 56.03, (0, 0, 4608, 2592)),           # 2x2 binned, full field
               SensorMode(4608, 2592, 14.35, (0, 0, 4608, 2592))),          # full resolution
    "IMX477": (SensorMode(1332, 990, 120.05, (696, 528, 2664, 1980), 10),   # 2x2 binned, cropped
               SensorMode(2028, 1080, 50.03, (0, 440, 4056, 2160), 12),     # 2x2 binned, 16:9 crop
               SensorMode(2028, 1520, 40.01, (0, 0, 4056, 3040), 12),       # 2x2 binned, full field
               SensorMode(4056, 3040, 10.0, (0, 0, 4056, 3040), 12)),       # full resolution
    "IMX296": (SensorMode(1456, 1088, 60.38, (0, 0, 1456, 1088)),),
}
RAW_BIT_DEPTH = 12          # the bit depth libcamera's Raspberry Pi pipeline asks for without a raw stream


def _score_dimension(desired: float, actual: float) -> float:
    """libcamera's scoreFormat: falling short costs 8x more than overshooting; inexact x2."""
    score = desired - actual
    if score < 0.0:
        score = -score / 8
    if actual != desired:
        score *= 2
    return score


def pick_sensor_mode(modes: tuple[SensorMode, ...], size: tuple[int, int],
                     bit_depth: int = RAW_BIT_DEPTH) -> SensorMode:
    """The mode libcamera's Raspberry Pi pipeline (``findBestFormat``) runs for a ``size`` (w, h)
    stream: the lowest ``score(w) + score(h) + 1500 * score(aspect ratio) + 500 * |bits - 12|``
    with ``_score_dimension`` (so a mode covering the output at its aspect ratio wins, the
    nearest in size first; one smaller than the output pays 16x its shortfall), the later
    mode (bit depth, then size ascending) on a tie.

    Examples: IMX219 at 1920x1080 -> the cropped 1920x1080 mode; at 1280x720 too (score 250
    against 1558 for the 4:3 binned 1640x1232); IMX708 at 1280x720 -> the cropped 1536x864;
    at 1920x1080 -> the binned full-field 2304x1296.
    """
    w, h = size
    best, best_score = modes[0], math.inf
    for mode in sorted(modes, key=lambda m: (m.bit_depth, m.width, m.height)):
        score = _score_dimension(w, mode.width) + _score_dimension(h, mode.height)
        score += 1500.0 * _score_dimension(w / h, mode.width / mode.height)
        score += abs(mode.bit_depth - bit_depth) * 500.0
        if score <= best_score:
            best, best_score = mode, score
    return best


def default_scaler_crop(mode: SensorMode, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """ScalerCrop (native px) libcamera starts with for an output ``size`` in ``mode``: the ISP
    input (the mode's output) trimmed about its centre to the output's aspect ratio
    (``Size::boundedToAspectRatio``, integer arithmetic), scaled to the mode's crop."""
    w, h = size
    mw, mh = mode.width, mode.height
    r1, r2 = mw * h, w * mh
    cw, ch = (r2 // h, mh) if r1 > r2 else (mw, r1 // w)
    x, y = mw // 2 - cw // 2, mh // 2 - ch // 2
    ax, ay, aw, ah = mode.crop
    return ax + x * aw // mw, ay + y * ah // mh, cw * aw // mw, ch * ah // mh


AE_TARGET = 0.18            # linear mean level auto exposure aims for (mid-grey)
AE_MAX_EXPOSURE_US = 33_333  # auto exposure keeps 30 fps, then raises the gain
LUT_SIZE = 4096             # 12-bit linear index into the tone curve
LENS_SIGMA_PX = 0.6


@dataclass
class _PicamState:
    mean: np.ndarray        # (H, W, 3) float32 LUT index of the mean + 0.5
    sigma: np.ndarray       # (H, W, 3) float32 noise in LUT index units
    lut: np.ndarray         # (LUT_SIZE,) uint8 tone curve
    lut16: np.ndarray       # lookup_table16(lut)
    exposure_us: int
    gain: float
    frame_us: int
    colour_gains: tuple[float, float]


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055)


class SimPiCamera(SimCamera):
    """A simulated Pi camera. Extra API: ``truth``, ``render_truth``, ``inject_fault``, ``sensor_mode``."""

    def __init__(self, spec: CameraSpec, ctx: Any) -> None:
        self._model = spec.model.upper()
        sensor = sensor_spec(self._model)
        self.output_size = tuple(spec.resolution or DEFAULT_RESOLUTION)
        sw, sh = sensor.sensor_size
        modes = SENSOR_MODES.get(self._model, (SensorMode(sw, sh, 30.0, (0, 0, sw, sh)),))
        self.sensor_mode: SensorMode = pick_sensor_mode(modes, self.output_size)
        self._autos: dict[tuple, tuple[int, float, int, tuple[float, float]]] = {}
        super().__init__(spec, ctx, sensor)
        apply_config_controls(self, spec.controls)

    def sensor_modes(self) -> list[dict[str, Any]]:
        """The sensor's modes as the real driver lists them (Picamera2's ``sensor_modes``): size,
        fps, bit_depth, format, crop_limits, exposure_limits."""
        sw, sh = self.sensor.sensor_size
        modes = SENSOR_MODES.get(self._model, (SensorMode(sw, sh, 30.0, (0, 0, sw, sh)),))
        return [{"size": (m.width, m.height), "fps": m.fps, "bit_depth": m.bit_depth,
                 "format": f"SRGGB{m.bit_depth}_CSI2P", "crop_limits": m.crop,
                 "exposure_limits": (30, MAX_EXPOSURE_US.get(self._model, 10_000_000))} for m in modes]

    def info(self) -> Any:
        info = super().info()
        m = self.sensor_mode
        info.extra["sensor_mode"] = {"size": (m.width, m.height), "fps": m.fps, "crop_limits": m.crop,
                                     "bit_depth": m.bit_depth}
        return info

    @property
    def _mode_min_frame_us(self) -> int:
        return int(round(1e6 / self.sensor_mode.fps))

    def _default_crop(self) -> tuple[int, int, int, int]:
        return default_scaler_crop(self.sensor_mode, self.output_size)

    # ---------------------------------------------------------------- hooks
    def _control_table(self) -> dict[str, ControlDef]:
        # The real model's table (drivers/controls.py) with the defaults of the running sensor
        # mode. Every control is accepted; those without a simulated effect (autofocus, AwbMode,
        # AeMeteringMode, NoiseReductionMode) are stored and reported (drivers/sim/controls.py).
        return with_defaults(control_table("sim", "picam", self._model), ScalerCrop=self._default_crop(),
                             FrameDurationLimits=(self._mode_min_frame_us, 1_000_000))

    def _adjust(self, coerced: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(coerced)
        if ("ExposureTime" in coerced or "AnalogueGain" in coerced) and "AeEnable" not in coerced:
            out["AeEnable"] = False
        if "ColourGains" in coerced and "AwbEnable" not in coerced:
            out["AwbEnable"] = False
        if "FrameDurationLimits" in coerced:
            lo, hi = coerced["FrameDurationLimits"]
            out["FrameDurationLimits"] = (int(round(lo)), int(round(hi)))
        return out

    def _validate(self, v: Mapping[str, Any]) -> None:
        lo, hi = v["FrameDurationLimits"]
        if lo > hi:
            raise ControlError(f"camera {self.name!r}: FrameDurationLimits ({lo}, {hi}) has min > max",
                               f"use (min, max) with min <= max, e.g. ({hi}, {hi}) for a fixed rate")
        x, y, w, h = v["ScalerCrop"]
        mx, my, mw, mh = self.sensor_mode.crop
        if w < 64 or h < 64 or x < mx or y < my or x + w > mx + mw or y + h > my + mh:
            m = self.sensor_mode
            raise ControlError(f"camera {self.name!r}: ScalerCrop {v['ScalerCrop']} is not inside the "
                               f"sensor mode's crop {m.crop} ({m.width}x{m.height} mode of the "
                               f"{self.sensor.sensor_size[0]}x{self.sensor.sensor_size[1]} sensor), "
                               f"or is smaller than 64x64",
                               f"use (x, y, width, height) with {mx} <= x, x + width <= {mx + mw}, {my} <= y, "
                               f"y + height <= {my + mh}; the full view is {self._default_crop()}")

    def _current_value(self, name: str, settings: tuple) -> Any:
        if name in ("ExposureTime", "AnalogueGain", "ColourGains"):
            exposure_us, gain, _, colour_gains = self._auto(settings)
            return {"ExposureTime": exposure_us, "AnalogueGain": round(gain, 4), "ColourGains": colour_gains}[name]
        return super()._current_value(name, settings)

    def _auto(self, settings: tuple) -> tuple[int, float, int, tuple[float, float]]:
        """(exposure_us, gain, frame_us, colour_gains) for these settings, after auto exposure
        and white balance: the built state's when there is one, else worked out from the render
        alone. A console asks every camera for its controls at start; building each Pi camera's
        frame state for that held ~95 MB of the built-in rig's (H, W, 3) arrays for 10 s.
        """
        state = self._states.get(settings)
        if state is not None:
            return state.exposure_us, state.gain, state.frame_us, state.colour_gains
        auto = self._autos.get(settings)
        if auto is None:
            v = dict(settings)
            K, size = self._geometry(settings)
            render = self._render(K, size)
            exposure_us, gain, frame_us = self._timing(v, render)
            gains = self._colour_gains(v, lambda: self._electrons(v, render, exposure_us))
            auto = self._autos[settings] = (exposure_us, gain, frame_us, (round(gains[0], 4), round(gains[1], 4)))
            while len(self._autos) > 8:
                self._autos.pop(next(iter(self._autos)))
        return auto

    def _geometry(self, settings: tuple) -> tuple[np.ndarray, tuple[int, int]]:
        x, y, cw, ch = dict(settings)["ScalerCrop"]
        w, h = self.output_size
        K_full = intrinsics_from_hfov(self.sensor.hfov_deg, self.sensor.sensor_size)
        return crop_scale_K(K_full, x, y, w / cw, h / ch), (w, h)

    def _exposure_us(self, settings: tuple) -> float:
        return float(self._auto(settings)[0])

    def _frame_period_ns(self, settings: tuple) -> int:
        return int(self._auto(settings)[2]) * 1000

    def _timing(self, v: Mapping[str, Any], render: Render) -> tuple[int, float, int]:
        """(exposure_us, gain, frame_us) after auto exposure and the frame-duration limits."""
        s = self.sensor
        fdl_lo, fdl_hi = (max(x, self._mode_min_frame_us) for x in v["FrameDurationLimits"])
        if v["AeEnable"]:
            mean_rad = max(float(render.rgb[..., 1].mean()), 1e-4)
            target = AE_TARGET * 2.0 ** v["ExposureValue"]                            # EV shifts the target
            product_s = target * s.full_well_e / (s.photon_rate_e_s * mean_rad)       # exposure_s * gain
            exp_us = min(product_s * 1e6, AE_MAX_EXPOSURE_US, fdl_hi)
            gain_def = self._table["AnalogueGain"]     # the sensor's own gain limits
            gain = float(np.clip(product_s * 1e6 / exp_us, max(1.0, gain_def.min), gain_def.max))
        else:
            exp_us, gain = float(v["ExposureTime"]), float(v["AnalogueGain"])
        frame_us = int(min(max(exp_us, fdl_lo), fdl_hi))
        return int(round(min(exp_us, frame_us))), gain, frame_us

    def _electrons(self, v: Mapping[str, Any], render: Render, exposure_us: int) -> np.ndarray:
        """(H, W, 3) float32 electrons of the render through the optics, capped at the full well."""
        s = self.sensor
        rgb = render.rgb
        if "LensPosition" in v:
            scale = self.output_size[0] / v["ScalerCrop"][2]
            rgb = defocus(rgb, render.depth, v["LensPosition"], s.defocus_px_per_dioptre(scale))
        rgb = lens_blur(rgb, LENS_SIGMA_PX)
        qe = np.asarray(s.qe_rgb, np.float32)
        electrons = rgb * (qe * np.float32(s.photon_rate_e_s * exposure_us * 1e-6))
        np.minimum(electrons, np.float32(s.full_well_e), out=electrons)
        return electrons

    @staticmethod
    def _colour_gains(v: Mapping[str, Any], electrons: Any) -> tuple[float, float]:
        """(R, B) gains: white balance from ``electrons()`` (called only then), else the set ones."""
        if v["AwbEnable"] or v["ColourGains"] is None:
            means = electrons().reshape(-1, 3).mean(axis=0) + 1e-6
            return float(means[1] / means[0]), float(means[1] / means[2])
        return tuple(float(g) for g in v["ColourGains"])

    def _build_state(self, v: dict[str, Any], render: Render) -> _PicamState:
        s = self.sensor
        exposure_us, gain, frame_us = self._timing(v, render)
        electrons = self._electrons(v, render, exposure_us)
        dark_e = s.dark_e_s(s.ambient_c + s.rise_c) * exposure_us * 1e-6
        to_v = np.float32(gain / s.full_well_e)     # linear output, 1.0 = white
        colour_gains = self._colour_gains(v, lambda: electrons)
        channel_gain = np.array([colour_gains[0], 1.0, colour_gains[1]], np.float32) * to_v
        mean = np.minimum(electrons * to_v, 1.0) * (channel_gain / to_v)
        sigma = noise_sigma_e(electrons, s.read_noise_e, dark_e) * channel_gain
        if v["Saturation"] != 1.0:
            luma = mean @ np.array([0.2126, 0.7152, 0.0722], np.float32)
            mean = luma[..., None] + np.float32(v["Saturation"]) * (mean - luma[..., None])
        if v["Sharpness"] > 0:
            amount = np.float32(0.5 * v["Sharpness"])
            mean = mean + amount * (mean - lens_blur(mean, 1.0))
        np.maximum(mean, 0.0, out=mean)
        idx_scale = np.float32(LUT_SIZE - 1)
        x = np.minimum(np.arange(LUT_SIZE) / (LUT_SIZE - 1), 1.0)
        y = (_srgb_encode(x) - 0.5) * v["Contrast"] + 0.5 + v["Brightness"]
        lut = np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)
        mean = (mean * idx_scale + 0.5).astype(np.float32)
        return _PicamState(mean=mean, sigma=(sigma * idx_scale).astype(np.float32), lut=lut,
                           lut16=lookup_table16(lut), exposure_us=exposure_us, gain=gain, frame_us=frame_us,
                           colour_gains=(round(colour_gains[0], 4), round(colour_gains[1], 4)))

    def _produce(self, state: _PicamState, seq: int) -> np.ndarray:
        noise = self._noise.window(state.mean.size, seq)
        return noisy_lookup(state.mean, state.sigma, noise, state.lut, state.lut16)

    def _frame_meta(self, v: dict[str, Any], state: _PicamState) -> Mapping[str, Any]:
        meta = {"format": "RGB", "exposure_us": state.exposure_us, "gain": round(state.gain, 4),
                "ExposureTime": state.exposure_us, "AnalogueGain": round(state.gain, 4),
                "ColourGains": state.colour_gains, "FrameDuration": state.frame_us,
                "ScalerCrop": v["ScalerCrop"], "AeEnable": v["AeEnable"], "AwbEnable": v["AwbEnable"],
                "Brightness": v["Brightness"], "Contrast": v["Contrast"], "Saturation": v["Saturation"],
                "Sharpness": v["Sharpness"], "ExposureValue": v["ExposureValue"],
                "sensor_mode": (self.sensor_mode.width, self.sensor_mode.height)}
        # the controls without a simulated effect are reported as set (simcam adds not_simulated)
        for name in ("AwbMode", "AeMeteringMode", "NoiseReductionMode", "LensPosition", "AfMode", "AfRange",
                     "AfSpeed", "AfWindows"):
            if name in v:
                meta[name] = v[name]
        return meta

    def _pixel_format(self, settings: tuple) -> str:
        return "RGB"

    def _capabilities(self) -> Capability:
        caps = Capability.RGB | Capability.WHITE_BALANCE | Capability.HW_ENCODER | Capability.TEMPERATURE
        return caps | Capability.FOCUS if self._model == "IMX708" else caps


def open_picam(spec: CameraSpec, ctx: Any) -> SimPiCamera:
    """Open a simulated Pi camera (not started); config controls are applied."""
    return SimPiCamera(spec, ctx)
