"""One telemetry sample: what a message must hold, and the parser that refuses anything else.

A sample is JSON with ``pan_deg`` (or ``pan``), ``tilt_deg`` (or ``tilt``), ``zoom``, ``moving``
(optional) and ``timestamp`` (unix seconds, optional; receive time otherwise), each within the
MAX_* ranges below. monitoring.telemetry's latch counts what this refuses as malformed.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any, Mapping

#: Larger messages are malformed: a sample is about 150 bytes, and parsing megabytes on the
#: network thread would stall every other camera's telemetry.
MAX_PAYLOAD_BYTES = 64 * 1024

#: What a sample's values may be; outside, the message is malformed. Generous (ten turns of
#: a head, a 1000x zoom, unix seconds up to year 5138, a simulator's time factor included),
#: they keep garbage out of the latch's arithmetic: one timestamp of 1e300 once made a camera
#: "still" for 1e300 s at once, and +-1e308 made it infinitely still.
MAX_ANGLE_DEG = 3600.0
MAX_ZOOM = 1000.0
MAX_TIMESTAMP_S = 1e11


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
    """Decode one message.

    Raises:
        ValueError: what is wrong with it (other exceptions are possible on hostile input, e.g.
            RecursionError; TelemetryLatch.feed catches them all).
    """
    data = payload
    if isinstance(payload, (bytes, bytearray, str)):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"{len(payload)} bytes, more than the {MAX_PAYLOAD_BYTES} a sample may have")
        data = json.loads(payload)
    if not isinstance(data, Mapping):
        raise ValueError("not a JSON object")

    def number(*keys: str, lo: float, hi: float, default: float | None = None) -> float:
        for key in keys:
            if key in data:
                value = data[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValueError(f"{key} is not a number")
                try:
                    value = float(value)     # an int of 400 digits overflows here
                except OverflowError:
                    raise ValueError(f"{key} is too large") from None
                if not math.isfinite(value):
                    raise ValueError(f"{key} is not a finite number")
                if not lo <= value <= hi:
                    raise ValueError(f"{key} is outside [{lo:g}, {hi:g}]")
                return value
        if default is None:
            raise ValueError(f"{keys[0]} is missing")
        return default

    moving = data.get("moving", False)
    if not isinstance(moving, bool):
        raise ValueError("moving is not true/false")
    return TelemetrySample(camera=camera, pan_deg=number("pan_deg", "pan", lo=-MAX_ANGLE_DEG, hi=MAX_ANGLE_DEG),
                           tilt_deg=number("tilt_deg", "tilt", lo=-MAX_ANGLE_DEG, hi=MAX_ANGLE_DEG),
                           zoom=number("zoom", lo=0.0, hi=MAX_ZOOM, default=0.0), moving=moving,
                           timestamp=number("timestamp", lo=0.0, hi=MAX_TIMESTAMP_S,
                                            default=now_unix if now_unix is not None else time.time()),
                           received=received)
