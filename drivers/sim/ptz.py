"""A simulated PTZ camera: timed moves, a knockable mount, presets, telemetry, rendered views.

The camera looks at the :mod:`drivers.sim.ptz_world` sky sphere through
``R_W_cam = R_align @ dR @ R_B_cam(pan, tilt)`` (docs/design.md, Conventions), with ``R_align`` from
the config's ``align_ypr_deg`` and ``dR`` the mount's bump, read from ``DATA_DIR/sim/bumps.json``
(``camdeck sim bump`` writes it; a running camera picks a change up at its next frame, like a
real camera that stays knocked; the state files are :mod:`drivers.sim.ptz_state`'s). Moves run
at ``speed_deg_s`` on the simulated clock (:func:`drivers.sim.clock.clock_for`: the injected
``DriverContext.clock``, else wall time times ``time_factor``). Telemetry (JSON: camera, pan_deg, tilt_deg,
zoom, moving, timestamp) goes out at 10 Hz to in-process subscribers of :data:`TELEMETRY_BUS`
and, when a broker is given, to MQTT (both in :mod:`drivers.sim.ptz_telemetry`). ``truth()``
gives what the camera really does.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from camdeck.calibration import rotations as rot
from camdeck.drivers.base import (CameraBase, CameraInfo, CameraSpec, Capability, Clock, Frame, PtzControls,
                                  TelemetryFeed)
from camdeck.drivers.errors import ControlError, DriverError, Stopped
from camdeck.drivers.sim.clock import clock_for
from camdeck.drivers.sim.sensor import NoiseBank
from camdeck.drivers.sim.ptz_state import Bump, StateFiles, read_presets, write_preset
from camdeck.drivers.sim.ptz_telemetry import TELEMETRY_BUS, MqttPublisher
from camdeck.drivers.sim.ptz_world import Lighting, PtzWorld, world_for

ZOOM_SPEED_PER_S = 0.5          # full zoom range in 2 simulated seconds
TELEMETRY_HZ = 10.0
ARRIVAL_TOL = 1e-9


# ------------------------------------------------------------ motion

@dataclass
class _Axis:
    """One axis' motion: from ``start`` at sim time ``t0`` with ``velocity`` toward ``end``, until ``t_stop``."""

    start: float
    t0: float = 0.0
    velocity: float = 0.0
    end: float = 0.0
    t_stop: float = math.inf

    def at(self, t: float) -> float:
        if self.velocity == 0.0:
            return self.start
        dt = max(0.0, min(t, self.t_stop) - self.t0)
        x = self.start + self.velocity * dt
        return min(x, self.end) if self.velocity > 0 else max(x, self.end)

    def moving(self, t: float) -> bool:
        return self.velocity != 0.0 and t < self.t_stop and abs(self.at(t) - self.end) > ARRIVAL_TOL

    def arrival(self) -> float:
        if self.velocity == 0.0:
            return self.t0
        return min(self.t_stop, self.t0 + (self.end - self.start) / self.velocity)


@dataclass(frozen=True)
class PtzTruth:
    """What the simulated camera really does at one instant.

    Attributes:
        pan_deg, tilt_deg, zoom: head position.
        K: (3, 3) intrinsics of the rendered view (px).
        R_W_cam: (3, 3) optical -> world (ENU) rotation.
        R_align: (3, 3) base -> world, from ``align_ypr_deg``.
        delta_R: (3, 3) the bump's rotation.
        bump: the bump as pitch/yaw/roll degrees.
        lighting: the illumination applied to frames.
    """

    pan_deg: float
    tilt_deg: float
    zoom: float
    K: np.ndarray
    R_W_cam: np.ndarray
    R_align: np.ndarray
    delta_R: np.ndarray
    bump: Bump
    lighting: Lighting


