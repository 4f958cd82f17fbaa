"""Control tables: every control a camera model has, its kind, range, unit, default and meaning.

One table per driver family and model (``control_table``), shared by everyone who needs to know
what a camera accepts before it is opened: the config loader checks a camera's ``controls`` when
the file loads, the TUI builds its camera form from it, and the drivers (simulated and real) build
their live control lists from it, so a value the config accepts is one the camera accepts.

Kinds: "int", "float", "bool", "enum" (a name from ``choices``; its index is accepted too, as
libcamera's enums are integers), "pair" (two numbers, each within min..max), "rect" (x, y, width,
height in sensor pixels, inside ``max``'s area and at least ``min``'s size) and "rects" (a list of
such rectangles). Ranges are the models' own: ZWO's ASI662MC specification, and for the Pi
sensors what libcamera's Raspberry Pi pipeline reports in Picamera2's ``camera_controls`` (gain
limits from its camera helpers' gain codes, exposure limits from the kernel drivers' modes).
A live camera may narrow a range (libcamera clamps exposure to the running sensor mode).

Every rejected value raises a new ``ControlError`` naming the camera, the control, the range and
the fix. Imports nothing but drivers.base and drivers.errors: domain code may use it freely.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Mapping

from camdeck.drivers.base import ControlRange
from camdeck.drivers.errors import ControlError

KINDS = ("int", "float", "bool", "enum", "pair", "rect", "rects")
MAX_RECTS = 8      # AfWindows: libcamera takes a list; more than a handful is never what a user meant


@dataclass(frozen=True)
class ControlDef:
    """One control: ``kind`` (see KINDS), limits ``min``/``max`` (per element for pair; the
    smallest rectangle and the area for rect/rects; None for an enum), ``default``, ``unit``, a
    one-line ``description``, ``writable`` and, for an enum, its value names in index order."""

    name: str
    kind: str
    min: Any
    max: Any
    default: Any
    unit: str = ""
    description: str = ""
    writable: bool = True
    choices: tuple[str, ...] = ()

    def range_text(self) -> str:
        """The allowed values in words ("0 to 570 0.1 dB", "one of Manual, Auto, Continuous")."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        if self.kind == "pair":
            return f"two numbers, each from {_num(self.min)} to {_num(self.max)}{unit}"
        if self.kind in ("rect", "rects"):
            ax, ay, aw, ah = self.max
            one = (f"(x, y, width, height) in sensor pixels inside ({ax}, {ay}, {aw}, {ah}), "
                   f"at least {self.min[2]}x{self.min[3]}")
            return one if self.kind == "rect" else f"a list of 1 to {MAX_RECTS} rectangles {one}"
        return f"{_num(self.min)} to {_num(self.max)}{unit}"

    def example(self) -> str:
        """A valid TOML value for this control (its default, else its minimum), for fix lines."""
        value = self.default if self.default is not None else self.min
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "enum":
            return f'"{value}"'
        if isinstance(value, (tuple, list)):
            if self.kind == "rects":
                return "[[" + ", ".join(str(v) for v in value) + "]]"
            return "[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def to_range(self, value: Any) -> ControlRange:
        """The ControlRange a driver reports for this control with its current ``value``."""
        return ControlRange(name=self.name, min=self.min, max=self.max, default=self.default, value=value,
                            unit=self.unit, writable=self.writable, description=self.description,
                            kind=self.kind, choices=self.choices)


def _num(value: Any) -> str:
    """A limit as a person writes it: integers whole (2000000000, not 2e+09), floats short."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _rect(value: Any, ctrl: ControlDef) -> tuple[int, int, int, int] | None:
    """``value`` as an integer rectangle inside ``ctrl``'s area, else None."""
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        return None
    vals = [_real(x) for x in value]
    if any(x is None or x != int(x) for x in vals):
        return None
    x, y, w, h = (int(v) for v in vals)
    ax, ay, aw, ah = ctrl.max
    if w < ctrl.min[2] or h < ctrl.min[3] or x < ax or y < ay or x + w > ax + aw or y + h > ay + ah:
        return None
    return x, y, w, h


