"""The ZWO ASI SDK through the ``zwoasi`` wrapper: find the library, load it, call it by CameraID.

zwoasi supplies the ctypes bindings (argument types, struct layouts, error table); this
module adds what camdeck needs around them:

- where the library is: ``$ZWO_ASI_LIB`` (a file, or the SDK's folder), else the standard
  locations, else the linker cache;
- the calls zwoasi does not bind (``ASIGetSerialNumber``, ``ASIGetSDKVersion``);
- calls keyed by the SDK's CameraID. zwoasi's ``Camera`` class takes the enumeration
  index and uses it as the CameraID, and its ROI setter looks the camera up by index;
  the two differ once a camera has been unplugged, so camdeck calls the per-ID functions;
- SDK error codes turned into one exception type, :class:`AsiCallError`, that the
  driver maps to the typed errors of drivers/errors.py.

Nothing here is imported by ``camdeck --help``; zwoasi is imported on first use.
"""
from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from camdeck.drivers.errors import DriverError, DriverUnavailable

ENV_VAR = "ZWO_ASI_LIB"
LIBRARY_FILE = "libASICamera2.dylib" if sys.platform == "darwin" else "libASICamera2.so"
SDK_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "armv8", "arm64": "armv8", "armv7l": "armv7",
            "armv6l": "armv6", "i686": "x86", "i386": "x86"}
STANDARD_DIRS = ("/usr/local/lib", "/usr/lib", "/usr/lib/aarch64-linux-gnu", "/usr/lib/arm-linux-gnueabihf",
                 "/usr/lib/x86_64-linux-gnu", "/opt/ASI_linux_mac_SDK/lib/{arch}", "/opt/zwo/lib/{arch}")

# SDK error codes (ASI_ERROR_CODE in ASICamera2.h).
INVALID_INDEX, INVALID_ID, INVALID_CONTROL_TYPE, CAMERA_CLOSED, CAMERA_REMOVED = 1, 2, 3, 4, 5
INVALID_SIZE, INVALID_IMGTYPE, OUTOF_BOUNDARY, TIMEOUT, INVALID_SEQUENCE = 8, 9, 10, 11, 12
BUFFER_TOO_SMALL, VIDEO_MODE_ACTIVE, GENERAL_ERROR = 13, 14, 16
ERROR_NAMES = {1: "invalid index", 2: "invalid ID", 3: "invalid control type", 4: "camera closed",
               5: "camera removed", 6: "invalid path", 7: "invalid file format", 8: "invalid size",
               9: "invalid image type", 10: "outside of boundary", 11: "timeout", 12: "invalid sequence",
               13: "buffer too small", 14: "video mode active", 15: "exposure in progress",
               16: "general error", 17: "invalid mode"}

# Image types and Bayer patterns (ASI_IMG_TYPE, ASI_BAYER_PATTERN).
IMG_RAW8, IMG_RGB24, IMG_RAW16, IMG_Y8 = 0, 1, 2, 3
BAYER = {0: "RGGB", 1: "BGGR", 2: "GRBG", 3: "GBRG"}

INSTALL_FIX = (f"install the ZWO ASI SDK for Linux: copy lib/<arch>/libASICamera2.so* to /usr/local/lib and run "
               f"'sudo ldconfig', or set {ENV_VAR}=/path/to/libASICamera2.so (README, Hardware)")


class AsiCallError(DriverError):
    """An SDK call returned an error code; the driver turns it into a typed error.

    Attributes:
        code: the ASI_ERROR_CODE (-1 when the wrapper failed without one).
        call: the SDK function that failed.
    """

    def __init__(self, code: int, call: str) -> None:
        self.code = code
        self.call = call
        super().__init__(f"{call} failed: {ERROR_NAMES.get(code, f'error {code}')}",
                         "run `camdeck doctor` to check the SDK, the udev rule and the USB link")


@dataclass(frozen=True)
class LibraryLocation:
    """Where the SDK library was found, and by which rule ("ZWO_ASI_LIB", "standard location", "ldconfig")."""

    path: Path
    source: str