class SimPtzCamera(PtzControls, CameraBase):
    """The simulated PTZ camera of a ``model = "PTZ"`` config entry (driver "sim").

    Args:
        spec: the camera's entry (options: pan_range_deg, tilt_range_deg, hfov_deg, speed_deg_s,
            telemetry_topic, align_ypr_deg, deployment).
        ctx: driver context (data_dir for bumps and presets, seed, time_factor, clock).
        mqtt: optional (host, port) of a broker to publish telemetry to.
        world: the environment to look at (default: the seed's world sized for this camera).
        telemetry_hz: telemetry rate in wall-clock Hz (0: no telemetry thread).
    """

    def __init__(self, spec: CameraSpec, ctx: Any, *, mqtt: tuple[str, int] | None = None,
                 world: PtzWorld | None = None, telemetry_hz: float = TELEMETRY_HZ,
                 mqtt_options: dict[str, Any] | None = None) -> None:
        super().__init__(spec.name)
        opts = spec.options
        self.spec = spec
        self.deployment = str(opts.get("deployment", ""))
        self.size = tuple(spec.resolution or (1280, 720))
        self.pan_range = tuple(float(x) for x in opts.get("pan_range_deg", (-180.0, 180.0)))
        self.tilt_range = tuple(float(x) for x in opts.get("tilt_range_deg", (-30.0, 90.0)))
        self.hfov_deg = tuple(float(x) for x in opts.get("hfov_deg", (60.0, 6.0)))
        self.speed_deg_s = float(opts.get("speed_deg_s", 120.0))
        self.telemetry_topic = str(opts.get("telemetry_topic") or f"camdeck/{self.deployment}/{spec.name}/telemetry")
        yaw, pitch, roll = (float(x) for x in opts.get("align_ypr_deg", (0.0, 0.0, 0.0)))
        self.R_align = rot.R_align_from_ypr(yaw, pitch, roll)
        self.data_dir = Path(getattr(ctx, "data_dir", "data"))
        self.time_factor = float(getattr(ctx, "time_factor", 1.0) or 1.0)
        self._clock_ns = clock_for(getattr(ctx, "clock", None), self.time_factor)
        self._origin_ns = self._clock_ns()
        self._epoch0 = time.time()
        self.world = world or world_for(getattr(ctx, "seed", 0), self.size[0], self.hfov_deg)
        self._lock = threading.RLock()
        home = (min(max(0.0, self.pan_range[0]), self.pan_range[1]),
                min(max(0.0, self.tilt_range[0]), self.tilt_range[1]), 0.0)
        self._axes = [_Axis(v) for v in home]
        self._seq = 0
        self._noise = NoiseBank(getattr(ctx, "seed", 0), f"ptz:{spec.name}")
        self._lighting_override: Lighting | None = None
        self._state_files = StateFiles(self.data_dir, spec.name)
        self._closing = threading.Event()
        self._publisher = MqttPublisher(*mqtt, client_id=f"camdeck-sim-{spec.name}-{os.getpid()}",
                                        **(mqtt_options or {})) if mqtt else None
        self._thread: threading.Thread | None = None
        if telemetry_hz > 0:
            self._thread = threading.Thread(target=self._telemetry_loop, args=(1.0 / telemetry_hz,),
                                            name=f"telemetry-{spec.name}", daemon=True)
            self._thread.start()

    # ---------------------------------------------------------------- clock

    def sim_time_s(self) -> float:
        """Simulated seconds since the camera opened (the camera's clock: drivers.sim.clock)."""
        return (self._clock_ns() - self._origin_ns) * 1e-9

    @property
    def clock(self) -> Clock:
        """The clock frame timestamps use: the simulated clock (the context's, else the shared one running ``time_factor`` times faster)."""
        return self._clock_ns

    # ---------------------------------------------------------------- Camera

    def info(self) -> CameraInfo:
        caps = Capability.RGB | Capability.PTZ | Capability.PRESETS | Capability.SNAPSHOT | Capability.TELEMETRY
        return CameraInfo(name=self.name, driver="sim", model=self.spec.model, serial=None,
                          sensor_size=self.size, output_size=self.size, pixel_format="RGB", capabilities=caps,
                          extra={"deployment": self.deployment, "telemetry_topic": self.telemetry_topic,
                                 "pan_range_deg": self.pan_range, "tilt_range_deg": self.tilt_range,
                                 "hfov_deg": self.hfov_deg})

    def capture(self, timeout_s: float | None = None) -> Frame:
        """Render the current view; (H, W, 3) uint8 RGB with the head position and K in ``meta``."""
        truth = self.truth()
        t_ns = self._clock_ns()
        img = self.world.render(truth.K, truth.R_W_cam, self.size, truth.lighting)
        with self._lock:
            self._seq += 1
            seq = self._seq
        img = add_sensor_noise(img, self._noise, seq)
        return Frame(array=img, timestamp=t_ns, seq=seq, camera=self.name,
                     meta={"format": "RGB", "pan_deg": truth.pan_deg, "tilt_deg": truth.tilt_deg,
                           "zoom": truth.zoom, "K": truth.K.tolist(), "moving": self.moving()})

    def _close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._publisher is not None:
            self._publisher.close()

    # ---------------------------------------------------------------- PTZ

    def position(self) -> tuple[float, float, float]:
        t = self.sim_time_s()
        with self._lock:
            return tuple(a.at(t) for a in self._axes)  # type: ignore[return-value]

    def moving(self) -> bool:
        t = self.sim_time_s()
        with self._lock:
            return any(a.moving(t) for a in self._axes)

    def check_target(self, pan_deg: float, tilt_deg: float, zoom: float) -> None:
        """Raise ControlError when the target lies outside the configured ranges."""
        for label, value, (lo, hi) in (("pan", pan_deg, self.pan_range), ("tilt", tilt_deg, self.tilt_range),
                                       ("zoom", zoom, (0.0, 1.0))):
            if not (isinstance(value, (int, float)) and math.isfinite(value)) or not lo - 1e-9 <= value <= hi + 1e-9:
                unit = "" if label == "zoom" else " deg"
                raise ControlError(f"{self.name}: {label} {value}{unit} is outside the camera's range [{lo:g}, {hi:g}]",
                                   f"give a {label} within [{lo:g}, {hi:g}] (config: {label}_range_deg)"
                                   if label != "zoom" else "give a zoom within [0, 1]")

    def move_absolute(self, pan_deg: float, tilt_deg: float, zoom: float | None = None, *,
                      wait: bool = True, timeout_s: float = 30.0, stop: threading.Event | None = None) -> None:
        """Drive to (pan, tilt, zoom) at the configured speed; with ``wait``, return on arrival.

        Raises:
            ControlError: the target is outside the configured ranges.
            DriverError: ``wait`` and the head did not arrive within ``timeout_s`` wall seconds.
            Stopped: ``stop`` was set while waiting (the head keeps moving to the target).
        """
        cur = self.position()
        zoom = cur[2] if zoom is None else zoom
        self.check_target(pan_deg, tilt_deg, zoom)
        self._drive_to((float(pan_deg), float(tilt_deg), float(zoom)))
        if wait:
            self.wait_arrived(timeout_s, stop=stop)

    def move_relative(self, dpan_deg: float, dtilt_deg: float, dzoom: float = 0.0, *,
                      wait: bool = False, timeout_s: float = 30.0) -> None:
        """Move by an offset, clamped to the ranges (as cameras do for relative moves)."""
        pan, tilt, zoom = self.position()
        target = (min(max(pan + dpan_deg, self.pan_range[0]), self.pan_range[1]),
                  min(max(tilt + dtilt_deg, self.tilt_range[0]), self.tilt_range[1]),
                  min(max(zoom + dzoom, 0.0), 1.0))
        self._drive_to(target)
        if wait:
            self.wait_arrived(timeout_s)

    def move_continuous(self, pan_speed: float, tilt_speed: float, zoom_speed: float = 0.0,
                        duration_s: float | None = None) -> None:
        """Move at velocities given as fractions of full speed in [-1, 1] until stopped, a limit or ``duration_s``."""
        t = self.sim_time_s()
        t_stop = t + duration_s if duration_s else math.inf
        with self._lock:
            new = []
            for axis, frac, top, (lo, hi) in zip(self._axes, (pan_speed, tilt_speed, zoom_speed),
                                                 (self.speed_deg_s, self.speed_deg_s, ZOOM_SPEED_PER_S),
                                                 (self.pan_range, self.tilt_range, (0.0, 1.0))):
                x = axis.at(t)
                v = max(-1.0, min(1.0, float(frac))) * top
                new.append(_Axis(x, t, v, hi if v > 0 else lo, t_stop))
            self._axes = new

    def stop_motion(self) -> None:
        t = self.sim_time_s()
        with self._lock:
            self._axes = [_Axis(a.at(t)) for a in self._axes]

    def wait_arrived(self, timeout_s: float = 30.0, *, stop: threading.Event | None = None) -> None:
        """Block until the head stops (wall-clock ``timeout_s``); Stopped when ``stop`` is set first."""
        deadline = time.monotonic() + timeout_s
        while True:
            if stop is not None and stop.is_set():
                raise Stopped(f"{self.name}: stopped waiting for the head", "")
            t = self.sim_time_s()
            with self._lock:
                remaining = max((a.arrival() - t for a in self._axes if a.moving(t)), default=0.0)
            if remaining <= 0.0:
                return
            if time.monotonic() >= deadline:
                raise DriverError(f"{self.name}: the head did not arrive within {timeout_s:g} s",
                                  "raise the timeout or the time factor")
            self._clock_ns.sleep(min(remaining + 1e-6, 0.2 * self.time_factor))

    def _drive_to(self, target: tuple[float, float, float]) -> None:
        t = self.sim_time_s()
        with self._lock:
            axes = []
            for axis, goal, speed in zip(self._axes, target, (self.speed_deg_s, self.speed_deg_s, ZOOM_SPEED_PER_S)):
                x = axis.at(t)
                v = 0.0 if abs(goal - x) <= ARRIVAL_TOL else math.copysign(speed, goal - x)
                axes.append(_Axis(x, t, v, goal) if v else _Axis(goal))
            self._axes = axes

    # ---------------------------------------------------------------- presets

    def presets(self) -> dict[str, tuple[float, float, float]]:
        """Presets by name (``DATA_DIR/sim/presets.json``); "home" is always there."""
        stored = read_presets(self.data_dir, self.name)
        out = {"home": (0.0 if self.pan_range[0] <= 0 <= self.pan_range[1] else self.pan_range[0],
                        0.0 if self.tilt_range[0] <= 0 <= self.tilt_range[1] else self.tilt_range[0], 0.0)}
        out.update(stored)
        return out

    def set_preset(self, name: str, position: tuple[float, float, float] | None = None) -> str:
        """Store the current (or given) position under ``name``; returns the preset's token (its name)."""
        if not name or len(name) > 64:
            raise ControlError(f"{self.name}: preset name {name!r} is not usable", "give 1 to 64 characters")
        pos = tuple(float(x) for x in (position or self.position()))
        write_preset(self.data_dir, self.name, name, pos)
        return name

    def goto_preset(self, name: str, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        presets = self.presets()
        if name not in presets:
            raise ControlError(f"{self.name}: no preset {name!r}", f"use one of {', '.join(sorted(presets))}")
        self.move_absolute(*presets[name], wait=wait, timeout_s=timeout_s)

    # ---------------------------------------------------------------- truth and knobs

    def intrinsics(self, zoom: float | None = None) -> np.ndarray:
        """K (3, 3) at ``zoom`` (default: the current zoom)."""
        z = self.position()[2] if zoom is None else zoom
        return rot.K_at_zoom(min(max(z, 0.0), 1.0), self.hfov_deg, *self.size)

    def set_lighting(self, lighting: Lighting | None) -> None:
        """Override the persisted lighting for this process (None: back to lighting.json)."""
        self._lighting_override = lighting

    def bump(self) -> Bump:
        """The mount's current bump (re-read when bumps.json changes)."""
        return self._state_files.bump()

    def truth(self) -> PtzTruth:
        """Ground truth now: position, K, R_W_cam, R_align, the bump and the lighting."""
        pan, tilt, zoom = self.position()
        bump = self.bump()
        dR = bump.matrix()
        lighting = self._lighting_override or self._state_files.lighting()
        return PtzTruth(pan_deg=pan, tilt_deg=tilt, zoom=zoom, K=self.intrinsics(zoom),
                        R_W_cam=rot.R_W_cam(pan, tilt, self.R_align, dR), R_align=self.R_align.copy(),
                        delta_R=dR, bump=bump, lighting=lighting)

    # ---------------------------------------------------------------- telemetry

    def telemetry(self) -> dict[str, Any]:
        """One telemetry sample (the JSON the camera publishes)."""
        pan, tilt, zoom = self.position()
        return {"camera": self.name, "deployment": self.deployment, "pan_deg": round(pan, 6),
                "tilt_deg": round(tilt, 6), "zoom": round(zoom, 6), "moving": self.moving(),
                "timestamp": self._epoch0 + self.sim_time_s()}

    def telemetry_feed(self) -> TelemetryFeed:
        """In-process: consumers in this process subscribe to the camera's topic on
        :data:`TELEMETRY_BUS` (the samples go to a broker too when one was given)."""
        topic = self.telemetry_topic

        def subscribe(callback: Callable[[bytes], None]) -> Callable[[], None]:
            return TELEMETRY_BUS.subscribe(topic, lambda _topic, payload: callback(payload))

        return TelemetryFeed("in-process", topic, subscribe)

    def _telemetry_loop(self, period_s: float) -> None:
        while not self._closing.wait(period_s):
            try:
                payload = json.dumps(self.telemetry()).encode()
                TELEMETRY_BUS.publish(self.telemetry_topic, payload)
                if self._publisher is not None:
                    self._publisher.publish(self.telemetry_topic, payload)
            except Exception:  # telemetry is best effort; the camera keeps working
                pass


def open_ptz_camera(spec: CameraSpec, ctx: Any, **kwargs: Any) -> SimPtzCamera:
    """Open the simulated PTZ camera of ``spec`` (what ``drivers.sim.open_camera`` routes "ptz" to)."""
    return SimPtzCamera(spec, ctx, **kwargs)


# ---------------------------------------------------------------- sensor noise

FULL_WELL_E = 6000.0   # electrons at digital full scale (a small-pixel surveillance sensor)
READ_NOISE_E = 4.0


def add_sensor_noise(img: np.ndarray, bank: NoiseBank, seq: int) -> np.ndarray:
    """Shot and read noise on a rendered (H, W, 3) uint8 view; frame ``seq`` is reproducible with a seed.

    The render is the mean signal; each pixel gets sqrt(signal_e + read_e^2) electrons rms,
    so two captures of the same view differ as they do on a real camera (about 2 DN rms
    at mid-grey).
    """
    scale = np.float32(FULL_WELL_E / 255.0)
    signal_e = img.astype(np.float32) * scale
    sigma_e = np.sqrt(signal_e + np.float32(READ_NOISE_E ** 2))
    noisy = signal_e + sigma_e * bank.window(img.size, seq).reshape(img.shape)
    noisy /= scale
    np.clip(noisy, 0.0, 255.0, out=noisy)
    return np.rint(noisy).astype(np.uint8)