def coerce(camera: str, ctrl: ControlDef, value: Any) -> Any:
    """``value`` converted to the control's type (an enum to its name); ControlError when it does not fit."""

    def bad(problem: str) -> ControlError:
        return ControlError(f"camera {camera!r}: control {ctrl.name}={_shown(value)} {problem}",
                            f"use {ctrl.range_text()}" + (f" ({ctrl.description})" if ctrl.description else ""))

    if not ctrl.writable:
        raise ControlError(f"camera {camera!r}: control {ctrl.name} is read-only",
                           "read it from controls() or from frame meta instead of setting it")
    if ctrl.kind == "bool":
        if isinstance(value, bool):      # 1 and 0 are refused: a TOML file says true or false
            return value
        raise bad("is not true or false")
    if ctrl.kind == "enum":
        return _enum(ctrl, value, bad)
    if ctrl.kind in ("int", "float"):
        v = _real(value)
        if v is None:
            raise bad("is not a number")
        if ctrl.kind == "int":
            v = int(round(v))
        if not ctrl.min <= v <= ctrl.max:
            raise bad("is out of range")
        return v
    if ctrl.kind == "pair":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise bad("is not a pair of numbers")
        vals = tuple(_real(x) for x in value)
        if any(x is None or not ctrl.min <= x <= ctrl.max for x in vals):
            raise bad("is out of range")
        return vals
    if ctrl.kind == "rect":
        rect = _rect(value, ctrl)
        if rect is None:
            raise bad("is not a rectangle inside the sensor")
        return rect
    if ctrl.kind == "rects":
        if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_RECTS:
            raise bad(f"is not a list of 1 to {MAX_RECTS} rectangles")
        rects = [_rect(r, ctrl) for r in value]
        if any(r is None for r in rects):
            raise bad("holds a rectangle that is not inside the sensor")
        return tuple(rects)
    raise AssertionError(f"unknown control kind {ctrl.kind}")


def _enum(ctrl: ControlDef, value: Any, bad: Any) -> str:
    if isinstance(value, str):
        for choice in ctrl.choices:
            if value.casefold() == choice.casefold():
                return choice
        raise bad("is not a value of this control")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= int(value) < len(ctrl.choices):
        return ctrl.choices[int(value)]
    raise bad("is not a value of this control")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_names(camera: str, table: Mapping[str, ControlDef], values: Mapping[str, Any]) -> None:
    """ControlError for the first name that is not a control of the camera."""
    for name in values:
        if name not in table:
            known = ", ".join(sorted(n for n, c in table.items() if c.writable))
            raise ControlError(f"camera {camera!r} has no control {_shown(name)}",
                               f"use one of: {known}")


