"""How a simulated PTZ camera publishes its telemetry.

:class:`drivers.sim.ptz.SimPtzCamera` publishes each sample twice: to :data:`TELEMETRY_BUS`, an
in-process publish/subscribe by topic for consumers in the same process (no broker needed;
they reach it through the camera's ``telemetry_feed()``, a drivers.base.TelemetryFeed),
and, when a broker is given (``camdeck sim serve``), through :class:`MqttPublisher`. A sample
is a JSON object (camera, deployment, pan_deg, tilt_deg, zoom, moving, timestamp) on the
camera's ``telemetry_topic``. paho-mqtt is imported only when a publisher is made.
"""
from __future__ import annotations

import threading
from typing import Any, Callable


# ------------------------------------------------------------ in-process telemetry

class TelemetryBus:
    """In-process publish/subscribe by topic, for simulated cameras that run without a broker."""

    def __init__(self) -> None:
        self._subs: dict[str, list[Callable[[str, bytes], None]]] = {}
        self._lock = threading.Lock()

    def subscribe(self, topic: str, callback: Callable[[str, bytes], None]) -> Callable[[], None]:
        """Call ``callback(topic, payload)`` for every message on ``topic``; returns the unsubscribe."""
        with self._lock:
            self._subs.setdefault(topic, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                subs = self._subs.get(topic, [])
                if callback in subs:
                    subs.remove(callback)
        return unsubscribe

    def publish(self, topic: str, payload: bytes) -> None:
        with self._lock:
            subs = list(self._subs.get(topic, ()))
        for callback in subs:
            try:
                callback(topic, payload)
            except Exception:  # a subscriber's bug must not stop the camera
                pass


TELEMETRY_BUS = TelemetryBus()


class MqttPublisher:
    """Publishes to a broker with paho-mqtt; connects in the background and reconnects on its own.

    Messages published while the broker is away are dropped (telemetry is a live signal).
    """

    def __init__(self, host: str, port: int, *, client_id: str = "", keepalive_s: int = 30,
                 username: str = "", password: Any = None) -> None:
        import paho.mqtt.client as mqtt

        self._client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username:
            secret = password.reveal() if hasattr(password, "reveal") else password
            self._client.username_pw_set(username, secret or None)
        self._connected = threading.Event()
        self._client.on_connect = lambda *a, **k: self._connected.set()
        self._client.on_disconnect = lambda *a, **k: self._connected.clear()
        self._client.reconnect_delay_set(min_delay=1, max_delay=2)
        self._client.connect_async(host, int(port), keepalive=int(keepalive_s))
        self._client.loop_start()

    def wait_connected(self, timeout_s: float) -> bool:
        """Block until connected to the broker (False after ``timeout_s``)."""
        return self._connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=0)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
