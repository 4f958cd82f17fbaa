"""Core driver types: Frame, the Camera and PtzCamera protocols, capability flags, specs.

Drivers are synchronous and blocking. The TUI calls them only from thread workers;
the CLI calls them directly.
"""
from __future__ import annotations

import enum
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np


class Capability(enum.Flag):
    """What a camera can do; tabs and commands check these instead of driver names."""

    NONE = 0
    RAW_BAYER = enum.auto()      # frames are HxW RGGB mosaics
    RGB = enum.auto()            # frames are HxWx3 processed colour
    ROI = enum.auto()            # region of interest can be set
    BINNING = enum.auto()
    HIGH_SPEED = enum.auto()     # ASI high-speed (10-bit ADC) mode
    TEMPERATURE = enum.auto()    # reports sensor temperature
    WHITE_BALANCE = enum.auto()  # manual white balance
    FOCUS = enum.auto()          # LensPosition / autofocus
    HW_ENCODER = enum.auto()     # on-board H.264 encoder (Pi)
    PTZ = enum.auto()
    PRESETS = enum.auto()
    SNAPSHOT = enum.auto()       # still frames over HTTP
    TELEMETRY = enum.auto()      # publishes position telemetry


@dataclass(frozen=True)
class Frame:
    """One frame from a camera.

    Attributes:
        array: (H, W) raw Bayer, or (H, W, 3) colour; ``meta["format"]`` says which
            ("RAW8_RGGB", "RAW16_RGGB", "RGB", "BGR"), and the dtype is the array's.
        timestamp: monotonic nanoseconds from the driver (sensor start of exposure).
        seq: frame counter since ``start()``; gaps mean dropped frames.
        camera: the camera's configured name.
        meta: whatever the driver reports: exposure_us, gain, temperature_c, ...
    """

    array: np.ndarray
    timestamp: int
    seq: int
    camera: str
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return str(self.meta.get("format", "RGB" if self.array.ndim == 3 else "RAW8_RGGB"))


@dataclass(frozen=True)
class ControlRange:
    """One camera control: its limits, default and current value.

    ``kind`` is the control table's kind ("int", "float", "bool", "enum", "pair", "rect",
    "rects"; "" where a driver does not know it) and ``choices`` an enum's value names
    (drivers/controls.py), so a form can offer the right widget.
    """

    name: str
    min: Any
    max: Any
    default: Any
    value: Any
    unit: str = ""
    writable: bool = True
    description: str = ""
    kind: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CameraInfo:
    """Static facts about an opened camera."""

    name: str
    driver: str
    model: str
    serial: str | None
    sensor_size: tuple[int, int]          # (width, height) of the full sensor, px
    output_size: tuple[int, int]          # (width, height) of delivered frames, px
    pixel_format: str                     # "RAW8_RGGB", "RGB", ...
    capabilities: Capability
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraSpec:
    """A camera entry of config.toml, validated. Drivers receive this, never raw TOML.

    ``options`` holds the driver-specific keys (already type-checked by the config
    loader): sim pose and faults, ONVIF host/port/credentials and ranges, and so on.
    """

    name: str
    driver: str                            # "sim" | "zwoasi" | "picamera2" | "onvif"
    model: str                             # "ASI662MC" | "IMX219" | "IMX708" | "PTZ" | ...
    label: str = ""
    serial: str | None = None
    resolution: tuple[int, int] | None = None
    controls: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """"asi", "picam" or "ptz": the family the model belongs to."""
        return camera_kind(self.model, self.driver)


@dataclass(frozen=True)
class RigSpec:
    """A rig of config.toml: which cameras work together, and how."""

    name: str
    type: str                              # "stereo" | "recorder" | "capture"
    cameras: tuple[str, ...]
    options: Mapping[str, Any] = field(default_factory=dict)


ASI_MODELS = {"ASI662MC"}
PICAM_MODELS = {"IMX219", "IMX708", "IMX477", "IMX296"}


