"""Shared machinery of the simulated cameras: the Camera protocol over the sensor's frame
schedule and faults (:mod:`drivers.sim.frame_schedule`, which also states the timing model),
capture timeouts, ground truth, the per-setting frame states and the render cache.

Subclasses (asi.py, picam.py) describe controls, timing and the image pipeline through the
``_`` hooks at the end of the class.
"""
from __future__ import annotations

import abc
import threading
from collections import OrderedDict
from typing import Any, Hashable, Mapping

import numpy as np

from camdeck.drivers.base import CameraBase, CameraInfo, CameraSpec, Capability, Clock, ControlRange, Frame
from camdeck.drivers.errors import CaptureTimeout, ControlError
from camdeck.drivers.sim.clock import clock_for
from camdeck.drivers.controls import ControlDef, check_names, coerce
from camdeck.drivers.sim.controls import not_simulated
from camdeck.drivers.sim.frame_schedule import CaptureFaults, FrameSchedule
from camdeck.drivers.sim.placement import SimTruth, camera_pose
from camdeck.drivers.sim.scene import Render, Scene, lab_scene
from camdeck.drivers.sim.sensor import NoiseBank, SensorSpec, ThermalModel

IDLE_RELEASE_S = 10.0   # a stopped camera keeps its frame states this long (see _schedule_idle_release)

_RENDERS: OrderedDict[Hashable, Render] = OrderedDict()
_RENDERS_LOCK = threading.Lock()
# A render holds about 34 MB at 1920x1080 (25 MB until something reads its depth and mask:
# a simulated ASI never does), 15 MB at 1280x720, ~200 MB in a full-resolution Pi mode. The
# console keeps them for its whole life, so the cache is bounded by bytes too: 72 MiB holds a
# stereo pair plus two 1280x720 Pi cameras, so the cameras a recording or a reconstruction
# starts rarely wait for a render (a camera started without one delivers its first frame a
# second or so late), while the rest of the rig's renders are let go. The cache fills to its
# bound, so leaving depth out would only have let it keep more renders: the bound came down
# with them, from 96 MiB.
RENDER_CACHE_SIZE = 4
RENDER_CACHE_BYTES = 72 * 2**20


def _render_bytes(render: Render) -> int:
    return render.nbytes          # depth and object mask count once something read them


def cached_render(scene: Scene, K: np.ndarray, R: np.ndarray, t: np.ndarray, size: tuple[int, int]) -> Render:
    """``scene.render(K, R, t, size)``, remembered process-wide: reopening a camera, or a second
    camera at the same pose, costs nothing (a full-HD render takes a second or two).
    The arrays are read-only."""
    key = (scene, *(np.round(np.asarray(a, np.float64), 9).tobytes() for a in (K, R, t)), tuple(size))
    with _RENDERS_LOCK:
        render = _RENDERS.get(key)
        if render is not None:
            _RENDERS.move_to_end(key)
            return render
    # Lazy: an ASI camera never reads depth and mask; a Pi camera's focus or a calibration does.
    render = scene.render(K, R, t, size, lazy=True)
    render.rgb.flags.writeable = False          # shared ground truth: copy before changing
    with _RENDERS_LOCK:
        _RENDERS[key] = render
        total = sum(_render_bytes(r) for r in _RENDERS.values())
        while len(_RENDERS) > RENDER_CACHE_SIZE or (len(_RENDERS) > 1 and total > RENDER_CACHE_BYTES):
            total -= _render_bytes(_RENDERS.popitem(last=False)[1])   # the newest always stays
    return render


