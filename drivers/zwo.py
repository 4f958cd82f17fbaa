"""ZWO ASI cameras (ASI662MC) through the ASI SDK and the ``zwoasi`` wrapper.

A camera is opened by its serial number, so two identical ASI662MC are told apart
(config.toml: ``serial``; ``camdeck doctor`` prints the serials the SDK sees). Frames
come from video mode: RAW8 or RAW16 Bayer, the ROI and binning under the SDK's rules,
a read timeout of 2 x exposure + 500 ms, and the recovery ladder of zwo_recovery.py
when reads time out.

Controls (camdeck name -> SDK control): exposure_us -> Exposure, gain -> Gain,
wb_r -> WB_R, wb_b -> WB_B, offset -> Offset, high_speed -> HighSpeedMode,
bandwidth -> BandWidth, gamma -> Gamma, flip -> Flip: the model's table in drivers/controls.py
gives their kinds and ranges (checked first), the SDK's control caps the live ranges.
Driver-level controls: ``bin`` (the SDK's SupportedBins), ``format`` ("RAW8" or "RAW16") and
``roi`` ((x, y, width, height) in binned pixels). At run time a value may be "auto" where the
SDK supports auto mode (a config file gives numbers: the table has no "auto").
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from camdeck.drivers.base import CameraBase, CameraInfo, CameraSpec, Capability, Clock, ControlRange, Frame
from camdeck.drivers.controls import coerce, control_table
from camdeck.drivers.errors import CameraNotFound, ControlError, DriverError
from camdeck.drivers.registry import DriverContext
from camdeck.drivers import zwo_sdk
from camdeck.drivers.zwo_recovery import GONE, disconnected_error, read_with_recovery
from camdeck.drivers.zwo_sdk import IMG_RAW8, IMG_RAW16, AsiCallError, AsiDevice, AsiSdk

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
MAX_WAIT_MS = 2**31 - 1


def open_camera(spec: CameraSpec, ctx: DriverContext) -> "ZwoCamera":
    """Open the ZWO camera whose serial number is ``spec.serial`` (not started).

    Raises:
        DriverUnavailable: zwoasi or the ASI SDK library is missing.
        CameraNotFound: no camera, or none with that serial, is connected.
        ControlError: the configured ROI or a control value is out of the camera's range.
    """
    sdk = zwo_sdk.load_sdk()
    if not spec.serial:
        raise CameraNotFound(f"camera {spec.name} has no serial number",
                             f"set cameras.{spec.name}.serial (camdeck doctor lists the connected serials)")
    return ZwoCamera(spec, ctx, sdk, find_device(sdk, spec.serial, spec.name))


def find_device(sdk: AsiSdk, serial: str, name: str) -> AsiDevice:
    """The connected camera with ``serial`` (or with that ID written by ASISetID).

    Raises:
        CameraNotFound: no camera at all, or none with that serial (the message lists them).
        DriverError: that camera is already open in this process.
    """
    devices = zwo_sdk.list_devices(sdk)
    if not devices:
        raise CameraNotFound(f"camera {name}: the ASI SDK ({sdk.path}) sees no ZWO camera",
                             "plug the camera into a USB3 port and check its udev rule for vendor 03c3 "
                             "(`camdeck doctor` checks both)")
    wanted = zwo_sdk.normalize_serial(serial)
    for device in devices:
        ids = {zwo_sdk.normalize_serial(device.serial or ""), zwo_sdk.normalize_serial(device.flash_id)} - {""}
        if wanted in ids:
            if device.in_use:
                raise DriverError(f"camera {name}: the ZWO camera with serial {serial} is already open",
                                  "close the other session that uses it; each camera entry needs its own serial")
            return device
    seen = ", ".join(f"{d.serial or '(no serial)'} ({d.name})" for d in devices)
    raise CameraNotFound(f"camera {name}: no ZWO camera with serial {serial}; connected: {seen}",
                         f"set cameras.{name}.serial to the serial of the camera you mean")


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


class ZwoCamera(CameraBase):
    """An opened ZWO ASI camera. Blocking; use it from one thread at a time."""

    def __init__(self, spec: CameraSpec, ctx: DriverContext, sdk: AsiSdk, device: AsiDevice) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self._sdk = sdk
        self._clock = ctx.clock or time.monotonic_ns
        self._device = device
        self._id = device.camera_id
        self._serial = device.serial or spec.serial
        self._table = control_table("zwoasi", "asi", spec.model)     # names, kinds and the model's ranges
        self._open_handle()
        try:
            self._prop = sdk.property(device.index)
            self._sensor = (int(self._prop["MaxWidth"]), int(self._prop["MaxHeight"]))
            self._bins = tuple(int(b) for b in self._prop.get("SupportedBins") or (1,))
            self._applied: dict[str, Any] = {}
            self._roi = self._initial_roi(spec)
            self._apply_roi(*self._roi)
            self._apply_sdk_controls({k: v for k, v in spec.controls.items() if k != "bin"})
        except BaseException:
            self._close_handle()
            raise
        self._seq = 0
        self._dropped_total = 0
        self._last_sdk_dropped = 0
        self._gap = 0               # frames lost since the last delivered one (dropped or flushed)
        self._recoveries: list[str] = []

    # ---------------------------------------------------------------- handle

    def _open_handle(self) -> None:
        try:
            self._sdk.open(self._id)
            self._sdk.init(self._id)
        except AsiCallError as err:
            raise CameraNotFound(f"camera {self.name}: cannot open the ZWO camera with serial {self._serial} "
                                 f"({err.message})", "check that no other program (ASIStudio, INDI) holds it, "
                                 "then unplug and replug it") from None
        zwo_sdk.claim(self._id, self._serial)
        self._caps = self._sdk.control_caps(self._id)

    def _close_handle(self) -> None:
        for call in (self._sdk.stop_video, self._sdk.close):
            try:
                call(self._id)
            except AsiCallError:
                pass        # already gone: closing must not fail
        zwo_sdk.release(self._id)

    # ---------------------------------------------------------------- ROI and controls

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

    # ---------------------------------------------------------------- info

    def info(self) -> CameraInfo:
        x, y, width, height, bin_, img_type = self._roi
        bayer = zwo_sdk.BAYER.get(int(self._prop.get("BayerPattern", 0)), "RGGB")
        caps = (Capability.RAW_BAYER | Capability.ROI | Capability.BINNING | Capability.WHITE_BALANCE)
        if "HighSpeedMode" in self._caps:
            caps |= Capability.HIGH_SPEED
        if "Temperature" in self._caps:
            caps |= Capability.TEMPERATURE
        model = str(self._prop.get("Name", self.spec.model)).removeprefix("ZWO ").strip()
        return CameraInfo(
            name=self.name, driver="zwoasi", model=model, serial=self._serial,
            sensor_size=self._sensor, output_size=(width, height),
            pixel_format=f"{self._format_name(img_type)}_{bayer}", capabilities=caps,
            extra={"camera_id": self._id, "roi": (x, y, width, height), "bin": bin_,
                   "usb3_host": bool(self._prop.get("IsUSB3Host")), "usb3_camera": bool(self._prop.get("IsUSB3Camera")),
                   "bit_depth": int(self._prop.get("BitDepth", 0)), "pixel_size_um": float(self._prop.get("PixelSize", 0)),
                   "supported_bins": self._bins, "sdk_version": self._sdk.sdk_version(), "library": str(self._sdk.path)},
        )

    # ---------------------------------------------------------------- video

    @property
    def clock(self) -> Clock:
        """The clock frame timestamps use: the context's, else the OS's monotonic clock."""
        return self._clock

    @property
    def dropped_frames(self) -> int:
        """Frames the SDK dropped since start() (summed over video restarts)."""
        return self._dropped_total

    @property
    def recoveries(self) -> tuple[str, ...]:
        """The recovery steps that brought frames back, oldest first."""
        return tuple(self._recoveries)

    def _call_video(self, fn) -> None:
        try:
            fn(self._id)
        except AsiCallError as err:
            if err.code in GONE:
                raise disconnected_error(self.name) from None
            raise

    def _start(self) -> None:
        self._call_video(self._sdk.start_video)
        self._seq = 0
        self._dropped_total = 0
        self._last_sdk_dropped = 0
        self._gap = 0

    def _stop(self) -> None:
        try:
            self._sdk.stop_video(self._id)
        except AsiCallError:
            pass        # unplugged: stopping must still succeed

    def _close(self) -> None:
        self._close_handle()

    def timeout_ms(self) -> int:
        """The SDK's recommended wait for one frame: 2 x exposure + 500 ms."""
        exposure_us = self._applied.get("exposure_us")
        if not isinstance(exposure_us, (int, float)):
            exposure_us, _ = self._sdk.get_control(self._id, int(self._sdk_control("exposure_us")["ControlType"]))
        return int(min(MAX_WAIT_MS, 2 * exposure_us / 1000.0 + 500))

    def capture(self, timeout_s: float | None = None) -> Frame:
        """The next video frame (starts video if needed).

        Args:
            timeout_s: wait per read; default 2 x exposure + 500 ms.

        Raises:
            CaptureTimeout: no frame even after the recovery ladder.
            CameraDisconnected: the camera was unplugged.
        """
        if self._closed:
            raise DriverError(f"camera {self.name} is closed", "open it again")
        self.start()
        wait_ms = self.timeout_ms() if timeout_s is None else int(min(MAX_WAIT_MS, max(0.0, timeout_s) * 1000))
        data, step = read_with_recovery(_Ops(self), wait_ms, camera=self.name)
        arrived = self._clock()
        if step:
            self._recoveries.append(step)
        x, y, width, height, bin_, img_type = self._roi
        dtype = np.uint16 if img_type == IMG_RAW16 else np.uint8
        array = np.frombuffer(data, dtype=dtype).reshape(height, width)
        self._collect_drops()
        seq, self._gap = self._seq + self._gap, 0
        self._seq = seq + 1
        exposure = self._applied.get("exposure_us")
        fmt = f"{self._format_name(img_type)}_{zwo_sdk.BAYER.get(int(self._prop.get('BayerPattern', 0)), 'RGGB')}"
        meta = {"format": fmt, "serial": self._serial, "exposure_us": exposure, "gain": self._applied.get("gain"),
                "temperature_c": self.temperature_c(), "dropped_frames": self._dropped_total,
                "roi": (x, y, width, height), "bin": bin_, "recovered": step, "timeout_ms": wait_ms}
        exposure_ns = int(exposure * 1000) if isinstance(exposure, (int, float)) else 0
        return Frame(array=array, timestamp=arrived - exposure_ns, seq=seq, camera=self.name, meta=meta)

    def _collect_drops(self) -> None:
        """Add the SDK's new dropped frames to the total and to the gap before the next frame."""
        try:
            now = self._sdk.dropped_frames(self._id)
        except AsiCallError:
            return
        new = now - self._last_sdk_dropped if now >= self._last_sdk_dropped else now
        self._last_sdk_dropped = now
        self._dropped_total += new
        self._gap += new

    def _frame_bytes(self) -> int:
        _, _, width, height, _, img_type = self._roi
        return width * height * (2 if img_type == IMG_RAW16 else 1)

    def _reopen(self) -> None:
        """Close, find the camera by serial again, reopen and restore ROI, controls and video."""
        self._collect_drops()       # the SDK's count ends with the handle
        self._close_handle()
        device = None
        for candidate in zwo_sdk.list_devices(self._sdk):
            if candidate.serial and zwo_sdk.normalize_serial(candidate.serial) == \
                    zwo_sdk.normalize_serial(self._serial or ""):
                device = candidate
                break
        if device is None:
            raise disconnected_error(self.name)
        self._device, self._id = device, device.camera_id
        self._open_handle()
        self._apply_roi(*self._roi)
        self._apply_sdk_controls(dict(self._applied))
        self._call_video(self._sdk.start_video)
        self._last_sdk_dropped = 0


class _Ops:
    """The ladder's view of a ZwoCamera: read, flush, restart video, reopen."""

    FLUSH_READS = 2

    def __init__(self, cam: ZwoCamera) -> None:
        self.cam = cam

    def read(self, timeout_ms: int) -> bytearray:
        buffer = bytearray(self.cam._frame_bytes())
        self.cam._sdk.video_data(self.cam._id, buffer, timeout_ms)
        return buffer

    def flush(self) -> None:
        """Discard frames already buffered (zero-wait reads until the buffer is empty)."""
        for _ in range(self.FLUSH_READS):
            try:
                self.read(0)
            except AsiCallError:
                return
            self.cam._gap += 1

    def restart_video(self) -> None:
        self.cam._collect_drops()   # stopping video resets the SDK's count
        self.cam._call_video(self.cam._sdk.stop_video)
        self.cam._call_video(self.cam._sdk.start_video)
        self.cam._last_sdk_dropped = 0

    def reopen(self) -> None:
        self.cam._reopen()
