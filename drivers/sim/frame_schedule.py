"""When a simulated camera has a frame for ``capture()``, and when it fails to: the sensor's
frame schedule (on-camera buffer, dropped frames) and the injected faults.

Timing model: once started, the sensor produces frame ``seq`` with exposure starting at
``timestamp = segment.start + i * period`` and delivers it at ``timestamp + period`` (readout
of one frame overlaps the next exposure). ``capture()`` returns the oldest frame still in the
on-camera buffer (``BUFFER_FRAMES`` deep) and waits for the next one when none is there; when
the consumer is slower than the sensor, older frames are overwritten and counted in
``dropped_frames`` (seq numbers show the gap). Changing a control starts a new schedule
segment at the first frame boundary after the change: frames whose exposure began before it
keep the old settings, as on a real sensor.

This is bookkeeping on nanosecond timestamps and counters only (no render, no clock, no
lock of its own), so it lives apart from :class:`drivers.sim.simcam.SimCamera`, which holds
one :class:`FrameSchedule` and one :class:`CaptureFaults` per camera and calls them under its
lock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from camdeck.drivers.errors import CameraDisconnected

BUFFER_FRAMES = 2
FAULT_KINDS = ("timeout", "disconnect", None)


@dataclass(frozen=True)
class _Segment:
    """A run of frames with one setting: frame i starts exposing at start_ns + i * period_ns."""

    start_ns: int
    period_ns: int
    first_seq: int
    settings: tuple     # sorted (name, value) pairs: hashable snapshot of every setting


class FrameSchedule:
    """The frames a running sensor produces, and which of them the consumer has had.

    Attributes:
        next_seq: the first frame not yet delivered or dropped.
        dropped: frames overwritten in the buffer before anyone read them (since start).
    """

    def __init__(self) -> None:
        self._segments: list[_Segment] = []
        self.next_seq = 0
        self.dropped = 0

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return bool(self._segments)

    def start(self, now_ns: int, period_ns: int, settings: tuple) -> None:
        """Frame 0 starts exposing at ``now_ns`` with ``settings``; the counters restart."""
        self._segments = [_Segment(now_ns, period_ns, 0, settings)]
        self.next_seq = 0
        self.dropped = 0

    def stop(self) -> None:
        """The sensor stops producing (the counters keep their last values)."""
        self._segments = []

    def change(self, now_ns: int, period_ns: int, settings: tuple) -> None:
        """New settings from the first frame boundary at or after ``now_ns`` (a running schedule only)."""
        cur = self._segments[-1]
        i = max(0, math.ceil((now_ns - cur.start_ns) / cur.period_ns))
        if i == 0:
            self._segments.pop()
        self._segments.append(_Segment(cur.start_ns + i * cur.period_ns, period_ns, cur.first_seq + i, settings))
        # forget segments every remaining frame of which is already delivered or dropped
        while len(self._segments) > 1 and self._segments[1].first_seq <= self.next_seq:
            self._segments.pop(0)

    def segment_of(self, seq: int) -> _Segment:
        """The segment frame ``seq`` belongs to (its settings and timing)."""
        for seg in reversed(self._segments):
            if seg.first_seq <= seq:
                return seg
        return self._segments[0]

    def exposure_start_ns(self, seq: int) -> int:
        """When frame ``seq`` starts exposing: its timestamp."""
        seg = self.segment_of(seq)
        return seg.start_ns + (seq - seg.first_seq) * seg.period_ns

    def available_ns(self, seq: int) -> int:
        """When frame ``seq`` has been read out and can be delivered."""
        seg = self.segment_of(seq)
        return seg.start_ns + (seq - seg.first_seq + 1) * seg.period_ns

    def newest_available(self, now_ns: int) -> int:
        """The newest frame read out by ``now_ns`` (-1: none yet)."""
        for k in range(len(self._segments) - 1, -1, -1):
            seg = self._segments[k]
            i = (now_ns - seg.start_ns) // seg.period_ns - 1
            if k + 1 < len(self._segments):
                i = min(i, self._segments[k + 1].first_seq - seg.first_seq - 1)
            if i >= 0:
                return seg.first_seq + int(i)
        return -1

    def take(self, now_ns: int) -> int | None:
        """The oldest frame still in the buffer at ``now_ns``, now delivered (the ones the buffer
        overwrote before it count as dropped); None when no new frame is ready."""
        newest = self.newest_available(now_ns)
        if newest < self.next_seq:
            return None
        seq = max(self.next_seq, newest - BUFFER_FRAMES + 1)
        self.dropped += seq - self.next_seq
        self.next_seq = seq + 1
        return seq


class CaptureFaults:
    """The faults a simulated camera shows: from its config options ``fault_timeout_every``
    (every n-th capture times out) and ``fault_disconnect_after`` (unplugged after n frames),
    and from ``inject_fault``.

    Args:
        camera: the camera's name, for messages.
        options: the config entry's options.
    """

    def __init__(self, camera: str, options: Mapping[str, Any]) -> None:
        self.camera = camera
        self.kind: str | None = None
        self.unplugged = False
        self.timeout_every = int(options.get("fault_timeout_every", 0) or 0)
        self.disconnect_after = int(options.get("fault_disconnect_after", 0) or 0)
        self.captures = 0
        self.delivered = 0

    def inject(self, kind: str | None) -> None:
        """"timeout": every capture times out until cleared; "disconnect": unplugged now (every
        later call raises CameraDisconnected until reopened); None: clear the timeout fault.

        Raises:
            ValueError: ``kind`` is none of FAULT_KINDS.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; use one of {FAULT_KINDS}")
        self.kind = kind
        if kind == "disconnect":
            self.unplugged = True

    def check_plugged(self) -> None:
        """Raises CameraDisconnected once the camera was unplugged."""
        if self.unplugged:
            raise CameraDisconnected(f"camera {self.camera!r} is disconnected",
                                     "reconnect it and reopen the camera")

    def on_capture(self) -> bool:
        """Count one capture call; True when it must time out.

        Raises:
            CameraDisconnected: the camera unplugs now (after ``fault_disconnect_after`` frames,
                or a "disconnect" fault).
        """
        self.captures += 1
        if self.disconnect_after and self.delivered >= self.disconnect_after or self.kind == "disconnect":
            self.unplugged = True
            raise CameraDisconnected(f"camera {self.camera!r} disconnected after {self.delivered} frames",
                                     "reconnect it and reopen the camera")
        return bool(self.kind == "timeout" or (self.timeout_every and self.captures % self.timeout_every == 0))