def crop_scale_K(K_full: np.ndarray, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
    """Intrinsics after cropping the sensor at (x0, y0) sensor px and scaling by (sx, sy)
    output px per sensor px (binning: 1 / bin). Pixel centres stay at integer coordinates."""
    K = np.array(K_full, dtype=np.float64)
    return np.array([[K[0, 0] * sx, K[0, 1] * sx, (K[0, 2] - x0 + 0.5) * sx - 0.5],
                     [0.0, K[1, 1] * sy, (K[1, 2] - y0 + 0.5) * sy - 0.5],
                     [0.0, 0.0, 1.0]])


class SimCamera(CameraBase, abc.ABC):
    """Base of the simulated cameras (not used directly).

    Args:
        spec: the validated config entry.
        ctx: the DriverContext (seed, time factor, clock, rigs).
        sensor: the simulated sensor.
    """

    driver = "sim"

    def __init__(self, spec: CameraSpec, ctx: Any, sensor: SensorSpec) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.sensor = sensor
        self._clock = clock_for(ctx.clock, ctx.time_factor)
        self._seed = ctx.seed
        self.scene: Scene = lab_scene(ctx.seed if ctx.seed is not None else 0)
        self._R, self._t = camera_pose(spec, ctx.rigs)
        self._lock = threading.RLock()
        self._table: dict[str, ControlDef] = self._control_table()
        self._values: dict[str, Any] = {n: c.default for n, c in self._table.items() if c.writable}
        self._noise = NoiseBank(ctx.seed, spec.serial or spec.name)
        self._thermal = ThermalModel(sensor, self._clock())
        self._schedule = FrameSchedule()
        self._faults = CaptureFaults(spec.name, spec.options)
        self._states: OrderedDict[tuple, Any] = OrderedDict()
        self._idle_timer: threading.Timer | None = None

    # ---------------------------------------------------------------- Camera protocol
    @property
    def clock(self) -> Clock:
        """The clock frame timestamps use: the simulated clock (the context's, else the shared one running ``time_factor`` times faster)."""
        return self._clock

    @property
    def dropped_frames(self) -> int:
        """Frames the sensor produced but nobody read before the buffer overwrote them (since start)."""
        return self._schedule.dropped

    def info(self) -> CameraInfo:
        self._check_plugged()
        settings = self._settings()
        _, size = self._geometry(settings)
        info = CameraInfo(name=self.name, driver=self.driver, model=self.sensor.model,
                          serial=self.spec.serial, sensor_size=self.sensor.sensor_size, output_size=size,
                          pixel_format=self._pixel_format(settings), capabilities=self._capabilities(),
                          extra={"simulated": True, "label": self.spec.label,
                                 "pixel_um": self.sensor.pixel_um, "hfov_deg": self.sensor.hfov_deg,
                                 "frame_period_us": self._frame_period_ns(settings) / 1000.0})
        self._schedule_idle_release()
        return info

    def controls(self) -> dict[str, ControlRange]:
        """Every control with its limits, default and current value."""
        self._check_plugged()
        settings = self._settings()
        try:
            return {n: c.to_range(self._current_value(n, settings)) for n, c in self._table.items()}
        finally:
            self._schedule_idle_release()

    def set_controls(self, **values: Any) -> None:
        """Set controls by name; all or nothing.

        Raises:
            ControlError: unknown name, wrong type or out of range (nothing is changed).
            CameraDisconnected: the camera was unplugged.
        """
        self._check_plugged()
        if not values:
            return
        check_names(self.name, self._table, values)
        coerced = {n: coerce(self.name, self._table[n], v) for n, v in values.items()}
        with self._lock:
            new = dict(self._values)
            new.update(self._adjust(coerced, new))
            self._validate(new)
            self._commit(new)

    def capture(self, timeout_s: float | None = None) -> Frame:
        """The next frame (starting the camera if needed), waiting up to ``timeout_s`` of camera
        time (default: 2 x exposure + 0.5 s).

        Raises:
            CaptureTimeout: no frame within the timeout (or an injected timeout fault).
            CameraDisconnected: the camera was unplugged (fault injection).
        """
        self._check_plugged()
        with self._lock:
            if not self._started:
                self.start()
            settings = self._settings()
            timeout = float(timeout_s) if timeout_s is not None else 2e-6 * self._exposure_us(settings) + 0.5
            if self._faults.on_capture():
                self._clock.sleep(timeout)
                raise CaptureTimeout(f"camera {self.name!r}: no frame within {timeout:.3g} s (injected fault)",
                                     "retry the capture; check the cable and the camera's power")
            deadline = self._clock() + int(timeout * 1e9)
        while True:
            with self._lock:
                if not self._started:
                    raise CaptureTimeout(f"camera {self.name!r} was stopped while waiting for a frame",
                                         "start() the camera before capturing")
                now = self._clock()
                seq = self._schedule.take(now)
                if seq is not None:
                    self._faults.delivered += 1
                    return self._make_frame(seq)
                ready_ns = self._schedule.available_ns(self._schedule.next_seq)
            if ready_ns > deadline:
                self._clock.sleep(max(0, deadline - now) / 1e9)
                raise CaptureTimeout(f"camera {self.name!r}: no frame within {timeout:.3g} s "
                                     f"(next frame due in {(ready_ns - now) / 1e9:.3g} s)",
                                     "pass a longer timeout_s, or shorten the exposure")
            self._clock.sleep(max(ready_ns - now, 1000) / 1e9)

    # ---------------------------------------------------------------- extras
    @property
    def truth(self) -> SimTruth:
        """True K, dist, R, t, image size (and scene) of the current output geometry."""
        K, size = self._geometry(self._settings())
        return SimTruth(K=K, dist=np.zeros(5), R=self._R.copy(), t=self._t.copy(), image_size=size, scene=self.scene)

    def render_truth(self) -> Render:
        """The noise-free render (radiance, depth, object mask) of the current view (read-only arrays)."""
        K, size = self._geometry(self._settings())
        return self._render(K, size)

    def sensor_image(self, render: Render, seq: int = 0) -> np.ndarray:
        """Push a radiance Render of this camera's output size (the scene with a chessboard in it,
        say) through the current sensor model: the array a frame numbered ``seq`` would carry.

        Raises:
            ValueError: the render's size is not the camera's output size.
        """
        _, size = self._geometry(self._settings())
        if render.rgb.shape[:2] != (size[1], size[0]):
            raise ValueError(f"render is {render.rgb.shape[1]}x{render.rgb.shape[0]} px but camera "
                             f"{self.name!r} delivers {size[0]}x{size[1]}; render at truth.image_size")
        with self._lock:
            return self._produce(self._build_state(dict(self._settings()), render), seq)

    def calibration_target(self, board: Any, others: tuple = ()) -> Any:
        """The simulator's chessboard, which moves to a new pose by itself for every view
        (drivers.sim.targets.ChessboardTarget), wholly visible in this camera and ``others``.
        None when another camera is not simulated: then the operator moves a real board.

        Raises:
            ValueError: no pose shows the board in every camera (they share no view).
        """
        if not all(hasattr(cam, "render_truth") and hasattr(cam, "truth") for cam in others):
            return None
        from camdeck.drivers.sim.targets import ChessboardTarget

        return ChessboardTarget(board, [self, *others], seed=self._seed if self._seed is not None else 0)

    def now_ns(self) -> int:
        """The camera's clock (the time base of frame timestamps), ns."""
        return self._clock()

    @property
    def frame_period_s(self) -> float:
        """Current time between frames, seconds."""
        return self._frame_period_ns(self._settings()) / 1e9

    @property
    def temperature_c(self) -> float:
        return self._thermal.temperature_c(self._clock())

    def inject_fault(self, kind: str | None) -> None:
        """"timeout": every capture times out until cleared; "disconnect": unplugged now (every
        later call raises CameraDisconnected until reopened); None: clear the timeout fault."""
        with self._lock:
            self._faults.inject(kind)

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._check_plugged()
        super().start()

    def _start(self) -> None:
        self._cancel_idle_release()
        with self._lock:
            now = self._clock()
            settings = self._settings()
            self._state(settings)   # render before the clock starts, so frame 0 is not late
            now = max(now, self._clock())
            self._schedule.start(now, self._frame_period_ns(settings), settings)
            self._thermal.set_running(True, now)

    def _stop(self) -> None:
        with self._lock:
            self._schedule.stop()
            self._thermal.set_running(False, self._clock())
        self._schedule_idle_release()

    def _close(self) -> None:
        self._cancel_idle_release()
        self._states.clear()
        self._noise.release()

    # ---------------------------------------------------------------- internals
    def _check_plugged(self) -> None:
        self._faults.check_plugged()

    def _settings(self) -> tuple:
        return tuple(sorted(self._values.items()))

    def _commit(self, new: dict[str, Any]) -> None:
        self._values = new
        if not self._started or not self._schedule.running:
            return
        now = self._clock()
        settings = self._settings()
        self._schedule.change(now, self._frame_period_ns(settings), settings)

    def _make_frame(self, seq: int) -> Frame:
        seg = self._schedule.segment_of(seq)
        timestamp = self._schedule.exposure_start_ns(seq)
        state = self._state(seg.settings)
        array = self._produce(state, seq)
        values = dict(seg.settings)
        meta = dict(self._frame_meta(values, state))
        unsimulated = not_simulated(self._table, values)
        if unsimulated:
            meta["not_simulated"] = unsimulated     # stored and reported, but no effect on the image
        meta.update(temperature_c=round(self._thermal.temperature_c(timestamp), 2),
                    frame_period_us=seg.period_ns / 1000.0, dropped_frames=self._schedule.dropped)
        return Frame(array=array, timestamp=int(timestamp), seq=int(seq), camera=self.name, meta=meta)

    def _schedule_idle_release(self) -> None:
        """Let a stopped camera's frame states and noise bank go ``IDLE_RELEASE_S`` from now.

        A state holds full-frame float arrays (a 1920x1080 Pi camera's: ~50 MB) and the noise
        bank twice a frame of float32. A console keeps every camera open for hours and asks a
        stopped one only for its controls, so keeping them would hold a few hundred MB for
        nothing; letting them go at once would make a recording started right after (or a
        second take) rebuild them while its timer runs. The scene render they come from stays
        in the render cache, so rebuilding one later costs a fraction of a second.
        """
        with self._lock:
            self._cancel_idle_release()
            if self._started or self._closed:
                return
            timer = threading.Timer(IDLE_RELEASE_S, self._release_idle_states)
            timer.daemon = True
            self._idle_timer = timer
            timer.start()

    def _cancel_idle_release(self) -> None:
        with self._lock:
            if self._idle_timer is not None:
                self._idle_timer.cancel()
                self._idle_timer = None

    def _release_idle_states(self) -> None:
        with self._lock:
            if not self._started:
                self._states.clear()
                self._noise.release()

    def _render(self, K: np.ndarray, size: tuple[int, int]) -> Render:
        return cached_render(self.scene, K, self._R, self._t, size)

    def _state(self, settings: tuple) -> Any:
        state = self._states.get(settings)
        if state is None:
            values = dict(settings)
            K, size = self._geometry(settings)
            state = self._build_state(values, self._render(K, size))
            self._states[settings] = state
            while len(self._states) > 3:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(settings)
        return state

    def _current_value(self, name: str, settings: tuple) -> Any:
        if name in self._values:
            return self._values[name]
        return None

    # ---------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _control_table(self) -> dict[str, ControlDef]:
        """The camera's controls by name."""

    def _adjust(self, coerced: dict[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        """Values to store for a set_controls call (a hook for coupled controls)."""
        return coerced

    def _validate(self, values: Mapping[str, Any]) -> None:
        """Cross-control checks; raise ControlError."""

    @abc.abstractmethod
    def _geometry(self, settings: tuple) -> tuple[np.ndarray, tuple[int, int]]:
        """(K, (width, height)) of delivered frames for these settings."""

    @abc.abstractmethod
    def _frame_period_ns(self, settings: tuple) -> int:
        """Sensor frame period for these settings."""

    @abc.abstractmethod
    def _exposure_us(self, settings: tuple) -> float:
        """Exposure time for these settings."""

    @abc.abstractmethod
    def _build_state(self, values: dict[str, Any], render: Render) -> Any:
        """Everything per-frame production needs, precomputed from the settings and the render."""

    @abc.abstractmethod
    def _produce(self, state: Any, seq: int) -> np.ndarray:
        """The array of frame ``seq`` (noise and all) from a built state."""

    @abc.abstractmethod
    def _frame_meta(self, values: dict[str, Any], state: Any) -> Mapping[str, Any]:
        """The meta a frame carries."""

    @abc.abstractmethod
    def _pixel_format(self, settings: tuple) -> str:
        """"RAW8_RGGB", "RGB", ..."""

    @abc.abstractmethod
    def _capabilities(self) -> Capability:
        """The camera's capability flags."""


def apply_config_controls(camera: SimCamera, controls: Mapping[str, Any]) -> None:
    """Apply a config entry's ``controls`` table at open; errors name the config key."""
    try:
        camera.set_controls(**dict(controls))
    except ControlError as err:
        raise ControlError(f"config cameras.{camera.name}.controls: {err.message}", err.fix) from None