def camera_kind(model: str, driver: str) -> str:
    """Family of a camera model: "asi", "picam" or "ptz"."""
    if driver == "onvif" or model.upper().startswith("PTZ"):
        return "ptz"
    if model.upper() in ASI_MODELS or driver == "zwoasi":
        return "asi"
    return "picam"


#: A clock: monotonic nanoseconds now. A simulated clock also has ``sleep(seconds)``, which
#: sleeps in its own time (drivers/sim/clock.py), so a session can wait on it.
Clock = Callable[[], int]


@runtime_checkable
class Camera(Protocol):
    """A camera, real or simulated. Blocking calls; use as a context manager.

    Every driver (through CameraBase) also reports ``clock``: the Clock its
    ``Frame.timestamp`` values come from, so a job can time itself on the cameras' own
    time base (read it with :func:`camera_clock`).
    """

    name: str

    @property
    def dropped_frames(self) -> int: ...

    def info(self) -> CameraInfo: ...

    def controls(self) -> dict[str, ControlRange]: ...

    def set_controls(self, **values: Any) -> None: ...

    def start(self) -> None: ...

    def capture(self, timeout_s: float | None = None) -> Frame: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> "Camera": ...

    def __exit__(self, *exc: object) -> None: ...


@dataclass(frozen=True)
class TelemetryFeed:
    """How a PTZ camera's position telemetry is reached; the camera says, so no consumer asks
    which driver it is. A sample is JSON: pan_deg, tilt_deg, zoom, moving, timestamp (unix s).

    Attributes:
        kind: "in-process": ``subscribe`` delivers the samples in this process (no broker);
            "mqtt": the camera publishes them on ``topic`` to the [mqtt] broker;
            "none": it publishes nothing (poll ``position()`` instead).
        topic: where the samples go ("" for "none").
        subscribe: for "in-process", ``subscribe(callback)`` calls ``callback(payload: bytes)``
            for every sample and returns the unsubscribe; None otherwise.
    """

    kind: str
    topic: str = ""
    subscribe: Callable[[Callable[[bytes], None]], Callable[[], None]] | None = None


@runtime_checkable
class PtzCamera(Camera, Protocol):
    """A pan/tilt/zoom camera. Angles in degrees, zoom in [0, 1]."""

    def move_absolute(self, pan_deg: float, tilt_deg: float, zoom: float | None = None,
                      *, wait: bool = True, timeout_s: float = 30.0, stop: threading.Event | None = None) -> None: ...

    def position(self) -> tuple[float, float, float]: ...

    def presets(self) -> dict[str, tuple[float, float, float]]: ...

    def goto_preset(self, name: str, *, wait: bool = True, timeout_s: float = 30.0) -> None: ...

    def stop_motion(self) -> None: ...

    def telemetry_feed(self) -> TelemetryFeed: ...


class CameraBase:
    """Shared plumbing: context management and the started/closed state.

    Subclasses implement ``_start``, ``_stop``, ``_close`` (and the Camera methods).
    """

    name: str

    def __init__(self, name: str) -> None:
        self.name = name
        self._started = False
        self._closed = False

    @property
    def started(self) -> bool:
        return self._started

    @property
    def clock(self) -> Clock:
        """The clock ``Frame.timestamp`` uses; drivers that stamp with another clock override this."""
        return time.monotonic_ns

    def start(self) -> None:
        if not self._started:
            self._start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self._started = False
            self._stop()

    def close(self) -> None:
        if not self._closed:
            self.stop()
            self._closed = True
            self._close()

    def _start(self) -> None:  # pragma: no cover - overridden
        pass

    def _stop(self) -> None:  # pragma: no cover - overridden
        pass

    def _close(self) -> None:  # pragma: no cover - overridden
        pass

    def calibration_target(self, board: Any, others: "tuple[Any, ...]" = ()) -> "CalibrationTarget | None":
        """A chessboard this camera can move by itself between views, or None: a real board is
        moved by the operator (see :func:`calibration_target`). Simulated cameras override it.

        Args:
            board: the calibration board (calibration.chessboard.Board).
            others: the other cameras that must see the board too (a stereo pair's right camera).
        """
        return None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@runtime_checkable
