"""What a fleet run reports: a step's progress, one device's result, the whole run's report, and
the stop request a caller (the CLI's SIGTERM, the TUI's quit) gives it. monitoring.fleet runs it."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from camdeck.monitoring.history import MonitoringRecord


@dataclass(frozen=True)
class FleetProgress:
    """One step of a fleet run, for progress bars and the Monitoring tab.

    Attributes:
        device: "DEPLOYMENT/CAMERA".
        stage: "start", "reference", "move", "capture", "offsets", "store", "upload", "notify",
            "done", "failed" or "stopped" (the run was stopped while in this device: it is skipped).
        index, count: this device's position in the run (0-based) and the number of devices.
        done, total: progress within the stage (0, 0 when it has none).
        message: one line for people.
    """

    device: str
    stage: str
    index: int
    count: int
    done: int = 0
    total: int = 0
    message: str = ""


Progress = Callable[[FleetProgress], None]


@dataclass
class DeviceResult:
    """What a fleet run found for one camera."""

    deployment: str
    camera: str
    success: bool
    pitch_deg: float | None = None
    yaw_deg: float | None = None
    roll_deg: float | None = None
    alert: bool = False
    error: str | None = None
    record: MonitoringRecord | None = None
    notified: bool = False
    notify_error: str = ""
    uploaded: int = 0
    spooled: int = 0
    telemetry_source: str | None = None
    telemetry_malformed: int = 0

    @property
    def device(self) -> str:
        return f"{self.deployment}/{self.camera}"

    def to_dict(self) -> dict[str, Any]:
        """The row of ``camdeck monitor run --json`` (``notify_error`` only when not ``notified``)."""
        out = {"deployment": self.deployment, "camera": self.camera, "success": self.success,
               "pitch_deg": self.pitch_deg, "yaw_deg": self.yaw_deg, "roll_deg": self.roll_deg,
               "alert": self.alert, "error": self.error, "notified": self.notified}
        if not self.notified:
            out["notify_error"] = self.notify_error
        out.update(telemetry_source=self.telemetry_source, telemetry_malformed=self.telemetry_malformed)
        return out


@dataclass
class FleetReport:
    """A whole run: one result per device processed, and what the spool replay did first.

    ``stopped``: the run was stopped (``stop`` set) before it finished; ``skipped`` then names the
    devices ("DEPLOYMENT/CAMERA") it did not process, which have no result, no history row and
    are not counted as failed. ``stop_reason``: the stop's reason, when it gave one.
    """

    devices: list[DeviceResult] = field(default_factory=list)
    spool_sent: int = 0
    spool_remaining: int = 0
    spool: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    skipped: list[str] = field(default_factory=list)
    stop_reason: str = ""

    @property
    def failed(self) -> int:
        return sum(1 for d in self.devices if not d.success)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"devices": [d.to_dict() for d in self.devices], "failed": self.failed}
        if self.spool_sent or self.spool_remaining:
            out["spool"] = dict(self.spool)
        if self.stopped:
            out.update(stopped=True, skipped=list(self.skipped))
            if self.stop_reason:
                out["stop_reason"] = self.stop_reason
        return out


class StopRequest(threading.Event):
    """A stop event that can say why.

    ``set()`` alone stops a run as the TUI does (the device in flight is abandoned unrecorded);
    ``request(reason)`` also records that device as failed with ``reason`` (the first reason
    given is kept). Thread- and signal-handler-safe: it only sets a string and the event.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reason = ""

    def request(self, reason: str) -> None:
        if not self.is_set():
            self.reason = reason
        self.set()