@dataclass(frozen=True)
class AsiDevice:
    """One camera the SDK enumerates."""

    index: int
    camera_id: int
    name: str
    serial: str | None          # 16 hex digits of ASIGetSerialNumber, None if the camera has none
    flash_id: str               # the 8-character ID written with ASISetID ("" if unset)
    usb3_host: bool
    usb3_camera: bool
    in_use: bool                # opened by this process (so not re-opened to read it)


def sdk_arch() -> str:
    """The SDK's folder name for this machine's architecture (x64, armv8, armv7, ...)."""
    machine = platform.machine().lower()
    return SDK_ARCH.get(machine, machine)


def locate_library(env: Mapping[str, str] | None = None,
                   search_dirs: tuple[str, ...] | None = None) -> LibraryLocation:
    """Find libASICamera2: ``$ZWO_ASI_LIB``, else the standard folders, else the linker cache.

    Args:
        env: environment to read (default ``os.environ``).
        search_dirs: folders to try (default STANDARD_DIRS; ``{arch}`` is the SDK's arch name).

    Raises:
        DriverUnavailable: ``$ZWO_ASI_LIB`` names nothing, or the library is nowhere.
    """
    env = os.environ if env is None else env
    value = env.get(ENV_VAR, "").strip()
    if value:
        path = Path(value).expanduser()
        if path.is_dir():
            for candidate in (path / LIBRARY_FILE, path / "lib" / sdk_arch() / LIBRARY_FILE):
                if candidate.is_file():
                    return LibraryLocation(candidate, ENV_VAR)
            raise DriverUnavailable(f"{ENV_VAR}={value}: no {LIBRARY_FILE} in that folder",
                                    f"point {ENV_VAR} at the SDK's lib/{sdk_arch()}/{LIBRARY_FILE}, or unset it")
        if not path.is_file():
            raise DriverUnavailable(f"{ENV_VAR}={value}: no such file",
                                    f"point {ENV_VAR} at {LIBRARY_FILE} from the ASI SDK, or unset it")
        return LibraryLocation(path, ENV_VAR)
    for folder in STANDARD_DIRS if search_dirs is None else search_dirs:
        candidate = Path(folder.format(arch=sdk_arch())) / LIBRARY_FILE
        if candidate.is_file():
            return LibraryLocation(candidate, "standard location")
    if search_dirs is None:
        from ctypes.util import find_library
        found = find_library("ASICamera2")
        if found:
            return LibraryLocation(Path(found), "ldconfig")
    raise DriverUnavailable(f"the ZWO ASI SDK library ({LIBRARY_FILE}) is not installed", INSTALL_FIX)


def import_zwoasi():
    """Import zwoasi without its import-time side effects on logging.

    zwoasi tries to load the SDK when imported and, failing, calls ``logging.warning``,
    which would install a root handler; camdeck reports a missing SDK itself.

    Raises:
        DriverUnavailable: the zwoasi package is not installed.
    """
    if "zwoasi" in sys.modules:
        return sys.modules["zwoasi"]
    root = logging.getLogger()
    guard = logging.NullHandler()
    quiet = _DropMessage("ASI SDK library not found")
    root.addHandler(guard)
    root.addFilter(quiet)
    try:
        import zwoasi
    except ImportError:
        raise DriverUnavailable("the zwoasi Python package is not installed",
                                "pip install 'zwoasi>=0.2' (it is one of camdeck's dependencies)") from None
    finally:
        root.removeFilter(quiet)
        root.removeHandler(guard)
    return zwoasi


