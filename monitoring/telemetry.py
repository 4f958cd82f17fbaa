"""PTZ telemetry: latch the latest sample per camera and tell when a camera has settled.

Sources feed a :class:`TelemetryLatch`:
- :class:`MqttTelemetry`, a paho-mqtt subscriber that reconnects on its own when the broker
  restarts and re-subscribes on every connect;
- :func:`subscribe_in_process`, a camera's in-process feed (drivers.base.TelemetryFeed, kind
  "in-process": a camera running in this process, no broker needed);
- :class:`PositionPoller`, polling a camera's ``position()`` (for cameras without telemetry).

A sample is JSON with ``pan_deg`` (or ``pan``), ``tilt_deg`` (or ``tilt``), ``zoom``, ``moving``
(optional) and ``timestamp`` (unix seconds, optional; receive time otherwise). Malformed
messages are counted in ``latch.malformed`` and skipped.

Stability: a camera is stable once it has reported the same position (within ``tol_deg``)
and ``moving`` false for ``stable_s`` seconds of the camera's own timestamps, with the latest
sample fresh (received within ``max_age_s`` wall seconds). Using the camera's timestamps lets
a simulator with a time factor settle faster than real time.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from camdeck.monitoring.errors import MonitoringError, MonitoringInputError


class TelemetryError(MonitoringError):
    """Root of telemetry errors."""


class TelemetryTimeout(TelemetryError):
    """A camera did not become stable (or sent nothing) within the timeout."""


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


@dataclass(frozen=True)
class TelemetrySample:
    """One telemetry message.

    Attributes:
        camera: the camera it belongs to.
        pan_deg, tilt_deg: head position, degrees.
        zoom: zoom in [0, 1].
        moving: what the camera says (False when it does not say).
        timestamp: the camera's time, unix seconds.
        received: local monotonic seconds at arrival.
    """

    camera: str
    pan_deg: float
    tilt_deg: float
    zoom: float
    moving: bool
    timestamp: float
    received: float

    def as_dict(self) -> dict[str, Any]:
        return {"camera": self.camera, "pan_deg": self.pan_deg, "tilt_deg": self.tilt_deg, "zoom": self.zoom,
                "moving": self.moving, "timestamp": self.timestamp}


def parse_sample(camera: str, payload: bytes | str | Mapping[str, Any], received: float,
                 now_unix: float | None = None) -> TelemetrySample:
    """Decode one message; ValueError says what is wrong with it."""
    data = payload
    if isinstance(payload, (bytes, bytearray, str)):
        data = json.loads(payload)
    if not isinstance(data, Mapping):
        raise ValueError("not a JSON object")

    def number(*keys: str, default: float | None = None) -> float:
        for key in keys:
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ValueError(f"{key} is not a finite number")
                return float(value)
        if default is None:
            raise ValueError(f"{keys[0]} is missing")
        return default

    moving = data.get("moving", False)
    if not isinstance(moving, bool):
        raise ValueError("moving is not true/false")
    return TelemetrySample(camera=camera, pan_deg=number("pan_deg", "pan"), tilt_deg=number("tilt_deg", "tilt"),
                           zoom=number("zoom", default=0.0), moving=moving,
                           timestamp=number("timestamp", default=now_unix if now_unix is not None else time.time()),
                           received=received)


class TelemetryLatch:
    """Latest sample per camera, stillness tracking, and waits for stability.

    Args:
        tol_deg: position change (pan, tilt, degrees; zoom x 100) that counts as motion.
        clock: local monotonic seconds (injectable).
    """

    def __init__(self, tol_deg: float = 0.01, clock: Callable[[], float] = time.monotonic) -> None:
        self.tol_deg = float(tol_deg)
        self.clock = clock
        self._latest: dict[str, TelemetrySample] = {}
        self._still_since: dict[str, float] = {}      # camera timestamp when the current still streak began
        self._anchor: dict[str, TelemetrySample] = {}
        self._counts: dict[str, int] = {}
        self.malformed = 0
        self._cond = threading.Condition()

    def feed(self, camera: str, payload: bytes | str | Mapping[str, Any]) -> TelemetrySample | None:
        """Take one raw message; returns the sample, or None (and counts it) when malformed."""
        try:
            sample = parse_sample(camera, payload, self.clock())
        except (ValueError, TypeError, UnicodeDecodeError):
            with self._cond:
                self.malformed += 1
            return None
        self.update(sample)
        return sample

    def update(self, sample: TelemetrySample) -> None:
        """Take one decoded sample."""
        with self._cond:
            cam = sample.camera
            anchor = self._anchor.get(cam)
            moved = anchor is None or sample.moving or self._differs(anchor, sample)
            if moved or sample.timestamp < anchor.timestamp:
                self._anchor[cam] = sample
                self._still_since[cam] = math.inf if sample.moving else sample.timestamp
            elif self._still_since.get(cam, math.inf) == math.inf:
                self._still_since[cam] = sample.timestamp
            self._latest[cam] = sample
            self._counts[cam] = self._counts.get(cam, 0) + 1
            self._cond.notify_all()

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
            latest = self._latest.get(camera)
            since = self._still_since.get(camera, math.inf)
            if latest is None or since == math.inf:
                return 0.0
            return max(0.0, latest.timestamp - since)

    def wait_for_sample(self, camera: str, timeout_s: float, after: int = 0, *,
                        stop: threading.Event | None = None) -> TelemetrySample:
        """Block until ``camera`` has sent more than ``after`` samples; TelemetryTimeout otherwise
        (drivers.errors.Stopped when ``stop`` is set first)."""
        deadline = self.clock() + timeout_s
        with self._cond:
            while self._counts.get(camera, 0) <= after:
                _check_stop(stop, camera)
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
                telemetry stopped, or the camera kept moving).
            drivers.errors.Stopped: ``stop`` was set first (checked at least every 0.1 s).
        """
        deadline = self.clock() + timeout_s
        with self._cond:
            while True:
                _check_stop(stop, camera)
                latest = self._latest.get(camera)
                now = self.clock()
                fresh = latest is not None and now - latest.received <= max_age_s
                if fresh and self._counts.get(camera, 0) > after and self._still_locked(camera) >= stable_s:
                    return latest  # type: ignore[return-value]
                left = deadline - now
                if left <= 0:
                    if latest is None:
                        why = "no telemetry arrived"
                    elif not fresh:
                        why = f"telemetry stopped {now - latest.received:.1f} s ago"
                    else:
                        why = f"it was still for only {self._still_locked(camera):.1f} s of the {stable_s:g} s needed"
                    raise TelemetryTimeout(f"{camera}: not stable within {timeout_s:g} s ({why})",
                                           "check the MQTT broker and the camera, or raise --timeout")
                self._cond.wait(min(left, 0.1))

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
    and subscribes again on every connect.
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

    def start(self, wait: bool = True) -> "MqttTelemetry":
        """Connect in the background; with ``wait``, block until connected (BrokerUnavailable after the timeout)."""
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

    def _on_message(self, client, userdata, message) -> None:
        camera = self.topics.get(message.topic)
        if camera is None:
            return
        self.latch.feed(camera, message.payload)


class PositionPoller:
    """Feed a latch by polling ``camera.position()`` every ``period_s`` on a thread (no telemetry needed).

    Errors while polling are counted in ``errors`` and retried; they never end the thread.
    """

    def __init__(self, latch: TelemetryLatch, camera: Any, name: str, period_s: float = 0.1) -> None:
        self.latch, self.camera, self.name, self.period_s = latch, camera, name, period_s
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poll-{name}", daemon=True)

    def start(self) -> "PositionPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pan, tilt, zoom = self.camera.position()
                self.latch.update(TelemetrySample(self.name, pan, tilt, zoom, False, time.time(), self.latch.clock()))
            except Exception:
                self.errors += 1
            self._stop.wait(self.period_s)


def _check_stop(stop: threading.Event | None, camera: str) -> None:
    if stop is not None and stop.is_set():
        from camdeck.drivers.errors import Stopped

        raise Stopped(f"{camera}: stopped waiting for telemetry", "")
