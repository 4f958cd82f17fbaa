"""Tests of console/. ``FakeCamera`` is a tiny scripted Camera for the TUI's failure paths
(timeouts, unplugging, rejected controls), where the simulated rig would need faults staged."""
from __future__ import annotations

import asyncio
import functools

import numpy as np

from drivers.base import Capability, CameraBase, CameraInfo, ControlRange, Frame
from drivers.errors import CameraDisconnected, CaptureTimeout, ControlError, NotSupported


class FakeCamera(CameraBase):
    """A deterministic camera: a gradient whose brightness follows exposure x gain.

    Args:
        spec: the CameraSpec (its kind decides RAW8_RGGB or RGB frames and control names).
        timeout_every: every Nth capture raises CaptureTimeout (0: never).
        disconnect_after: captures after this many raise CameraDisconnected (0: never).
    """

    def __init__(self, spec, timeout_every: int = 0, disconnect_after: int = 0) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.raw = spec.kind == "asi"
        self.timeout_every = timeout_every
        self.disconnect_after = disconnect_after
        self.captures = 0
        self.seq = 0
        self.set_calls: list[dict] = []
        if self.raw:
            self._controls = {"exposure_us": ControlRange("exposure_us", 32, 2_000_000_000, 10000, 10000, "us"),
                              "gain": ControlRange("gain", 0, 570, 100, 100)}
        else:
            self._controls = {"ExposureTime": ControlRange("ExposureTime", 100, 1_000_000, 20000, 20000, "us"),
                              "AnalogueGain": ControlRange("AnalogueGain", 1.0, 16.0, 2.0, 2.0)}

    @property
    def dropped_frames(self) -> int:
        return 0

    def info(self) -> CameraInfo:
        return CameraInfo(self.name, "fake", self.spec.model, None, (64, 48), (64, 48),
                          "RAW8_RGGB" if self.raw else "RGB",
                          Capability.RAW_BAYER if self.raw else Capability.RGB)

    def controls(self) -> dict[str, ControlRange]:
        return dict(self._controls)

    def set_controls(self, **values) -> None:
        self.set_calls.append(values)
        for key, value in values.items():
            rng = self._controls.get(key)
            if rng is None or not rng.min <= value <= rng.max:
                raise ControlError(f"{self.name}: {key}={value!r} rejected", "use a value in range")
            self._controls[key] = ControlRange(key, rng.min, rng.max, rng.default, value, rng.unit)

    def _value(self, key: str) -> float:
        return float(self._controls[key].value)

    def capture(self, timeout_s=None) -> Frame:
        self.captures += 1
        if self.disconnect_after and self.captures > self.disconnect_after:
            raise CameraDisconnected(f"{self.name} went away", "check the cable")
        if self.timeout_every and self.captures % self.timeout_every == 0:
            raise CaptureTimeout(f"{self.name}: no frame", "check the trigger")
        self.seq += 1
        exp_key, gain_key = ("exposure_us", "gain") if self.raw else ("ExposureTime", "AnalogueGain")
        level = min(4.0, self._value(exp_key) / 10000.0 * (1 + self._value(gain_key) / 100.0))
        yy, xx = np.mgrid[0:48, 0:64]
        base = ((xx * 4 + yy * 2) * level).clip(0, 255).astype(np.uint8)
        if self.raw:
            array, fmt = base, "RAW8_RGGB"
        else:
            array, fmt = np.stack([base, base[::-1], np.full_like(base, 80)], axis=2), "RGB"
        meta = {"format": fmt, "exposure_us": self._value(exp_key), "gain": self._value(gain_key),
                "temperature_c": 31.5}
        return Frame(array, timestamp=self.seq * 33_333_333, seq=self.seq, camera=self.name, meta=meta)


class FakeRig:
    """An opener for make_app(camera_opener=...): FakeCameras, PTZ raises NotSupported."""

    def __init__(self, **faults) -> None:
        self.faults = faults          # camera name -> dict of FakeCamera keyword arguments
        self.cameras: dict[str, FakeCamera] = {}

    def __call__(self, spec, ctx):
        if spec.kind == "ptz":
            raise NotSupported(f"{spec.name}: PTZ cameras are not simulated yet", "wait for the PTZ issue")
        cam = FakeCamera(spec, **self.faults.get(spec.name.replace("-", "_"), {}))
        self.cameras[spec.name] = cam
        return cam


def run_async(test):
    """Run an ``async def`` test with asyncio (no pytest async plugin is needed)."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return wrapper