class _DropMessage(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self.text


class AsiSdk:
    """The loaded SDK. Every method takes the SDK's CameraID and raises AsiCallError on failure."""

    def __init__(self, zwoasi, location: LibraryLocation) -> None:
        self.zwoasi = zwoasi
        self.location = location
        lib = zwoasi.zwolib
        self._serial_fn = getattr(lib, "ASIGetSerialNumber", None)
        if self._serial_fn is not None:
            self._serial_fn.argtypes = [ctypes.c_int, ctypes.POINTER(zwoasi._ASI_ID)]
            self._serial_fn.restype = ctypes.c_int
        self._version_fn = getattr(lib, "ASIGetSDKVersion", None)
        if self._version_fn is not None:
            self._version_fn.argtypes = []
            self._version_fn.restype = ctypes.c_char_p

    @property
    def path(self) -> Path:
        return self.location.path

    def _call(self, name: str, fn, *args):
        try:
            return fn(*args)
        except self.zwoasi.ZWO_IOError as err:
            raise AsiCallError(getattr(err, "error_code", None) or -1, name) from None
        except IndexError:  # an error code newer than zwoasi's table
            raise AsiCallError(-1, name) from None

    def _direct(self, name: str, *args) -> None:
        code = getattr(self.zwoasi.zwolib, name)(*args)
        if code:
            raise AsiCallError(code, name)

    # ---- enumeration and identity
    def count(self) -> int:
        return int(self.zwoasi.zwolib.ASIGetNumOfConnectedCameras())

    def property(self, index: int) -> dict[str, Any]:
        return self._call("ASIGetCameraProperty", self.zwoasi._get_camera_property, index)

    def serial(self, camera_id: int) -> str | None:
        """The serial number as 16 upper-case hex digits; None if the SDK or camera has none."""
        if self._serial_fn is None:
            return None
        sn = self.zwoasi._ASI_ID()
        code = self._serial_fn(camera_id, ctypes.byref(sn))
        if code == GENERAL_ERROR:
            return None
        if code:
            raise AsiCallError(code, "ASIGetSerialNumber")
        return bytes(sn).hex().upper()       # all 8 bytes: `sn.id` would stop at a zero byte

    def flash_id(self, camera_id: int) -> str:
        try:
            raw = self._call("ASIGetID", self.zwoasi._get_id, camera_id)
        except UnicodeDecodeError:   # an ID that is not text
            return ""
        return raw.split("\x00", 1)[0].strip() if isinstance(raw, str) else ""

    def sdk_version(self) -> str:
        if self._version_fn is None:
            return "unknown"
        value = self._version_fn()
        return value.decode(errors="replace") if value else "unknown"

    # ---- open / close
    def open(self, camera_id: int) -> None:
        self._call("ASIOpenCamera", self.zwoasi._open_camera, camera_id)

    def init(self, camera_id: int) -> None:
        self._call("ASIInitCamera", self.zwoasi._init_camera, camera_id)

    def close(self, camera_id: int) -> None:
        self._call("ASICloseCamera", self.zwoasi._close_camera, camera_id)

    # ---- controls
    def control_caps(self, camera_id: int) -> dict[str, dict[str, Any]]:
        """Control name (the SDK's, e.g. "Gain") -> caps dict (MinValue, MaxValue, ControlType, ...)."""
        n = self._call("ASIGetNumOfControls", self.zwoasi._get_num_controls, camera_id)
        caps = {}
        for i in range(n):
            d = self._call("ASIGetControlCaps", self.zwoasi._get_control_caps, camera_id, i)
            caps[d["Name"]] = d
        return caps

    def get_control(self, camera_id: int, control_type: int) -> tuple[int, bool]:
        value, auto = self._call("ASIGetControlValue", self.zwoasi._get_control_value, camera_id, control_type)
        return int(value), bool(auto)

    def set_control(self, camera_id: int, control_type: int, value: int, auto: bool = False) -> None:
        self._call("ASISetControlValue", self.zwoasi._set_control_value, camera_id, control_type, int(value),
                   bool(auto))

    # ---- ROI
    def roi_format(self, camera_id: int) -> tuple[int, int, int, int]:
        w, h, b, t = self._call("ASIGetROIFormat", self.zwoasi._get_roi_format, camera_id)
        return int(w), int(h), int(b), int(t)

    def set_roi_format(self, camera_id: int, width: int, height: int, bin_: int, img_type: int) -> None:
        # Not zwoasi._set_roi_format: it reads the camera's property by index, not by ID.
        self._direct("ASISetROIFormat", camera_id, width, height, bin_, img_type)

    def start_pos(self, camera_id: int) -> tuple[int, int]:
        x, y = self._call("ASIGetStartPos", self.zwoasi._get_start_position, camera_id)
        return int(x), int(y)

    def set_start_pos(self, camera_id: int, x: int, y: int) -> None:
        self._direct("ASISetStartPos", camera_id, x, y)

    # ---- video
    def start_video(self, camera_id: int) -> None:
        self._call("ASIStartVideoCapture", self.zwoasi._start_video_capture, camera_id)

    def stop_video(self, camera_id: int) -> None:
        self._call("ASIStopVideoCapture", self.zwoasi._stop_video_capture, camera_id)

    def video_data(self, camera_id: int, buffer: bytearray, timeout_ms: int) -> None:
        """Fill ``buffer`` with the next frame, waiting at most ``timeout_ms``."""
        self._call("ASIGetVideoData", self.zwoasi._get_video_data, camera_id, int(timeout_ms), buffer)

    def dropped_frames(self, camera_id: int) -> int:
        return int(self._call("ASIGetDroppedFrames", self.zwoasi._get_dropped_frames, camera_id))


_LOCK = threading.RLock()
_SDK: AsiSdk | None = None
_IN_USE: dict[int, str | None] = {}     # CameraID -> serial, for cameras this process holds open


def load_sdk(env: Mapping[str, str] | None = None) -> AsiSdk:
    """The SDK, loaded through zwoasi from where :func:`locate_library` finds it.

    Raises:
        DriverUnavailable: zwoasi or the library is missing, or the file is not a
            loadable ASI SDK for this machine.
    """
    global _SDK
    location = locate_library(env)
    with _LOCK:
        if _SDK is not None and _SDK.path == location.path and _SDK.zwoasi.zwolib is not None:
            return _SDK
        zwoasi = import_zwoasi()
        zwoasi.zwolib = None        # zwoasi loads one library per process; (re)load the one found
        try:
            zwoasi.init(str(location.path))
        except OSError as err:
            zwoasi.zwolib = None
            raise DriverUnavailable(f"cannot load {location.path} ({err})",
                                    f"use the SDK's lib/{sdk_arch()}/{LIBRARY_FILE} built for this machine; "
                                    + INSTALL_FIX) from None
        except AttributeError as err:
            zwoasi.zwolib = None
            raise DriverUnavailable(f"{location.path} is not the ZWO ASI SDK ({err})", INSTALL_FIX) from None
        _SDK = AsiSdk(zwoasi, location)
        return _SDK


def claim(camera_id: int, serial: str | None) -> None:
    """Record that this process holds ``camera_id`` open (so enumeration leaves it alone)."""
    with _LOCK:
        _IN_USE[camera_id] = serial


def release(camera_id: int) -> None:
    with _LOCK:
        _IN_USE.pop(camera_id, None)


def list_devices(sdk: AsiSdk) -> list[AsiDevice]:
    """Every camera the SDK sees, with its serial number.

    Reading a serial needs the camera open: each camera not already held by this
    process is opened and closed again; one held here is reported from the record.
    """
    devices = []
    with _LOCK:
        for index in range(sdk.count()):
            try:
                prop = sdk.property(index)
            except AsiCallError:
                continue        # unplugged between count and property
            cid = int(prop["CameraID"])
            serial: str | None = None
            flash = ""
            in_use = cid in _IN_USE
            if in_use:
                serial = _IN_USE[cid]
            else:
                try:
                    sdk.open(cid)
                    try:
                        serial = sdk.serial(cid)
                        flash = sdk.flash_id(cid)
                    finally:
                        sdk.close(cid)
                except AsiCallError:
                    pass
            devices.append(AsiDevice(index=index, camera_id=cid, name=str(prop["Name"]), serial=serial,
                                     flash_id=flash, usb3_host=bool(prop.get("IsUSB3Host")),
                                     usb3_camera=bool(prop.get("IsUSB3Camera")), in_use=in_use))
    return devices


def normalize_serial(text: str) -> str:
    """Serials compare without case, spaces, colons or dashes."""
    return "".join(ch for ch in text.upper() if ch not in " :-")
