"""PTZ telemetry: latch the latest sample per camera and tell when a camera has settled.

Sources feed a :class:`TelemetryLatch`:
- :class:`MqttTelemetry`, a paho-mqtt subscriber that reconnects on its own when the broker
  restarts and re-subscribes on every connect;
- :func:`subscribe_in_process`, a camera's in-process feed (drivers.base.TelemetryFeed, kind
  "in-process": a camera running in this process, no broker needed);
- monitoring.telemetry_poll's PositionPoller, polling a camera's ``position()`` (for cameras
  without telemetry; with ``feed=False`` it only watches that the camera still answers).

A sample is JSON with ``pan_deg`` (or ``pan``), ``tilt_deg`` (or ``tilt``), ``zoom``, ``moving``
(optional) and ``timestamp`` (unix seconds, optional; receive time otherwise). A message that
cannot be used, whatever is wrong with it (bad JSON, a 400-digit number, an array nested
200,000 deep, more than MAX_PAYLOAD_BYTES, a value outside the MAX_* ranges of
monitoring.telemetry_sample), is skipped, counted per camera
(``latch.malformed_count(camera)``, the total in ``latch.malformed``) and logged at debug
level: no payload ever stops a source or the latch.

Stability: a camera is stable once it has reported the same position (within ``tol_deg``)
and ``moving`` false for ``stable_s`` seconds of the camera's own timestamps, with the latest
sample fresh (received within ``max_age_s`` wall seconds). Using the camera's timestamps lets
a simulator with a time factor settle faster than real time. Only unbroken telemetry counts:
a broker outage (``interrupt``), or a silence longer than ``gap_s`` between two samples,
restarts the still streak, since nobody saw what the camera did meanwhile. A source that
learns that the camera itself stopped answering sets a fault (``set_fault``); waits then end
at once with CameraNotAnswering naming the camera, instead of running out their timeout.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Mapping

from camdeck.monitoring.errors import MonitoringError, MonitoringInputError
from camdeck.monitoring.telemetry_sample import (  # noqa: F401 - re-exported: telemetry's public names
    MAX_ANGLE_DEG, MAX_PAYLOAD_BYTES, MAX_TIMESTAMP_S, MAX_ZOOM, TelemetrySample, parse_sample)

log = logging.getLogger(__name__)


class TelemetryError(MonitoringError):
    """Root of telemetry errors."""


class TelemetryTimeout(TelemetryError):
    """A camera did not become stable (or sent nothing) within the timeout."""


class CameraNotAnswering(TelemetryError):
    """The camera itself stopped answering (its ONVIF service), so its telemetry cannot settle."""


class BrokerUnavailable(TelemetryError):
    """The MQTT broker could not be reached within the connect timeout."""


class BrokerRefused(TelemetryError):
    """The MQTT broker answered but refused the connection; ``reason`` is its CONNACK reason text."""

    def __init__(self, message: str, fix: str = "", *, reason: str = "", reason_code: int | None = None) -> None:
        super().__init__(message, fix)
        self.reason = reason
        self.reason_code = reason_code


class MqttAuthError(BrokerRefused, MonitoringInputError):
    """The MQTT broker refused the login: [mqtt] username or password is wrong or missing (bad input)."""

    bad_input = True


#: CONNACK codes that mean "the login was refused": MQTT 3.1.1 return codes 4 and 5 and their
#: MQTT 5 reason codes (134 bad user name or password, 135 not authorized, 140 bad authentication method).
AUTH_REFUSALS = frozenset({4, 5, 134, 135, 140})


class TelemetryLatch:
    """Latest sample per camera, stillness tracking, and waits for stability.

    Args:
        tol_deg: position change (pan, tilt, degrees; zoom x 100) that counts as motion.
        clock: local monotonic seconds (injectable).
        gap_s: a silence longer than this between two samples (local seconds) restarts the
            still streak; the default matches wait_stable's freshness limit.
    Thread-safe: sources feed it from their own threads while a caller waits.
    """

    def __init__(self, tol_deg: float = 0.01, clock: Callable[[], float] = time.monotonic,
                 gap_s: float = 2.0) -> None:
        self.tol_deg = float(tol_deg)
        self.clock = clock
        self.gap_s = float(gap_s)
        self._latest: dict[str, TelemetrySample] = {}
        self._still_since: dict[str, float] = {}      # camera timestamp when the current still streak began
        self._anchor: dict[str, TelemetrySample] = {}
        self._counts: dict[str, int] = {}
        self._malformed: dict[str, int] = {}
        self._broken: dict[str, tuple[float, str]] = {}   # camera -> (local time, why) of an unseen stretch
        self._faults: dict[str, BaseException] = {}
        self._cond = threading.Condition()

    @property
    def malformed(self) -> int:
        """Malformed messages so far, all cameras together."""
        with self._cond:
            return sum(self._malformed.values())

    def malformed_count(self, camera: str) -> int:
        """Malformed messages so far for ``camera``."""
        with self._cond:
            return self._malformed.get(camera, 0)

    def feed(self, camera: str, payload: bytes | str | Mapping[str, Any]) -> TelemetrySample | None:
        """Take one raw message; returns the sample, or None (counted, logged at debug) when unusable.

        Never raises for a payload: whatever one message does to the parser, the source that
        called this (paho's network thread, a feed's publisher) goes on.
        """
        try:
            sample = parse_sample(camera, payload, self.clock())
        except Exception as err:   # noqa: BLE001 -- OverflowError, RecursionError, MemoryError ... one message, one count
            self.note_malformed(camera, err)
            return None
        self.update(sample)
        return sample

    def note_malformed(self, camera: str, err: BaseException) -> None:
        """Count one unusable message for ``camera`` and log why at debug level."""
        with self._cond:
            self._malformed[camera] = self._malformed.get(camera, 0) + 1
            n = self._malformed[camera]
        # the reason only, cut short: the payload itself may be huge
        log.debug("%s: malformed telemetry message #%d skipped (%s: %s)", camera, n, type(err).__name__,
                  str(err)[:120])

    def update(self, sample: TelemetrySample) -> None:
        """Take one decoded sample."""
        with self._cond:
            cam = sample.camera
            anchor = self._anchor.get(cam)
            previous = self._latest.get(cam)
            gap = previous is not None and sample.received - previous.received > self.gap_s
            if gap and cam not in self._broken:
                log.debug("%s: no telemetry for %.1f s: the still streak starts again", cam,
                          sample.received - previous.received)
            restart = gap or cam in self._broken
            moved = anchor is None or restart or sample.moving or self._differs(anchor, sample)
            if moved or sample.timestamp < anchor.timestamp:
                self._anchor[cam] = sample
                self._still_since[cam] = math.inf if sample.moving else sample.timestamp
            elif self._still_since.get(cam, math.inf) == math.inf:
                self._still_since[cam] = sample.timestamp
            self._broken.pop(cam, None)
            self._latest[cam] = sample
            self._counts[cam] = self._counts.get(cam, 0) + 1
            self._cond.notify_all()

    def interrupt(self, camera: str, why: str) -> None:
        """Telemetry of ``camera`` is broken (e.g. the broker connection was lost): its still
        streak starts again with the next sample, and a timeout meanwhile gives ``why``."""
        with self._cond:
            self._broken.setdefault(camera, (self.clock(), why))
            self._still_since[camera] = math.inf
            self._cond.notify_all()

    def set_fault(self, camera: str, error: BaseException) -> None:
        """The camera itself failed (``error``, e.g. its ONVIF request): waits on it raise CameraNotAnswering."""
        with self._cond:
            self._faults[camera] = error
            self._cond.notify_all()

    def clear_fault(self, camera: str) -> None:
        """The camera answers again."""
        with self._cond:
            self._faults.pop(camera, None)

    def _differs(self, a: TelemetrySample, b: TelemetrySample) -> bool:
        return (abs(a.pan_deg - b.pan_deg) > self.tol_deg or abs(a.tilt_deg - b.tilt_deg) > self.tol_deg
                or abs(a.zoom - b.zoom) * 100.0 > self.tol_deg)

    def latest(self, camera: str) -> TelemetrySample | None:
        with self._cond:
            return self._latest.get(camera)

    def count(self, camera: str) -> int:
        with self._cond:
            return self._counts.get(camera, 0)

    def still_for_s(self, camera: str) -> float:
        """Seconds (camera time) the camera has been still as of its latest sample; 0 when moving or unknown."""
        with self._cond:
            return self._still_locked(camera)

    def wait_for_sample(self, camera: str, timeout_s: float, after: int = 0, *,
                        stop: threading.Event | None = None) -> TelemetrySample:
        """Block until ``camera`` has sent more than ``after`` samples.

        Raises:
            TelemetryTimeout: none within ``timeout_s``.
            CameraNotAnswering: a source reported the camera itself failing (checked every 0.1 s).
            drivers.errors.Stopped: ``stop`` was set first.
        """
        deadline = self.clock() + timeout_s
        with self._cond:
            while self._counts.get(camera, 0) <= after:
                _check_stop(stop, camera)
                self._raise_fault(camera)
                left = deadline - self.clock()
                if left <= 0:
                    raise TelemetryTimeout(f"{camera}: no telemetry within {timeout_s:g} s",
                                           "check the camera's telemetry_topic and the MQTT broker")
                self._cond.wait(min(left, 0.1))
            return self._latest[camera]

    def wait_stable(self, camera: str, stable_s: float, timeout_s: float, *, max_age_s: float = 2.0,
                    after: int = 0, stop: threading.Event | None = None) -> TelemetrySample:
        """Block until ``camera`` has been still for ``stable_s`` (camera seconds); returns the latest sample.

        Only samples after the ``after``-th count (e.g. ``count()`` taken just after a move command),
        and only fresh ones (received within ``max_age_s``), can declare stability.

        Raises:
            TelemetryTimeout: not stable within ``timeout_s`` wall seconds (the message says whether
                telemetry stopped, the broker went away, or the camera kept moving).
            CameraNotAnswering: a source reported the camera itself failing (checked every 0.1 s).
            drivers.errors.Stopped: ``stop`` was set first (checked at least every 0.1 s).
        """
        deadline = self.clock() + timeout_s
        with self._cond:
            while True:
                _check_stop(stop, camera)
                self._raise_fault(camera)
                latest = self._latest.get(camera)
                now = self.clock()
                fresh = latest is not None and now - latest.received <= max_age_s
                if fresh and self._counts.get(camera, 0) > after and self._still_locked(camera) >= stable_s:
                    return latest  # type: ignore[return-value]
                left = deadline - now
                if left <= 0:
                    broken = self._broken.get(camera)
                    if broken is not None:
                        why = f"{broken[1]} {now - broken[0]:.1f} s ago"
                    elif latest is None:
                        why = "no telemetry arrived"
                    elif not fresh:
                        why = f"telemetry stopped {now - latest.received:.1f} s ago"
                    else:
                        why = f"it was still for only {self._still_locked(camera):.1f} s of the {stable_s:g} s needed"
                    raise TelemetryTimeout(f"{camera}: not stable within {timeout_s:g} s ({why})",
                                           "check the MQTT broker and the camera, or raise --timeout")
                self._cond.wait(min(left, 0.1))

    def _raise_fault(self, camera: str) -> None:
        fault = self._faults.get(camera)
        if fault is not None:
            detail = " ".join(str(getattr(fault, "message", "") or fault).split()) or type(fault).__name__
            detail = detail.removeprefix(f"{camera}: ")
            raise CameraNotAnswering(f"{camera}: the camera stopped answering ({detail})",
                                     "check that the camera is powered and reachable (network, tunnel); "
                                     "the telemetry broker is not the cause") from fault

    def _still_locked(self, camera: str) -> float:
        latest = self._latest.get(camera)
        since = self._still_since.get(camera, math.inf)
        if latest is None or since == math.inf:
            return 0.0
        return max(0.0, latest.timestamp - since)


def subscribe_in_process(latch: TelemetryLatch, feed: Any, camera: str) -> Callable[[], None]:
    """Feed ``latch`` with ``camera``'s samples from its in-process TelemetryFeed; returns the unsubscribe.

    Raises:
        ValueError: ``feed`` is not an in-process feed (MQTT feeds go through MqttTelemetry).
    """
    if feed.subscribe is None:
        raise ValueError(f"{camera}: its telemetry feed is {feed.kind!r}, not in-process")
    return feed.subscribe(lambda payload: latch.feed(camera, payload))


class MqttTelemetry:
    """Subscribe to camera telemetry topics on an MQTT broker and feed a latch.

    Args:
        latch: where samples go.
        topics: topic -> camera name.
        host, port: the broker.
        username, password: optional credentials (password a Secret or str; never logged).
        keepalive_s: MQTT keepalive.
        connect_timeout_s: ``start(wait=True)`` raises BrokerUnavailable after this long.
    A broker that answers with a failure CONNACK ends ``start(wait=True)`` at once: MqttAuthError
    for a refused login, BrokerRefused for any other reason (``refusal`` keeps the reason).
    The client reconnects by itself (1-2 s backoff) when the broker goes away and comes back,
    and subscribes again on every connect; losing the broker interrupts every camera's still
    streak (TelemetryLatch.interrupt). No message can end the network thread.
    """

    def __init__(self, latch: TelemetryLatch, topics: Mapping[str, str], host: str = "127.0.0.1", port: int = 1883,
                 *, username: str = "", password: Any = None, keepalive_s: int = 30,
                 connect_timeout_s: float = 5.0) -> None:
        self.latch = latch
        self.topics = dict(topics)
        self.host, self.port = host, int(port)
        self.keepalive_s = int(keepalive_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self._username = username
        self._password = password
        self._connected = threading.Event()
        self._answered = threading.Event()       # a CONNACK arrived, success or failure
        self.refusal: tuple[int, str] | None = None   # (reason code, reason text) of the last refused CONNACK
        self.connects = 0
        self._client = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, wait: bool = True, stop: threading.Event | None = None) -> "MqttTelemetry":
        """Connect in the background; with ``wait``, block until connected (BrokerUnavailable after the
        timeout; drivers.errors.Stopped as soon as ``stop`` is set)."""
        import paho.mqtt.client as mqtt

        client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        if self._username:
            secret = self._password.reveal() if hasattr(self._password, "reveal") else self._password
            client.username_pw_set(self._username, secret or None)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=2)
        client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        client.loop_start()
        self._client = client
        if not wait:
            return self
        deadline = time.monotonic() + self.connect_timeout_s
        while not self._connected.is_set():
            left = deadline - time.monotonic()
            if stop is not None and stop.is_set():
                self.stop()
                _check_stop(stop, f"MQTT broker {self.host}:{self.port}")
            if self.refusal is not None:
                self.stop()
                raise self.refused_error()
            if left <= 0:
                self.stop()
                raise BrokerUnavailable(f"MQTT broker {self.host}:{self.port} not reachable within "
                                        f"{self.connect_timeout_s:g} s",
                                        "start the broker, or correct [mqtt] host and port in config.toml")
            self._answered.wait(min(left, 0.1))
            self._answered.clear()
        return self

    def refused_error(self) -> BrokerRefused:
        """The error for the last refused CONNACK (MqttAuthError for a refused login)."""
        code, text = self.refusal if self.refusal is not None else (None, "unknown reason")
        where = f"MQTT broker {self.host}:{self.port}"
        if code in AUTH_REFUSALS:
            who = f"user {self._username!r}" if self._username else "an anonymous client"
            return MqttAuthError(f"{where} refused the login of {who} ({text}, code {code})",
                                 "set [mqtt] username and the environment variable named by [mqtt] password_env "
                                 "(or [mqtt] password) to credentials the broker accepts",
                                 reason=text, reason_code=code)
        return BrokerRefused(f"{where} refused the connection ({text}, code {code})",
                             "check the broker's log and its listener settings for this client",
                             reason=text, reason_code=code)

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()
        self._connected.clear()

    def __enter__(self) -> "MqttTelemetry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # paho callbacks (VERSION2 signatures), run on paho's network thread
    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if getattr(reason_code, "is_failure", False):
            code = getattr(reason_code, "value", None)
            self.refusal = (int(code) if code is not None else -1, str(reason_code))
            self._answered.set()
            return
        self.refusal = None
        for topic in self.topics:
            client.subscribe(topic, qos=0)
        self.connects += 1
        self._connected.set()
        self._answered.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if self._client is None:        # our own stop()
            return
        # Whatever the cameras did while the broker was away was not seen: no still streak
        # may span the outage.
        for camera in self.topics.values():
            self.latch.interrupt(camera, f"the MQTT broker {self.host}:{self.port} went away")

    def _on_message(self, client, userdata, message) -> None:
        # An exception here would end paho's network thread, and with it every camera's
        # telemetry: one message must never do that.
        camera = self.topics.get(message.topic)
        if camera is None:
            return
        try:
            self.latch.feed(camera, message.payload)
        except Exception as err:  # noqa: BLE001 -- feed already catches payload errors; this is the last guard
            self.latch.note_malformed(camera, err)


def _check_stop(stop: threading.Event | None, camera: str) -> None:
    if stop is not None and stop.is_set():
        from camdeck.drivers.errors import Stopped

        raise Stopped(f"{camera}: stopped waiting for telemetry", "")
