"""ZWO ASI cameras (ASI662MC) through the ASI SDK and the ``zwoasi`` wrapper.

A camera is opened by its serial number, so two identical ASI662MC are told apart
(config.toml: ``serial``; ``camdeck doctor`` prints the serials the SDK sees). Frames
come from video mode: RAW8 or RAW16 Bayer, the ROI and binning under the SDK's rules,
a read timeout of 2 x exposure + 500 ms, and the recovery ladder of zwo_recovery.py
when reads time out.

The controls (the SDK control table, ``bin``, ``format``, ``roi``, "auto") and the ROI rules
are drivers/zwo_controls.py's ``ZwoControls``, which ``ZwoCamera`` inherits.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from camdeck.drivers.base import CameraBase, CameraInfo, CameraSpec, Capability, Clock, Frame
from camdeck.drivers.controls import control_table
from camdeck.drivers.errors import CameraNotFound, DriverError
from camdeck.drivers.registry import DriverContext
from camdeck.drivers import zwo_sdk
from camdeck.drivers.zwo_recovery import GONE, disconnected_error, read_with_recovery
from camdeck.drivers.zwo_controls import ZwoControls
from camdeck.drivers.zwo_sdk import IMG_RAW16, AsiCallError, AsiDevice, AsiSdk

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


class ZwoCamera(ZwoControls, CameraBase):
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