class CalibrationTarget(Protocol):
    """A chessboard in front of one or more cameras, and who moves it between views.

    ``moves_itself``: True when each ``next_views`` shows the board at a new pose with nobody
    touching it (the simulator's board); False when the operator moves it, so a capture job
    waits for them (a key, or a fixed interval) before each view.
    """

    moves_itself: bool

    def next_views(self, timeout_s: float | None = None) -> "list[Frame]":
        """One frame per camera, in the order the cameras were given, with the board wherever it is now."""
        ...


class OperatorHeldTarget:
    """A real board held by the operator: each view is a plain capture of whatever the cameras see.

    Args:
        capture: ``capture(timeout_s) -> [Frame, ...]``, one frame per camera (a stereo rig passes
            its synchronised pair's capture).
    """

    moves_itself = False

    def __init__(self, capture: Callable[[float | None], "list[Frame]"]) -> None:
        self._capture = capture

    def next_views(self, timeout_s: float | None = None) -> "list[Frame]":
        return list(self._capture(timeout_s))


def calibration_target(cameras: "list[Any]", board: Any,
                       capture: Callable[[float | None], "list[Frame]"]) -> CalibrationTarget:
    """The calibration target for ``cameras``: the first camera's own (a simulated camera poses a
    virtual board itself), else an operator-held board captured with ``capture``.

    Callers never ask which kind of camera they hold; they read ``moves_itself`` to know whether
    to wait for the operator between views.
    """
    own = getattr(cameras[0], "calibration_target", None)
    target = own(board, tuple(cameras[1:])) if callable(own) else None
    return target if target is not None else OperatorHeldTarget(capture)


def camera_clock(camera: Any) -> Clock:
    """The clock ``camera`` stamps frames with: its ``clock`` (CameraBase gives every driver
    one; a simulated camera's runs ``time_factor`` times faster), else the OS's monotonic clock."""
    clock = getattr(camera, "clock", None)
    return clock if callable(clock) else time.monotonic_ns


class PtzControls:
    """Camera-protocol controls of a PTZ camera, in terms of its head position.

    ``controls()`` reports pan_deg / tilt_deg / zoom with the configured ranges, and
    ``set_controls`` drives the head there. Needs ``name``, ``pan_range`` and ``tilt_range``
    (degrees), ``position()`` and ``move_absolute()``. Still frames from a snapshot URI or
    a render are never dropped, so ``dropped_frames`` is 0.
    """

    name: str
    pan_range: tuple[float, float]
    tilt_range: tuple[float, float]

    def controls(self) -> dict[str, ControlRange]:
        pan, tilt, zoom = self.position()  # type: ignore[attr-defined]
        return {"pan_deg": ControlRange("pan_deg", *self.pan_range, 0.0, pan, "deg"),
                "tilt_deg": ControlRange("tilt_deg", *self.tilt_range, 0.0, tilt, "deg"),
                "zoom": ControlRange("zoom", 0.0, 1.0, 0.0, zoom)}

    def set_controls(self, **values: Any) -> None:
        from camdeck.drivers.errors import ControlError

        unknown = set(values) - {"pan_deg", "tilt_deg", "zoom"}
        if unknown:
            raise ControlError(f"{self.name}: unknown control(s) {', '.join(sorted(unknown))}",
                               "use pan_deg, tilt_deg or zoom")
        pan, tilt, zoom = self.position()  # type: ignore[attr-defined]
        self.move_absolute(values.get("pan_deg", pan), values.get("tilt_deg", tilt),  # type: ignore[attr-defined]
                           values.get("zoom", zoom))

    @property
    def dropped_frames(self) -> int:
        return 0


class Secret:
    """A password or token. It prints as '***' so it never reaches a log, error or JSON."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def secret_from(value: str | None, env: str | None) -> Secret:
    """A secret given inline, or read from the environment variable ``env`` at use."""
    if env:
        return Secret(os.environ.get(env, ""))
    return Secret(value or "")
