"""ZWO ASI controls: the SDK control table, the ROI rules, and setting and reading controls.

Controls (camdeck name -> SDK control): exposure_us -> Exposure, gain -> Gain,
wb_r -> WB_R, wb_b -> WB_B, offset -> Offset, high_speed -> HighSpeedMode,
bandwidth -> BandWidth, gamma -> Gamma, flip -> Flip: the model's table in drivers/controls.py
gives their kinds and ranges (checked first), the SDK's control caps the live ranges.
Driver-level controls: ``bin`` (the SDK's SupportedBins), ``format`` ("RAW8" or "RAW16") and
``roi`` ((x, y, width, height) in binned pixels). At run time a value may be "auto" where the
SDK supports auto mode (a config file gives numbers: the table has no "auto").

Kept apart from drivers/zwo.py (opening a camera by serial, its video and recovery) because
the control and ROI rules are their own feature: each value is checked here before the SDK
sees it. ``ZwoControls`` is a mixin of ``ZwoCamera``: it uses the camera's attributes listed
on the class, and its ``started``, ``_collect_drops`` and ``_call_video`` (a ROI change
restarts running video).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from camdeck.drivers.base import CameraSpec, ControlRange
from camdeck.drivers.controls import ControlDef, coerce
from camdeck.drivers.errors import ControlError
from camdeck.drivers.zwo_sdk import IMG_RAW8, IMG_RAW16, AsiCallError, AsiSdk

# camdeck control -> (SDK control names, unit); the first SDK name the camera has is used.
SDK_CONTROLS: dict[str, tuple[tuple[str, ...], str]] = {
    "exposure_us": (("Exposure",), "us"),
    "gain": (("Gain",), ""),
    "wb_r": (("WB_R",), ""),
    "wb_b": (("WB_B",), ""),
    "offset": (("Offset", "Brightness"), "ADU"),
    "high_speed": (("HighSpeedMode",), "bool"),
    "bandwidth": (("BandWidth",), "%"),
    "gamma": (("Gamma",), ""),
    "flip": (("Flip",), ""),
}
DRIVER_CONTROLS = ("bin", "format", "roi")
FORMATS = {"RAW8": IMG_RAW8, "RAW16": IMG_RAW16}
TEMPERATURE = 8                        # ASI_TEMPERATURE: degrees C x 10


def check_roi(width: int, height: int, bin_: int, *, sensor: tuple[int, int], bins: tuple[int, ...],
              start: tuple[int, int] | None = None, name: str = "camera") -> None:
    """Check a ROI against the SDK's rules before the SDK sees it.

    Args:
        width, height: ROI size in binned pixels.
        bin_: binning factor.
        sensor: (width, height) of the full sensor, px.
        bins: the binning factors the camera supports.
        start: (x, y) of the ROI's top-left corner in binned pixels, if given.

    Raises:
        ControlError: naming the rule broken and the nearest valid value.
    """
    if bin_ not in bins:
        raise ControlError(f"camera {name}: bin {bin_} is not supported",
                           f"use one of {', '.join(map(str, bins))}")
    max_w, max_h = sensor[0] // bin_, sensor[1] // bin_
    if width < 8 or height < 2 or width > max_w or height > max_h:
        raise ControlError(f"camera {name}: ROI {width}x{height} at bin {bin_} does not fit the "
                           f"{max_w}x{max_h} binned sensor",
                           f"use a width of 8 to {max_w - max_w % 8} and a height of 2 to {max_h - max_h % 2}")
    if width % 8 or height % 2:
        raise ControlError(f"camera {name}: ROI {width}x{height}: the SDK needs a width divisible by 8 "
                           "and an even height", f"use {width - width % 8}x{height - height % 2}")
    if start is not None:
        x, y = start
        if x < 0 or y < 0 or x + width > max_w or y + height > max_h:
            raise ControlError(f"camera {name}: ROI at ({x}, {y}) of size {width}x{height} leaves the "
                               f"{max_w}x{max_h} binned sensor",
                               f"use x from 0 to {max_w - width} and y from 0 to {max_h - height}")


class ZwoControls:
    """The controls of an opened ZWO camera (a ZwoCamera mixin: it needs the attributes below)."""

    name: str
    _sdk: AsiSdk
    _id: int
    _caps: dict[str, dict[str, Any]]
    _table: Mapping[str, ControlDef]
    _sensor: tuple[int, int]
    _bins: tuple[int, ...]
    _roi: tuple[int, int, int, int, int, int]
    _applied: dict[str, Any]
    _last_sdk_dropped: int

    def _initial_roi(self, spec: CameraSpec) -> tuple[int, int, int, int, int, int]:
        bin_ = int(spec.controls.get("bin", 1))
        if spec.resolution:
            width, height = spec.resolution
        else:
            width, height = self._sensor[0] // bin_, self._sensor[1] // bin_
            width, height = width - width % 8, height - height % 2
        check_roi(width, height, bin_, sensor=self._sensor, bins=self._bins, name=self.name)
        x = (self._sensor[0] // bin_ - width) // 2 & ~1      # even, to keep the Bayer phase
        y = (self._sensor[1] // bin_ - height) // 2 & ~1
        return x, y, width, height, bin_, IMG_RAW8

    def _apply_roi(self, x: int, y: int, width: int, height: int, bin_: int, img_type: int) -> None:
        check_roi(width, height, bin_, sensor=self._sensor, bins=self._bins, start=(x, y), name=self.name)
        try:
            self._sdk.set_roi_format(self._id, width, height, bin_, img_type)
            self._sdk.set_start_pos(self._id, x, y)
        except AsiCallError as err:
            raise ControlError(f"camera {self.name}: the SDK rejected ROI {width}x{height}+{x}+{y} at bin {bin_} "
                               f"({err.message})", "use a width divisible by 8, an even height, and a ROI "
                               "inside the binned sensor") from None
        self._roi = (x, y, width, height, bin_, img_type)

    def _sdk_control(self, name: str) -> dict[str, Any]:
        names, _ = SDK_CONTROLS[name]
        for sdk_name in names:
            if sdk_name in self._caps:
                return self._caps[sdk_name]
        raise ControlError(f"camera {self.name}: this camera has no {name} control",
                           "remove it from the camera's controls")

    def _apply_sdk_controls(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self._check_name(name)
            caps = self._sdk_control(name)
            auto = isinstance(value, str) and value.lower() == "auto"
            if auto:
                if not caps["IsAutoSupported"]:
                    raise ControlError(f"camera {self.name}: {name} has no auto mode", "give a number")
                number = int(caps["DefaultValue"])
            else:
                coerce(self.name, replace(self._table[name], min=caps["MinValue"], max=caps["MaxValue"]), value)
                number = self._control_number(name, value, caps)
            try:
                self._sdk.set_control(self._id, int(caps["ControlType"]), number, auto)
            except AsiCallError as err:
                raise ControlError(f"camera {self.name}: the SDK rejected {name}={value!r} ({err.message})",
                                   f"use a value from {caps['MinValue']} to {caps['MaxValue']}") from None
            self._applied[name] = "auto" if auto else value

    def _check_name(self, name: str) -> None:
        """ControlError unless ``name`` is a settable SDK control of the model's table."""
        if name not in SDK_CONTROLS or name not in self._table:
            known = ", ".join(sorted({*(n for n in SDK_CONTROLS if n in self._table), *DRIVER_CONTROLS}))
            raise ControlError(f"camera {self.name}: unknown control {name!r}", f"use one of {known}")

    def _control_number(self, name: str, value: Any, caps: Mapping[str, Any]) -> int:
        if not caps["IsWritable"]:
            raise ControlError(f"camera {self.name}: {name} is read-only", "remove it from the controls")
        if name == "high_speed":
            if not isinstance(value, (bool, int)) or value not in (0, 1):
                raise ControlError(f"camera {self.name}: high_speed={value!r}", "use true or false")
            return int(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise ControlError(f"camera {self.name}: {name}={value!r} is not a number",
                               f"use a number from {caps['MinValue']} to {caps['MaxValue']}")
        number = int(round(value))
        lo, hi = int(caps["MinValue"]), int(caps["MaxValue"])
        if not lo <= number <= hi:
            raise ControlError(f"camera {self.name}: {name}={value!r} is outside {lo}..{hi}",
                               f"use a value from {lo} to {hi}")
        return number

    def set_controls(self, **values: Any) -> None:
        """Set controls; bin, format and roi briefly stop and restart video if it runs.

        Raises:
            ControlError: an unknown control, a value out of range, or a ROI the SDK would reject.
        """
        x, y, width, height, bin_, img_type = self._roi
        roi_change = False
        if "format" in values:
            fmt = str(values.pop("format")).upper()
            if fmt not in FORMATS:
                raise ControlError(f"camera {self.name}: format {fmt!r}", "use RAW8 or RAW16")
            img_type, roi_change = FORMATS[fmt], True
        if "bin" in values:
            new_bin = values.pop("bin")
            if isinstance(new_bin, bool) or not isinstance(new_bin, int):
                raise ControlError(f"camera {self.name}: bin={new_bin!r}", f"use one of {self._bins}")
            # keep the same field of view on the sensor, rounded to the SDK's rules
            width = width * bin_ // new_bin
            height = height * bin_ // new_bin
            width, height = max(8, width - width % 8), max(2, height - height % 2)
            x, y = (self._sensor[0] // new_bin - width) // 2 & ~1, (self._sensor[1] // new_bin - height) // 2 & ~1
            bin_, roi_change = new_bin, True
        if "roi" in values:
            roi = values.pop("roi")
            if not isinstance(roi, (tuple, list)) or len(roi) != 4 or not all(isinstance(v, int) for v in roi):
                raise ControlError(f"camera {self.name}: roi={roi!r}", "give (x, y, width, height) in binned pixels")
            x, y, width, height = roi
            roi_change = True
        for name in values:   # check names before touching the camera
            self._check_name(name)
        if roi_change:
            check_roi(width, height, bin_, sensor=self._sensor, bins=self._bins, start=(x, y), name=self.name)
            running = self.started
            if running:
                self._collect_drops()
                self._call_video(self._sdk.stop_video)
            self._apply_roi(x, y, width, height, bin_, img_type)
            if running:
                self._call_video(self._sdk.start_video)
                self._last_sdk_dropped = 0
        self._apply_sdk_controls(values)

    def controls(self) -> dict[str, ControlRange]:
        """Every control with its range, default and current value (plus bin, format, roi, temperature_c)."""
        out: dict[str, ControlRange] = {}
        for name, (_, unit) in SDK_CONTROLS.items():
            try:
                caps = self._sdk_control(name)
            except ControlError:
                continue
            value, auto = self._sdk.get_control(self._id, int(caps["ControlType"]))
            current: Any = bool(value) if name == "high_speed" else value
            ctrl = self._table.get(name)
            out[name] = ControlRange(name, caps["MinValue"], caps["MaxValue"], caps["DefaultValue"],
                                     "auto" if auto else current, unit, bool(caps["IsWritable"]),
                                     str(caps.get("Description", "")) or (ctrl.description if ctrl else ""),
                                     kind=ctrl.kind if ctrl else "")
        x, y, width, height, bin_, img_type = self._roi
        out["bin"] = ControlRange("bin", min(self._bins), max(self._bins), 1, bin_, kind="int")
        out["format"] = ControlRange("format", "RAW8", "RAW16", "RAW8", self._format_name(img_type))
        out["roi"] = ControlRange("roi", (0, 0, 8, 2), (0, 0) + self._sensor, None, (x, y, width, height), "px")
        temp = self.temperature_c()
        if temp is not None:
            out["temperature_c"] = ControlRange("temperature_c", -50.0, 100.0, None, temp, "C", False)
        return out

    def temperature_c(self) -> float | None:
        """Sensor temperature in degrees C (None if the camera has no sensor for it)."""
        if "Temperature" not in self._caps:
            return None
        value, _ = self._sdk.get_control(self._id, TEMPERATURE)
        return value / 10.0

    @staticmethod
    def _format_name(img_type: int) -> str:
        return "RAW16" if img_type == IMG_RAW16 else "RAW8"