def check_controls(camera: str, table: Mapping[str, ControlDef], values: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of ``values`` checked and converted against ``table`` (names first).

    Raises:
        ControlError: an unknown name, a read-only control, a wrong type or arity, or a value out of range.
    """
    check_names(camera, table, values)
    return {name: coerce(camera, table[name], value) for name, value in values.items()}


# ---------------------------------------------------------------- ZWO ASI

def _asi662mc() -> dict[str, ControlDef]:
    # The limits the ASI SDK lists for the ASI662MC (ASIGetControlCaps; tests/drivers/asi_sdk_sim
    # mirrors them): exposure 32 us to 2000 s, gain 0 to 600 (0.1 dB steps), offset 0 to 240;
    # bins 1 and 2. Defaults are the simulator's starting point; a live camera reports its own.
    return {
        "exposure_us": ControlDef("exposure_us", "int", 32, 2_000_000_000, 10_000, "us", "exposure time"),
        "gain": ControlDef("gain", "int", 0, 600, 100, "0.1 dB", "analogue gain, 10 ** (gain / 200)"),
        "wb_r": ControlDef("wb_r", "int", 1, 99, 52, "", "red white balance, gain wb_r / 50"),
        "wb_b": ControlDef("wb_b", "int", 1, 99, 95, "", "blue white balance, gain wb_b / 50"),
        "offset": ControlDef("offset", "int", 0, 240, 8, "", "black level, offset / 2 DN in RAW8"),
        "high_speed": ControlDef("high_speed", "bool", False, True, False, "", "10-bit ADC, faster readout"),
        "bandwidth": ControlDef("bandwidth", "int", 40, 100, 80, "%", "USB bandwidth share"),
        "bin": ControlDef("bin", "int", 1, 2, 1, "", "2x2 binning (the ROI keeps its sensor area)"),
        "gamma": ControlDef("gamma", "int", 1, 100, 50, "", "50 = linear"),
        "flip": ControlDef("flip", "int", 0, 3, 0, "", "0 none, 1 horizontal, 2 vertical, 3 both"),
        "temperature_c": ControlDef("temperature_c", "float", -40.0, 100.0, 20.0, "C", "sensor temperature",
                                    writable=False),
    }


ASI_SENSOR_SIZES = {"ASI662MC": (1920, 1080)}

# ---------------------------------------------------------------- Raspberry Pi (Picamera2 / libcamera)

PI_SENSOR_SIZES = {"IMX219": (3280, 2464), "IMX708": (4608, 2592), "IMX477": (4056, 3040), "IMX296": (1456, 1088)}
# Longest exposure of each sensor's kernel driver (its slowest mode), as libcamera reports it.
MAX_EXPOSURE_US = {"IMX219": 11_766_829, "IMX708": 112_015_443, "IMX477": 674_181_621, "IMX296": 15_534_385}
# Analogue gain limits of libcamera's camera helpers (cam_helper_imx*.cpp: the gain codes the
# sensors accept): IMX219 256 / (256 - code), code <= 232; IMX708 and IMX477 1024 / (1024 - code),
# IMX708 code <= 960, IMX477 code <= 978; IMX296 10 ** (code / 200), code <= 480. The IMX708's
# lowest code gives 1.1228, but libcamera reports a default of 1.0 and clamps, so 1.0 is accepted.
ANALOGUE_GAIN = {"IMX219": (1.0, 10.666), "IMX708": (1.0, 16.0), "IMX477": (1.0, 22.26),
                 "IMX296": (1.0, 251.188)}
AUTOFOCUS_MODELS = frozenset({"IMX708"})          # Camera Module 3: the only one with a focus motor
LENS_POSITION_MAX = {"IMX708": 15.0}              # dioptres, as libcamera reports for the Camera Module 3

# libcamera's enum names, in value order (control_ids_core.yaml, Picamera2's controls.*Enum).
AF_MODES = ("Manual", "Auto", "Continuous")
AF_RANGES = ("Normal", "Macro", "Full")
AF_SPEEDS = ("Normal", "Fast")
AWB_MODES = ("Auto", "Incandescent", "Tungsten", "Fluorescent", "Indoor", "Daylight", "Cloudy", "Custom")
AE_METERING_MODES = ("CentreWeighted", "Spot", "Matrix", "Custom")
NOISE_REDUCTION_MODES = ("Off", "Fast", "HighQuality", "Minimal", "ZSL")


def _picam(model: str) -> dict[str, ControlDef]:
    w, h = PI_SENSOR_SIZES[model]
    gain_lo, gain_hi = ANALOGUE_GAIN[model]
    area = (0, 0, w, h)
    table = {
        "ExposureTime": ControlDef("ExposureTime", "int", 30, MAX_EXPOSURE_US[model], 10_000, "us",
                                   "exposure time; setting it turns AeEnable off"),
        "AnalogueGain": ControlDef("AnalogueGain", "float", gain_lo, gain_hi, max(1.0, gain_lo), "x",
                                   "sensor gain; setting it turns AeEnable off"),
        "ExposureValue": ControlDef("ExposureValue", "float", -8.0, 8.0, 0.0, "EV",
                                    "auto exposure target shift, in stops"),
        "AeEnable": ControlDef("AeEnable", "bool", False, True, True, "", "auto exposure and gain"),
        "AeMeteringMode": ControlDef("AeMeteringMode", "enum", None, None, "CentreWeighted",
                                     "", "how auto exposure weighs the image", choices=AE_METERING_MODES),
        "AwbEnable": ControlDef("AwbEnable", "bool", False, True, True, "", "auto white balance"),
        "AwbMode": ControlDef("AwbMode", "enum", None, None, "Auto", "",
                              "illuminant auto white balance assumes", choices=AWB_MODES),
        "ColourGains": ControlDef("ColourGains", "pair", 0.0, 32.0, None, "x",
                                  "(red, blue) gains; setting them turns AwbEnable off"),
        "Brightness": ControlDef("Brightness", "float", -1.0, 1.0, 0.0, "", "offset added after the tone curve"),
        "Contrast": ControlDef("Contrast", "float", 0.0, 32.0, 1.0, "", "1 = normal"),
        "Saturation": ControlDef("Saturation", "float", 0.0, 32.0, 1.0, "", "0 = greyscale, 1 = normal"),
        "Sharpness": ControlDef("Sharpness", "float", 0.0, 16.0, 1.0, "", "0 = no sharpening, 1 = normal"),
        "NoiseReductionMode": ControlDef("NoiseReductionMode", "enum", None, None, "Off",
                                         "", "the ISP's denoise", choices=NOISE_REDUCTION_MODES),
        "ScalerCrop": ControlDef("ScalerCrop", "rect", (0, 0, 64, 64), area, area, "px",
                                 "sensor area scaled to the output (digital zoom), within the sensor mode's crop"),
        "FrameDurationLimits": ControlDef("FrameDurationLimits", "pair", 100, 1_000_000_000, (33_333, 33_333),
                                          "us", "(min, max) frame duration; 33333 = 30 fps"),
    }
    if model in AUTOFOCUS_MODELS:
        table.update({
            "LensPosition": ControlDef("LensPosition", "float", 0.0, LENS_POSITION_MAX[model], 1.0, "dioptres",
                                       "focus distance = 1 / LensPosition metres; 0 = infinity"),
            "AfMode": ControlDef("AfMode", "enum", None, None, "Manual", "",
                                 "Manual uses LensPosition", choices=AF_MODES),
            "AfRange": ControlDef("AfRange", "enum", None, None, "Normal", "",
                                  "distances autofocus searches", choices=AF_RANGES),
            "AfSpeed": ControlDef("AfSpeed", "enum", None, None, "Normal", "",
                                  "how fast autofocus moves the lens", choices=AF_SPEEDS),
            "AfWindows": ControlDef("AfWindows", "rects", (0, 0, 1, 1), area, None, "px",
                                    "where autofocus looks (sensor pixels)"),
        })
    return table


def _build() -> dict[tuple[str, str], Mapping[str, ControlDef]]:
    tables: dict[tuple[str, str], Mapping[str, ControlDef]] = {}
    for model in ASI_SENSOR_SIZES:
        tables[("asi", model)] = MappingProxyType(_asi662mc())
    for model in PI_SENSOR_SIZES:
        tables[("picam", model)] = MappingProxyType(_picam(model))
    return tables


_TABLES = _build()
_EMPTY: Mapping[str, ControlDef] = MappingProxyType({})
DRIVERS_BY_KIND = {"asi": ("zwoasi", "sim"), "picam": ("picamera2", "sim"), "ptz": ("onvif", "sim")}


def control_table(driver: str, kind: str, model: str) -> Mapping[str, ControlDef]:
    """The controls of a camera model, by name (read-only; empty for a PTZ camera).

    Args:
        driver: "zwoasi", "picamera2", "onvif" or "sim" (a simulated camera has the real model's table).
        kind: "asi", "picam" or "ptz" (drivers.base.camera_kind).
        model: "ASI662MC", "IMX219", "IMX708", "IMX477", "IMX296", or a PTZ model.

    Raises:
        KeyError: a driver, kind and model that do not go together (the config refuses those first).
    """
    if driver not in DRIVERS_BY_KIND.get(kind, ()):
        raise KeyError(f"no {kind} cameras with driver {driver!r}")
    if kind == "ptz":
        return _EMPTY
    return _TABLES[(kind, model.upper())]


def sensor_size(kind: str, model: str) -> tuple[int, int] | None:
    """The full sensor size (width, height) in px of an ASI or Pi camera model, None if unknown."""
    sizes = ASI_SENSOR_SIZES if kind == "asi" else PI_SENSOR_SIZES if kind == "picam" else {}
    return sizes.get(model.upper())


def with_defaults(table: Mapping[str, ControlDef], **defaults: Any) -> dict[str, ControlDef]:
    """A copy of ``table`` with some defaults replaced (a live camera's mode-dependent ones)."""
    out = dict(table)
    for name, default in defaults.items():
        out[name] = replace(out[name], default=default)
    return out
