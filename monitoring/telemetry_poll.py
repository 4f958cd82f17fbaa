"""Poll a PTZ camera's position on a thread: a telemetry source of its own, or a watch beside MQTT.

A camera that publishes no telemetry (or whose broker cannot be used) is polled for its
position, and each answer feeds the latch as a sample. A camera whose telemetry comes over
MQTT is still asked for its position now and then (``feed=False``): the broker going quiet
cannot tell a dead camera from a dead broker, the camera's own ONVIF service can. Either way
a poll that fails sets the latch's fault for the camera, so a wait on it ends within one poll
period with CameraNotAnswering naming the camera (not after its full timeout, blaming the
broker); the next answer clears the fault.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from camdeck.monitoring.telemetry import TelemetryLatch, TelemetrySample

log = logging.getLogger(__name__)

#: Seconds between watch polls of a camera whose telemetry comes over MQTT: a dead camera is
#: named within this (plus the request's own failure time); one GetStatus a second is light.
WATCH_PERIOD_S = 1.0


class PositionPoller:
    """Ask ``camera.position()`` every ``period_s`` on a daemon thread.

    Args:
        latch: where samples and faults go.
        camera: a PtzCamera (``position() -> (pan_deg, tilt_deg, zoom)``).
        name: the camera's name in the latch.
        period_s: seconds between polls.
        feed: each answer is also a sample for the latch (False: watch only).
    Errors while polling are counted in ``errors`` (the latest in ``last_error``), set the
    latch's fault and are retried; they never end the thread.
    """

    def __init__(self, latch: TelemetryLatch, camera: Any, name: str, period_s: float = 0.1, *,
                 feed: bool = True) -> None:
        self.latch, self.camera, self.name, self.period_s = latch, camera, name, period_s
        self.feed = feed
        self.errors = 0
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        role = "poll" if feed else "watch"
        self._thread = threading.Thread(target=self._run, name=f"{role}-{name}", daemon=True)

    def start(self) -> "PositionPoller":
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread (waiting up to 5 s for a request under way)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                pan, tilt, zoom = self.camera.position()
            except Exception as err:  # noqa: BLE001 -- any failure of the camera is reported, never fatal here
                if self._stop.is_set():     # closing: the camera may already be closed
                    return
                self.errors += 1
                if self.last_error is None or str(self.last_error) != str(err):
                    log.info("%s: position poll failed: %s", self.name, " ".join(str(err).split())[:200])
                self.last_error = err
                self.latch.set_fault(self.name, err)
            else:
                self.latch.clear_fault(self.name)
                if self.feed:
                    self.latch.update(TelemetrySample(self.name, pan, tilt, zoom, False, time.time(),
                                                      self.latch.clock()))
            self._stop.wait(self.period_s)


def watch_camera(latch: TelemetryLatch, camera: Any, name: str, period_s: float = WATCH_PERIOD_S) -> PositionPoller:
    """A started watch-only poller: ``camera`` failing to answer becomes ``latch``'s fault for ``name``."""
    return PositionPoller(latch, camera, name, period_s, feed=False).start()
