"""The PTZ devices of a deployment: resolve ``DEPLOYMENT/CAMERA``, open the camera, read its telemetry.

A device is a PTZ camera whose config names a ``deployment``; ``--device`` takes
``DEPLOYMENT``, ``DEPLOYMENT/CAMERA`` or a camera name. :func:`open_device` starts the
deployment's tunnel, opens the camera behind it (through the registry, whatever its driver)
and feeds a telemetry latch from the source the camera names (its ``telemetry_feed()``):
in-process (a camera running in this process), MQTT (its topic on [mqtt]) or polling its
position (it publishes nothing, or the broker is unreachable or refuses the login). Beside
MQTT telemetry the camera is watched (its position asked once a second), so a camera that
stops answering is named as the cause of a wait's failure within that second, instead of
the wait running out its timeout and blaming the broker.
A ``stop`` event, set from any thread, ends the device's waits (for a move to arrive, for the
camera to settle) at their next poll, with drivers.errors.Stopped; the head goes on moving.

``settings`` arguments are console.config.Settings (duck-typed here: cameras, deployments,
mqtt, driver_context()).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from camdeck.drivers.base import CameraSpec
from camdeck.monitoring.errors import MonitoringInputError, ScanError

log = logging.getLogger(__name__)


class UnknownDevice(ScanError, MonitoringInputError):
    """A --device that names no configured deployment or PTZ camera (bad input)."""

    bad_input = True


@dataclass(frozen=True)
class DeviceRef:
    """One PTZ camera of a deployment."""

    deployment: str
    camera: str

    @property
    def id(self) -> str:
        return f"{self.deployment}/{self.camera}"


def ptz_devices(settings: Any) -> list[DeviceRef]:
    """Every configured PTZ camera that belongs to a deployment, in config order."""
    return [DeviceRef(str(spec.options["deployment"]), name) for name, spec in settings.cameras.items()
            if spec.kind == "ptz" and spec.options.get("deployment")]


def select_devices(settings: Any, device: str | None) -> list[DeviceRef]:
    """``--device DEPLOYMENT[/CAMERA]`` (or a camera name; None: all) -> the devices it names.

    Raises:
        UnknownDevice: naming the configured devices.
    """
    known = ptz_devices(settings)
    if not device:
        return known
    dep, _, cam = device.partition("/")
    chosen = [d for d in known if (d.deployment == dep and (not cam or d.camera == cam))
              or (not cam and d.camera == dep)]
    if not chosen:
        names = ", ".join(d.id for d in known) or "none"
        raise UnknownDevice(f"--device {device!r} names no configured PTZ camera",
                            f"use DEPLOYMENT or DEPLOYMENT/CAMERA, one of: {names}")
    return chosen


def resolve_device(settings: Any, device_id: str | DeviceRef) -> DeviceRef:
    """Exactly one device for ``device_id``; UnknownDevice when it names none or several."""
    if isinstance(device_id, DeviceRef):
        return device_id
    chosen = select_devices(settings, device_id)
    if len(chosen) != 1:
        raise UnknownDevice(f"device {device_id!r} names {len(chosen)} cameras",
                            "give DEPLOYMENT/CAMERA: " + ", ".join(d.id for d in chosen))
    return chosen[0]


class PtzDevice:
    """An opened PTZ device: its camera, a telemetry latch fed by the best source, and its tunnel.

    ``telemetry_source`` is "in-process" (the camera runs in this process, no broker), "mqtt" (the
    camera's topic on [mqtt]) or "poll" (position polling, when the broker is unreachable or
    refuses the login, or the camera publishes nothing). ``telemetry_fallback`` says why it
    polls ("" otherwise); the scan manifests record both, and the reason is logged once per device.
    ``telemetry_malformed`` counts the camera's telemetry messages that were unusable and skipped.
    """

    def __init__(self, ref: DeviceRef, spec: CameraSpec, camera: Any, latch: Any,
                 stop: threading.Event | None = None) -> None:
        self.ref, self.spec, self.camera, self.latch = ref, spec, camera, latch
        self.stop = stop                   # set: every wait ends at once with drivers.errors.Stopped
        self.name = ref.camera
        self.telemetry_source = ""
        self.telemetry_topic = ""
        self.telemetry_fallback = ""
        self._closers: list[Callable[[], None]] = []
        self._mqtt: Any = None
        self._watch: Any = None

    @property
    def telemetry_malformed(self) -> int:
        """Unusable telemetry messages of this camera so far (skipped, logged at debug level)."""
        return self.latch.malformed_count(self.name)

    def image_size(self) -> tuple[int, int]:
        return tuple(self.camera.info().output_size)  # type: ignore[return-value]

    def _use_poller(self, reason: str = "") -> None:
        from camdeck.monitoring.telemetry_poll import PositionPoller

        if reason and not self.telemetry_fallback:
            self.telemetry_fallback = reason
            log.warning("%s: polling the camera's position instead of MQTT telemetry: %s", self.ref.id, reason)
        if self._mqtt is not None:
            self._mqtt.stop()
            self._mqtt = None
        if self._watch is not None:       # the poller watches the camera itself
            self._watch.stop()
            self._watch = None
        poller = PositionPoller(self.latch, self.camera, self.name).start()
        self._closers.append(poller.stop)
        self.telemetry_source = "poll"

    def wait_stable(self, stable_s: float, timeout_s: float, after: int = 0) -> Any:
        """Block until the camera has been still for ``stable_s`` (camera seconds); the deciding sample.

        With MQTT, a camera that sends nothing within 3 s is polled instead.
        """
        from camdeck.monitoring.telemetry import TelemetryTimeout

        if self.telemetry_source == "mqtt" and self.latch.count(self.name) == 0:
            try:
                self.latch.wait_for_sample(self.name, min(3.0, timeout_s), stop=self.stop)
            except TelemetryTimeout:
                topic = self.telemetry_topic or "?"
                self._use_poller(f"no telemetry on {topic} within {min(3.0, timeout_s):g} s")
        return self.latch.wait_stable(self.name, stable_s, timeout_s, after=after, stop=self.stop)

    def move_and_settle(self, pan_deg: float, tilt_deg: float, zoom: float, stable_s: float,
                        timeout_s: float) -> Any:
        """Drive to the stop (arrival verified by the driver), then wait for stability; the deciding sample."""
        self.camera.move_absolute(pan_deg, tilt_deg, zoom, wait=True, timeout_s=timeout_s, stop=self.stop)
        return self.wait_stable(stable_s, timeout_s, after=self.latch.count(self.name))

    def close(self) -> None:
        closers, self._closers = self._closers, []
        if self._watch is not None:
            closers.append(self._watch.stop)
            self._watch = None
        if self._mqtt is not None:
            closers.append(self._mqtt.stop)
            self._mqtt = None
        for close in reversed(closers):
            try:
                close()
            except Exception:  # closing must not mask the error that ended the scan
                pass

    def __enter__(self) -> "PtzDevice":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_device(settings: Any, device_id: str | DeviceRef, *, mqtt_timeout_s: float = 3.0,
                stop: threading.Event | None = None) -> PtzDevice:
    """Start the deployment's tunnel, open the camera and its telemetry; use as a context manager.

    ``stop``: once set (from any thread), the device's moves and waits end with Stopped.

    The camera is opened through the registry, whatever its driver, and names its telemetry
    (drivers.base.TelemetryFeed): an in-process feed is subscribed to directly; an MQTT topic is
    read from [mqtt], falling back to polling its position when the broker cannot be reached or
    refuses the login (the reason goes to ``device.telemetry_fallback`` and the log), and the
    camera is watched beside it (monitoring.telemetry_poll); a camera without telemetry is polled.
    """
    from camdeck.drivers.registry import camera_endpoint, open_camera
    from camdeck.monitoring.telemetry import (BrokerRefused, BrokerUnavailable, MqttTelemetry, TelemetryLatch,
                                              subscribe_in_process)
    from camdeck.monitoring.telemetry_poll import watch_camera
    from camdeck.monitoring.tunnels import Tunnel

    ref = resolve_device(settings, device_id)
    spec: CameraSpec = settings.cameras[ref.camera]
    deployment = settings.deployments.get(ref.deployment)
    closers: list[Callable[[], None]] = []
    try:
        if deployment is not None and deployment.tunnel:
            closers.append(Tunnel(deployment.tunnel, name=ref.deployment, wait_for=camera_endpoint(spec),
                                  stop=stop).start().stop)
        camera = open_camera(spec, settings.driver_context())
        closers.append(camera.close)
        latch = TelemetryLatch()
        device = PtzDevice(ref, spec, camera, latch, stop)
        device._closers = closers
        feed = camera.telemetry_feed()
        device.telemetry_topic = feed.topic
        if feed.kind == "in-process":
            closers.append(subscribe_in_process(latch, feed, ref.camera))
            device.telemetry_source = "in-process"
        elif feed.kind == "mqtt":
            mqtt = settings.mqtt
            try:
                device._mqtt = MqttTelemetry(latch, {feed.topic: ref.camera}, mqtt.host, mqtt.port,
                                             username=mqtt.username, password=mqtt.password,
                                             keepalive_s=mqtt.keepalive_s,
                                             connect_timeout_s=mqtt_timeout_s).start(stop=stop)
                device.telemetry_source = "mqtt"
                device._watch = watch_camera(latch, camera, ref.camera)
            except (BrokerUnavailable, BrokerRefused) as err:
                device._use_poller(str(err))
        else:
            device._use_poller()              # no telemetry: polling is the configured source
        return device
    except BaseException:
        for close in reversed(closers):
            try:
                close()
            except Exception:
                pass
        raise
