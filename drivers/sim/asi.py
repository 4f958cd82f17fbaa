"""A simulated ZWO ASI662MC: RAW8 (or RAW16) RGGB Bayer frames with zwoasi-style controls.

Pipeline per pixel (electrons, then digital numbers):
``e = radiance * qe[c] * photon_rate * exposure_s`` (capped at the full well), temporal noise
``sqrt(e + dark + read^2)``, analogue gain ``10 ** (gain / 200)`` (gain in 0.1 dB as on ZWO),
white balance ``wb / 50`` on R and B sites, black level ``offset / 2`` DN (RAW8), quantisation
and clipping. The ADC's full scale is the full well at gain 0; RAW8 is its top 8 bits.

Binning adds the 2x2 same-colour pixels digitally and averages them (same brightness, half the
noise). ROI and bin follow the ZWO rules: width % 8 == 0, height % 2 == 0, start even (keeps
the RGGB phase), all inside the binned sensor.

Timing: frame period = max(exposure, readout, USB transfer); readout = output rows x row time
(8.61 us high-speed 10-bit, 17.2 us otherwise: 107 / 54 fps at 1080 rows); USB moves
``bandwidth`` % of 380 MB/s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from camdeck.drivers.base import CameraSpec, Capability
from camdeck.drivers.errors import ControlError
from camdeck.drivers.controls import ControlDef, control_table
from camdeck.drivers.sim.scene import Render, intrinsics_from_hfov
from camdeck.drivers.sim.sensor import lens_blur, mosaic_rggb, noise_sigma_e, noisy_quantize, sensor_spec
from camdeck.drivers.sim.simcam import SimCamera, apply_config_controls, crop_scale_K

ROW_TIME_HS_US = 9300.0 / 1080     # high-speed (10-bit ADC) row time
ROW_TIME_US = 2 * ROW_TIME_HS_US    # 12-bit ADC
USB_BYTES_PER_US = 380.0            # 380 MB/s at bandwidth 100
LENS_SIGMA_PX = 0.5                 # the lens's point spread at full resolution
BINS = (1, 2)


# (rows, cols) of R, G (even row), G (odd row), B in an RGGB mosaic, as mosaic_rggb lays them out
RGGB_SITES = ((slice(0, None, 2), slice(0, None, 2)), (slice(0, None, 2), slice(1, None, 2)),
              (slice(1, None, 2), slice(0, None, 2)), (slice(1, None, 2), slice(1, None, 2)))


@dataclass
class _AsiState:
    mean: np.ndarray       # (H, W) float32 mean DN + 0.5 (rounding), incl. black level
    sigma: np.ndarray      # (H, W) float32 noise, DN rms
    max_dn: float
    raw16: bool
    gamma_lut: np.ndarray | None


class SimAsiCamera(SimCamera):
    """A simulated ASI662MC (zwoasi control names). Extra API: ``set_roi``, ``get_roi``,
    ``set_image_type``, ``truth``, ``render_truth``, ``inject_fault``."""

    def __init__(self, spec: CameraSpec, ctx: Any) -> None:
        super().__init__(spec, ctx, sensor_spec("ASI662MC"))
        width, height = spec.resolution or self.sensor.sensor_size
        x, y = self._centered_start(width, height, 1)
        self._check_roi(x, y, width, height, 1)
        self._values["roi"] = (x, y, width, height)
        self._values["image_type"] = "RAW8"
        apply_config_controls(self, spec.controls)

    # ---------------------------------------------------------------- ROI
    def set_roi(self, x: int, y: int, width: int, height: int, bin: int = 1) -> None:
        """Set the region of interest in binned pixels (start x, y; size width x height).

        Raises:
            ControlError: naming the ROI rule that is broken and the nearest valid values.
        """
        self._check_plugged()
        x, y, width, height, bin = (int(v) for v in (x, y, width, height, bin))
        self._check_roi(x, y, width, height, bin)
        with self._lock:
            new = dict(self._values, roi=(x, y, width, height), bin=bin)
            self._commit(new)

    def get_roi(self) -> tuple[int, int, int, int, int]:
        """(x, y, width, height, bin) of the current ROI, binned pixels."""
        x, y, w, h = self._values["roi"]
        return x, y, w, h, self._values["bin"]

    def set_image_type(self, image_type: str) -> None:
        """"RAW8" (uint8 frames) or "RAW16" (uint16, the ADC value left-aligned in 16 bits)."""
        self._check_plugged()
        if image_type not in ("RAW8", "RAW16"):
            raise ControlError(f"camera {self.name!r}: image type {image_type!r} is not simulated",
                               "use RAW8 or RAW16")
        with self._lock:
            self._commit(dict(self._values, image_type=image_type))

    def _centered_start(self, width: int, height: int, bin: int) -> tuple[int, int]:
        sw, sh = self.sensor.sensor_size[0] // bin, self.sensor.sensor_size[1] // bin
        return max(0, (sw - width) // 4 * 2), max(0, (sh - height) // 4 * 2)

    def _check_roi(self, x: int, y: int, width: int, height: int, bin: int) -> None:
        def fail(rule: str, fix: str) -> ControlError:
            return ControlError(f"camera {self.name!r}: ROI ({x}, {y}, {width}x{height}, bin {bin}) breaks "
                                f"the rule: {rule}", fix)

        if bin not in BINS:
            raise fail("bin must be 1 or 2", "use bin=1 or bin=2")
        sw, sh = self.sensor.sensor_size[0] // bin, self.sensor.sensor_size[1] // bin
        if width % 8:
            lo, hi = width - width % 8, width - width % 8 + 8
            raise fail("width % 8 == 0", f"use width {lo}" + (f" or {hi}" if hi <= sw else ""))
        if height % 2:
            raise fail("height % 2 == 0", f"use height {height - 1}" + (f" or {height + 1}" if height < sh else ""))
        if width < 8 or height < 2:
            raise fail("at least 8 x 2 pixels", "use width >= 8 and height >= 2")
        if width > sw or height > sh:
            raise fail(f"inside the sensor ({sw}x{sh} at bin {bin})",
                       f"use width <= {sw - sw % 8} and height <= {sh - sh % 2}")
        if x % 2 or y % 2:
            raise fail("start x and y even (keeps the RGGB Bayer phase)",
                       f"use x={x - x % 2}, y={y - y % 2}")
        if x < 0 or y < 0 or x + width > sw or y + height > sh:
            nx, ny = min(max(0, x), sw - width), min(max(0, y), sh - height)
            raise fail(f"inside the sensor ({sw}x{sh} at bin {bin})",
                       f"use x={nx - nx % 2}, y={ny - ny % 2} for this size")

    # ---------------------------------------------------------------- hooks
    def _control_table(self) -> dict[str, ControlDef]:
        # The real ASI662MC's table: every control is accepted; flip is stored without effect
        # (drivers/sim/controls.py).
        return dict(control_table("sim", "asi", "ASI662MC"))

    def _current_value(self, name: str, settings: tuple) -> Any:
        if name == "temperature_c":
            return round(self.temperature_c, 2)
        return super()._current_value(name, settings)

    def _adjust(self, coerced: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(coerced)
        if "bin" in coerced and coerced["bin"] != current["bin"]:
            # keep the same sensor area, snapped to the ROI rules, about the same centre
            old, new = current["bin"], coerced["bin"]
            x, y, w, h = current["roi"]
            sw, sh = self.sensor.sensor_size[0] // new, self.sensor.sensor_size[1] // new
            nw = min(max(8, w * old // new // 8 * 8), sw - sw % 8)
            nh = min(max(2, h * old // new // 2 * 2), sh - sh % 2)
            cx, cy = (x + w / 2) * old / new, (y + h / 2) * old / new
            nx = int(min(max(0, cx - nw / 2), sw - nw)) // 2 * 2
            ny = int(min(max(0, cy - nh / 2), sh - nh)) // 2 * 2
            out["roi"] = (nx, ny, nw, nh)
        return out

    def _geometry(self, settings: tuple) -> tuple[np.ndarray, tuple[int, int]]:
        v = dict(settings)
        x, y, w, h = v["roi"]
        b = v["bin"]
        K_full = intrinsics_from_hfov(self.sensor.hfov_deg, self.sensor.sensor_size)
        return crop_scale_K(K_full, x * b, y * b, 1.0 / b, 1.0 / b), (w, h)

    def _exposure_us(self, settings: tuple) -> float:
        return float(dict(settings)["exposure_us"])

    def _frame_period_ns(self, settings: tuple) -> int:
        v = dict(settings)
        _, _, w, h = v["roi"]
        readout_us = h * (ROW_TIME_HS_US if v["high_speed"] else ROW_TIME_US)
        bytes_per_frame = w * h * (2 if v["image_type"] == "RAW16" else 1)
        usb_us = bytes_per_frame / (USB_BYTES_PER_US * v["bandwidth"] / 100.0)
        return int(round(1000.0 * max(float(v["exposure_us"]), readout_us, usb_us)))

    def _build_state(self, v: dict[str, Any], render: Render) -> _AsiState:
        s = self.sensor
        b = v["bin"]
        exposure_s = v["exposure_us"] * 1e-6
        rgb = lens_blur(render.rgb, LENS_SIGMA_PX / b)
        qe = np.asarray(s.qe_rgb, np.float32)
        per_channel = qe * np.float32(s.photon_rate_e_s * exposure_s)
        # Mosaic first, then scale each site by its channel's factor: the same float32 products
        # as scaling the (H, W, 3) image, without a second frame of three channels alive.
        electrons = mosaic_rggb(rgb)
        del rgb
        for (rows, cols), channel in zip(RGGB_SITES, (0, 1, 1, 2)):
            electrons[rows, cols] *= per_channel[channel]
        np.minimum(electrons, np.float32(s.full_well_e), out=electrons)
        dark_e = s.dark_e_s(s.ambient_c + s.rise_c) * exposure_s
        sigma_e = noise_sigma_e(electrons + np.float32(dark_e), s.read_noise_e, 0.0) / np.float32(b)
        adc_bits = 10 if v["high_speed"] else 12
        raw16 = v["image_type"] == "RAW16"
        out_bits = 16 if raw16 else 8
        # DN of the output format per electron; RAW16 holds the ADC value left-aligned
        dn_per_e = 10.0 ** (v["gain"] / 200.0) * 2.0 ** adc_bits / s.full_well_e * 2.0 ** (out_bits - adc_bits)
        site_gain = np.ones_like(electrons)
        site_gain[0::2, 0::2] = v["wb_r"] / 50.0
        site_gain[1::2, 1::2] = v["wb_b"] / 50.0
        scale = site_gain * np.float32(dn_per_e)
        black_dn = v["offset"] / 2.0 * 2.0 ** (out_bits - 8)
        mean = (electrons + np.float32(dark_e)) * scale + np.float32(black_dn + 0.5)
        sigma = sigma_e * scale
        lut = None
        if v["gamma"] != 50 and not raw16:
            lut = np.clip(255.0 * (np.arange(256) / 255.0) ** (50.0 / v["gamma"]) + 0.5, 0, 255).astype(np.uint8)
        return _AsiState(mean=mean.astype(np.float32, copy=False), sigma=sigma.astype(np.float32, copy=False),
                         max_dn=2.0 ** out_bits - 1, raw16=raw16, gamma_lut=lut)

    def _produce(self, state: _AsiState, seq: int) -> np.ndarray:
        noise = self._noise.window(state.mean.size, seq)
        out = noisy_quantize(state.mean, state.sigma, noise, state.max_dn, np.uint16 if state.raw16 else np.uint8)
        return state.gamma_lut[out] if state.gamma_lut is not None else out

    def _frame_meta(self, v: dict[str, Any], state: _AsiState) -> Mapping[str, Any]:
        x, y, w, h = v["roi"]
        return {"format": f"{v['image_type']}_RGGB", "exposure_us": v["exposure_us"], "gain": v["gain"],
                "wb_r": v["wb_r"], "wb_b": v["wb_b"], "offset": v["offset"], "high_speed": v["high_speed"],
                "bandwidth": v["bandwidth"], "bin": v["bin"], "roi": (x, y, w, h), "gamma": v["gamma"],
                "flip": v["flip"]}

    def _pixel_format(self, settings: tuple) -> str:
        return f"{dict(settings)['image_type']}_RGGB"

    def _capabilities(self) -> Capability:
        return (Capability.RAW_BAYER | Capability.ROI | Capability.BINNING | Capability.HIGH_SPEED
                | Capability.TEMPERATURE | Capability.WHITE_BALANCE)


def open_asi(spec: CameraSpec, ctx: Any) -> SimAsiCamera:
    """Open a simulated ASI camera (not started); config controls are applied."""
    return SimAsiCamera(spec, ctx)
