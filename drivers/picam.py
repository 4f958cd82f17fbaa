"""Raspberry Pi cameras (IMX219, IMX708, ...) through Picamera2 and libcamera.

Imported only when a camera's driver is "picamera2" (drivers/registry.py), and
picamera2 itself only inside functions: it exists only on Raspberry Pi OS.

- One Picamera2 instance per camera, as libcamera requires: a second open of the same
  ``camera_num`` in this process is refused with the fix, before libcamera fails.
- Controls keep Picamera2's names: the model's table in drivers/controls.py (ExposureTime,
  AnalogueGain, LensPosition, AfMode, ..., NoiseReductionMode), narrowed to what libcamera
  advertises and with its live ranges (``live_table``); ``exposure_us`` and ``gain`` are
  accepted as aliases of ExposureTime and AnalogueGain. Enums are written by name
  ("Continuous") and reach libcamera as their index. Values are checked before libcamera sees them.
- Streams: ``main`` (RGB888 at the configured resolution: frames, recording) and
  ``lores`` (YUV420, about 320 px wide: the preview stream, see :meth:`PicamCamera.preview`).
- Recording: the Pi's hardware H264Encoder writes Annex-B H.264 with a timestamp file
  (:meth:`PicamCamera.start_recording`), or any encoder/output pair through
  ``camera.picamera2`` (drivers/recording/encoders.py's adapter uses that).
- Sensor modes: :meth:`PicamCamera.sensor_modes` and :meth:`PicamCamera.select_sensor_mode`.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dataclasses import replace

from camdeck.drivers.base import CameraBase, CameraInfo, CameraSpec, Capability, Clock, ControlRange, Frame
from camdeck.drivers.controls import ControlDef, control_table
from camdeck.drivers.controls import check_controls as check_table_controls
from camdeck.drivers.errors import CameraNotFound, CaptureTimeout, ControlError, DriverError, DriverUnavailable
from camdeck.drivers.registry import DriverContext

ALIASES = {"exposure_us": "ExposureTime", "gain": "AnalogueGain"}
DEFAULT_SIZE = (1280, 720)
PREVIEW_WIDTH = 320
INSTALL_FIX = ("picamera2 runs only on Raspberry Pi OS: 'sudo apt install python3-picamera2', and create the "
               "virtual environment with --system-site-packages so it sees it (README, Hardware)")

_LOCK = threading.Lock()
_OPEN: dict[int, str] = {}       # camera_num -> camdeck camera name, for the instances this process holds


NUMPY_ABI_FIX = ("keep apt's numpy 1.x: in the venv run 'pip uninstall numpy opencv-python-headless', then "
                 "'pip install -c deploy/pi-constraints.txt camdeck' (README, Raspberry Pi)")
# What a numpy-1.x extension (apt's simplejpeg, imported by picamera2) says under numpy 2, and the reverse.
_NUMPY_ABI_SIGNS = ("size changed, may indicate binary incompatibility", "compiled using NumPy 1.x",
                    "numpy.core.multiarray failed to import", "numpy.core._multiarray_umath")


def import_picamera2():
    """The picamera2 module, or DriverUnavailable with the fix.

    Raises:
        DriverUnavailable: picamera2 is not installed (not a Pi), or it fails to import because
            the numpy it finds is not the one apt's simplejpeg was built for (pip's numpy 2
            shadowing Bookworm's numpy 1.24 in a --system-site-packages venv).
    """
    try:
        import picamera2
    except (ImportError, ValueError) as err:
        text = " ".join(str(err).split())
        if any(sign in text for sign in _NUMPY_ABI_SIGNS):
            raise DriverUnavailable(f"picamera2 cannot be imported: numpy {np.__version__} from "
                                    f"{Path(np.__file__).parent.parent} is not the numpy its apt packages "
                                    f"(simplejpeg) were built for ({text})", NUMPY_ABI_FIX) from None
        if isinstance(err, ValueError):
            raise
        raise DriverUnavailable("picamera2 is not installed (it needs libcamera on a Raspberry Pi)",
                                INSTALL_FIX) from None
    return picamera2


def open_camera(spec: CameraSpec, ctx: DriverContext) -> "PicamCamera":
    """Open the Pi camera on connector ``camera_num`` (not started).

    Raises:
        DriverUnavailable: picamera2 is missing (not a Pi).
        CameraNotFound: no camera on that connector, or a different sensor than configured.
        DriverError: this process already holds that camera.
        ControlError: a configured control or value the camera rejects.
    """
    picamera2 = import_picamera2()
    num = int(spec.options.get("camera_num", 0))
    cameras = picamera2.Picamera2.global_camera_info()
    if not cameras:
        raise CameraNotFound(f"camera {spec.name}: libcamera detects no camera",
                             "check the ribbon cable (contacts toward the board), keep camera_auto_detect=1 in "
                             "/boot/firmware/config.txt, reboot, and run 'rpicam-hello --list-cameras'")
    if num >= len(cameras):
        seen = ", ".join(f"{i}: {c.get('Model')}" for i, c in enumerate(cameras))
        raise CameraNotFound(f"camera {spec.name}: camera_num {num}, but libcamera sees {len(cameras)} "
                             f"camera(s) ({seen})", f"set cameras.{spec.name}.camera_num to one of "
                             f"0..{len(cameras) - 1}, or connect the second camera")
    sensor = str(cameras[num].get("Model", ""))
    if not sensor.lower().startswith(spec.model.lower()):
        raise CameraNotFound(f"camera {spec.name}: camera_num {num} is a {sensor}, not the configured {spec.model}",
                             "swap the camera_num values of your cameras or correct the model")
    with _LOCK:
        if num in _OPEN:
            raise DriverError(f"camera {spec.name}: camera_num {num} is already open here as {_OPEN[num]}",
                              "libcamera allows one Picamera2 per camera: close the other user first")
        try:
            picam2 = picamera2.Picamera2(num)
        except (RuntimeError, IndexError) as err:
            raise CameraNotFound(f"camera {spec.name}: libcamera could not open camera_num {num} ({err})",
                                 "another program holds it (rpicam-*, libcamera-*, a second camdeck): stop it") \
                from None
        _OPEN[num] = spec.name
    try:
        return PicamCamera(spec, ctx, picam2, cameras[num])
    except BaseException:
        picam2.close()
        with _LOCK:
            _OPEN.pop(num, None)
        raise


def live_table(table: Mapping[str, ControlDef], available: Mapping[str, tuple]) -> dict[str, ControlDef]:
    """The camera's controls: the model's table (drivers/controls.py) narrowed to the controls
    libcamera advertises (``camera_controls``: name -> (min, max, default)), with the live limits
    and defaults where libcamera gives them (they follow the tuning file and the sensor mode)."""
    out: dict[str, ControlDef] = {}
    for name, ctrl in table.items():
        if name not in available:
            continue
        lo, hi, default = available[name]
        changes: dict[str, Any] = {}
        if ctrl.kind in ("int", "float", "pair") and _is_number(lo) and _is_number(hi) and lo <= hi:
            cast = int if ctrl.kind == "int" else type(ctrl.min)
            changes.update(min=cast(lo), max=cast(hi))
        elif ctrl.kind in ("rect", "rects") and _is_rect(lo) and _is_rect(hi) and hi[2] > 0 and hi[3] > 0:
            changes.update(min=tuple(int(v) for v in lo), max=tuple(int(v) for v in hi))
        if default is not None and ctrl.kind not in ("enum", "bool"):
            changes["default"] = tuple(default) if isinstance(default, (list, tuple)) else default
        out[name] = replace(ctrl, **changes) if changes else ctrl
    return out


def check_controls(values: Mapping[str, Any], table: Mapping[str, ControlDef], camera: str) -> dict[str, Any]:
    """Validate controls against the camera's live table (``live_table``).

    Returns the controls under their Picamera2 names, converted for Picamera2 (int, float, bool,
    tuples; an enum as its libcamera index).

    Raises:
        ControlError: an unknown or unsupported control, a wrong type or arity, or a value out of range.
    """
    named = {ALIASES.get(name, name): value for name, value in values.items()}
    checked = check_table_controls(camera, table, named)
    out: dict[str, Any] = {}
    for name, value in checked.items():
        ctrl = table[name]
        if ctrl.kind == "enum":
            value = ctrl.choices.index(value)
        elif name == "FrameDurationLimits":
            value = tuple(int(round(v)) for v in value)
            if value[0] > value[1]:
                raise ControlError(f"camera {camera}: FrameDurationLimits {value!r}", "give (min_us, max_us), min first")
        elif ctrl.kind == "rects":
            value = [tuple(r) for r in value]
        out[name] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _is_rect(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 4 and all(_is_number(v) for v in value)


class PicamCamera(CameraBase):
    """An opened Pi camera. ``picamera2`` is the underlying Picamera2 object (for encoder adapters)."""

    def __init__(self, spec: CameraSpec, ctx: DriverContext, picam2: Any, camera_info: Mapping[str, Any]) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.picamera2 = picam2
        self._num = int(spec.options.get("camera_num", 0))
        self._camera_info = dict(camera_info)
        self._clock = ctx.clock or time.monotonic_ns
        self._size = tuple(spec.resolution) if spec.resolution else DEFAULT_SIZE
        if self._size[0] % 2 or self._size[1] % 2:
            raise ControlError(f"camera {self.name}: resolution {list(self._size)} must have an even width "
                               "and height", f"use [{self._size[0] & ~1}, {self._size[1] & ~1}]")
        self._table = live_table(control_table("picamera2", "picam", spec.model), picam2.camera_controls)
        self._applied = check_controls(spec.controls, self._table, self.name)
        self._sensor_mode: dict[str, Any] | None = None
        self._configure()
        self._seq = 0
        self._dropped = 0
        self._last_ts: int | None = None
        self._recording: tuple[Any, Any] | None = None

    # ---------------------------------------------------------------- configuration

    @property
    def preview_size(self) -> tuple[int, int]:
        w, h = self._size
        if w <= PREVIEW_WIDTH:
            return w, h
        ph = int(round(PREVIEW_WIDTH * h / w)) & ~1
        return PREVIEW_WIDTH, max(2, ph)

    def _configure(self) -> None:
        sensor = {}
        if self._sensor_mode:
            sensor = {"output_size": self._sensor_mode["size"], "bit_depth": self._sensor_mode["bit_depth"]}
        try:
            config = self.picamera2.create_video_configuration(
                main={"size": self._size, "format": "RGB888"},
                lores={"size": self.preview_size, "format": "YUV420"},
                controls=dict(self._applied), sensor=sensor)
            self.picamera2.configure(config)
        except (RuntimeError, ValueError) as err:
            raise ControlError(f"camera {self.name}: libcamera rejected the configuration {self._size} ({err})",
                               "use a resolution the sensor supports (see sensor_modes)") from None

    def sensor_modes(self) -> list[dict[str, Any]]:
        """The sensor's modes: size (w, h), fps, bit_depth, format, crop_limits, exposure_limits."""
        modes = []
        for mode in self.picamera2.sensor_modes:
            modes.append({"size": tuple(mode["size"]), "fps": float(mode.get("fps", 0.0)),
                          "bit_depth": int(mode.get("bit_depth", 0)), "format": str(mode.get("format", "")),
                          "crop_limits": tuple(mode.get("crop_limits", ())),
                          "exposure_limits": tuple(mode.get("exposure_limits", ()))})
        return modes

    def select_sensor_mode(self, index: int) -> None:
        """Run the sensor in mode ``index`` of :meth:`sensor_modes` (restarts the camera if running).

        Raises:
            ControlError: no such mode.
        """
        modes = self.sensor_modes()
        if not 0 <= index < len(modes):
            raise ControlError(f"camera {self.name}: sensor mode {index}", f"use 0..{len(modes) - 1}")
        running = self.started
        if running:
            self.stop()
        self._sensor_mode = modes[index]
        self._configure()
        if running:
            self.start()

    # ---------------------------------------------------------------- controls

    def controls(self) -> dict[str, ControlRange]:
        out = {}
        for name, ctrl in sorted(self._table.items()):
            value = self._applied.get(name, ctrl.default)
            if ctrl.kind == "enum" and isinstance(value, int):
                value = ctrl.choices[value] if 0 <= value < len(ctrl.choices) else value
            out[name] = ctrl.to_range(value)
        return out

    def set_controls(self, **values: Any) -> None:
        """Set controls by Picamera2 name (or the aliases exposure_us, gain).

        Raises:
            ControlError: unknown control or value out of the camera's range.
        """
        checked = check_controls(values, self._table, self.name)
        try:
            self.picamera2.set_controls(checked)
        except RuntimeError as err:
            raise ControlError(f"camera {self.name}: libcamera rejected {checked} ({err})",
                               "check the control names against `camdeck cameras list --probe`") from None
        self._applied.update(checked)

    # ---------------------------------------------------------------- info

    def info(self) -> CameraInfo:
        caps = Capability.RGB | Capability.HW_ENCODER | Capability.WHITE_BALANCE
        if "LensPosition" in self.picamera2.camera_controls:
            caps |= Capability.FOCUS
        props = getattr(self.picamera2, "camera_properties", {}) or {}
        sensor_size = tuple(props.get("PixelArraySize") or getattr(self.picamera2, "sensor_resolution", self._size))
        return CameraInfo(
            name=self.name, driver="picamera2", model=self.spec.model, serial=None,
            sensor_size=sensor_size, output_size=self._size, pixel_format="BGR", capabilities=caps,
            extra={"camera_num": self._num, "sensor": self._camera_info.get("Model"),
                   "libcamera_id": self._camera_info.get("Id"), "preview_size": self.preview_size,
                   "sensor_mode": self._sensor_mode, "sensor_modes": self.sensor_modes()})

    # ---------------------------------------------------------------- frames

    @property
    def clock(self) -> Clock:
        """The clock frame timestamps use: the context's, else the OS's monotonic clock
        (it stamps the frames that carry no SensorTimestamp)."""
        return self._clock

    @property
    def dropped_frames(self) -> int:
        """Frames the sensor delivered that no capture received (from timestamp gaps)."""
        return self._dropped

    def _start(self) -> None:
        self.picamera2.start()
        self._seq = 0
        self._dropped = 0
        self._last_ts = None

    def _stop(self) -> None:
        self.stop_recording()
        self.picamera2.stop()

    def _close(self) -> None:
        try:
            self.picamera2.close()
        finally:
            with _LOCK:
                _OPEN.pop(self._num, None)

    def _default_timeout_s(self) -> float:
        duration_us = self._applied.get("FrameDurationLimits", (0, 0))[1] or self._applied.get("ExposureTime", 0)
        return 2 * duration_us / 1e6 + 1.0      # the first frame after start takes a few frame times

    def _grab(self, stream: str, timeout_s: float | None) -> tuple[np.ndarray, dict]:
        import concurrent.futures

        if self._closed:
            raise DriverError(f"camera {self.name} is closed", "open it again")
        self.start()
        wait = self._default_timeout_s() if timeout_s is None else max(0.001, float(timeout_s))
        try:
            request = self.picamera2.capture_request(wait=wait)
        except (TimeoutError, concurrent.futures.TimeoutError):
            raise CaptureTimeout(f"camera {self.name}: no frame within {wait:.2f} s",
                                 "check the ribbon cable and that no other program uses the camera; "
                                 "lower the resolution or FrameDurationLimits") from None
        try:
            array = request.make_array(stream)
            metadata = request.get_metadata()
        finally:
            request.release()
        return array, metadata

    def _sequence(self, metadata: Mapping[str, Any]) -> tuple[int, int]:
        ts = metadata.get("SensorTimestamp")
        ts = int(ts) if isinstance(ts, (int, float)) else self._clock()
        duration_ns = int(metadata.get("FrameDuration") or 0) * 1000
        gap = 0
        if self._last_ts is not None and duration_ns > 0:
            gap = max(0, int(round((ts - self._last_ts) / duration_ns)) - 1)
        self._last_ts = ts
        seq = self._seq + gap
        self._seq = seq + 1
        self._dropped += gap
        return seq, ts

    def _meta(self, metadata: Mapping[str, Any], fmt: str) -> dict[str, Any]:
        return {"format": fmt, "exposure_us": metadata.get("ExposureTime"), "gain": metadata.get("AnalogueGain"),
                "temperature_c": metadata.get("SensorTemperature"), "lens_position": metadata.get("LensPosition"),
                "colour_gains": metadata.get("ColourGains"), "frame_duration_us": metadata.get("FrameDuration"),
                "dropped_frames": self._dropped, "camera_num": self._num}

    def capture(self, timeout_s: float | None = None) -> Frame:
        """The next frame of the main stream: (H, W, 3) uint8 in BGR order (Picamera2's RGB888).

        Raises:
            CaptureTimeout: no frame in ``timeout_s`` (default 2 x frame duration + 1 s).
        """
        array, metadata = self._grab("main", timeout_s)
        seq, ts = self._sequence(metadata)
        return Frame(array=array, timestamp=ts, seq=seq, camera=self.name, meta=self._meta(metadata, "BGR"))

    def preview(self, timeout_s: float | None = None) -> Frame:
        """The next frame of the lores preview stream, converted to (h, w, 3) RGB (about 320 px wide)."""
        import cv2

        yuv, metadata = self._grab("lores", timeout_s)
        w, h = self.preview_size
        if yuv.shape[1] == w:
            rgb = cv2.cvtColor(np.ascontiguousarray(yuv[: h * 3 // 2]), cv2.COLOR_YUV2RGB_I420)
        else:   # padded rows: the chroma planes are strided too; a grey preview from luma is enough
            rgb = np.repeat(np.ascontiguousarray(yuv[:h, :w])[:, :, None], 3, axis=2)
        seq, ts = self._sequence(metadata)
        return Frame(array=rgb, timestamp=ts, seq=seq, camera=self.name, meta=self._meta(metadata, "RGB"))

    # ---------------------------------------------------------------- recording

    def start_recording(self, path: str | Path, *, pts_path: str | Path | None = None, bitrate: int | None = None,
                        iperiod: int = 30) -> None:
        """Record the main stream with the hardware H264Encoder to ``path`` (Annex-B).

        Args:
            path: the .h264 file.
            pts_path: a text file of per-frame timestamps (milliseconds, one per line), or None.
            bitrate: bits per second; None lets picamera2 choose from the resolution.
            iperiod: frames between keyframes (each keyframe repeats SPS/PPS).

        Raises:
            DriverError: already recording.
        """
        if self._recording is not None:
            raise DriverError(f"camera {self.name} is already recording", "stop the recording first")
        from picamera2.encoders import H264Encoder
        from picamera2.outputs import FileOutput

        encoder = H264Encoder(bitrate=bitrate, repeat=True, iperiod=iperiod)
        output = FileOutput(str(path), pts=None if pts_path is None else str(pts_path))
        self.start()
        self.picamera2.start_encoder(encoder, output, name="main")
        self._recording = (encoder, output)

    def stop_recording(self) -> None:
        """Stop the encoder and close its files (the camera keeps running). Idempotent."""
        if self._recording is None:
            return
        encoder, _ = self._recording
        self._recording = None
        self.picamera2.stop_encoder(encoder)

    @property
    def recording(self) -> bool:
        return self._recording is not None
