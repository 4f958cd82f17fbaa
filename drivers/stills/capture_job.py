"""The periodic capture job: a still from one camera every N seconds into a sink (drivers/stills/sinks.py).

The schedule starts when the first still is in hand, so the second still comes a full interval
after the first (a camera's first frame is often slow: auto-exposure, a sensor waking up).
A still the sink cannot store is spooled by the sink; one that can be neither stored nor kept
ends the job (SinkFull); a sink that Redis refuses (a password changed mid-run) ends it with
the still in the spool and the refusal in ``CaptureSummary.refused`` (bad input: exit 2).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from camdeck.drivers.errors import CameraDisconnected, DriverError
from camdeck.drivers.stills.sinks import SinkError, SinkRefused, StillImage, encode_still, one_line


@dataclass(frozen=True)
class CaptureEvent:
    """Progress of a periodic capture: ``kind`` is "stored", "spooled", "error" or "done"."""

    kind: str
    index: int = 0
    key: str = ""
    location: str = ""
    replayed: int = 0
    pending: int = 0
    message: str = ""
    width: int = 0
    height: int = 0
    timestamp: float = 0.0


@dataclass
class CaptureSummary:
    """What a periodic capture did."""

    captured: int = 0
    stored: int = 0
    spooled: int = 0
    replayed: int = 0
    pending: int = 0
    lost: int = 0                    # stills neither stored nor kept (the sink's disk was full)
    errors: list[str] = field(default_factory=list)
    stopped_by: str = "count"        # count, signal, camera, sink
    refused: str = ""                # the sink refused us (bad input), the line to show; "" otherwise

    @property
    def ok(self) -> bool:
        return not self.errors and self.pending == 0


def _meta_scalars(meta: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in meta.items():
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, (int, float, str, bool)) or v is None:
            out[str(k)] = v
        elif isinstance(v, (tuple, list)) and all(isinstance(x, (int, float)) for x in v):
            out[str(k)] = list(v)
    return out


def run_periodic_capture(camera: Any, sink: Any, *, every_s: float, count: int | None = None,
                         image_format: str = "png", capture_timeout_s: float = 5.0,
                         stop_event: threading.Event | None = None,
                         progress: Callable[[CaptureEvent], None] | None = None,
                         clock: Callable[[], float] = time.monotonic,
                         wall: Callable[[], float] = time.time) -> CaptureSummary:
    """Capture a still from ``camera`` every ``every_s`` seconds into ``sink``.

    The first still is taken at once; the ticks after it are scheduled from the moment it was
    in hand (no drift, and never less than ``every_s`` between two stills); a slow store skips
    to the next due tick. Stops after ``count`` stills, when ``stop_event`` is set, when the
    camera is disconnected, when the sink can neither store nor spool a still (SinkFull: an
    "error" event names it), or when the sink is refused (SinkRefused: the still is spooled,
    ``summary.refused`` says why). What was stored or spooled before stays, and the job ends
    with its "done" event and summary. The camera is started here and stopped at the end (not
    closed).

    Args:
        camera: an opened Camera.
        sink: an opened FolderSink or RedisSink.
        every_s: interval in seconds (> 0).
        count: how many stills, or None for until stopped.
        image_format: "png" or "jpeg".
        clock, wall: monotonic and unix seconds (injectable for tests).

    Returns:
        CaptureSummary; ``ok`` is false after a capture error, a refusal, or with stills left in the spool.
    """
    from camdeck.drivers.imaging import frame_to_rgb

    stop = stop_event or threading.Event()
    emit = progress or (lambda event: None)
    summary = CaptureSummary()
    fmt = "png" if image_format.lower() == "png" else "jpeg"
    summary.replayed += sink.replay()
    camera.start()
    start: float | None = None       # when the first still was in hand: the schedule's origin

    def next_tick(k: int) -> int:
        # strictly after now: a slow store never causes a burst of catch-up stills
        return max(k + 1, int((clock() - start) // every_s) + 1)

    try:
        k = 0
        while count is None or summary.captured < count:
            if start is not None:
                delay = start + k * every_s - clock()
                if delay > 0 and stop.wait(delay):
                    summary.stopped_by = "signal"
                    break
            if stop.is_set():
                summary.stopped_by = "signal"
                break
            try:
                frame = camera.capture(capture_timeout_s)
            except CameraDisconnected as err:
                summary.errors.append(one_line(err))
                emit(CaptureEvent("error", index=summary.captured, message=one_line(err)))
                summary.stopped_by = "camera"
                break
            except DriverError as err:
                summary.errors.append(one_line(err))
                emit(CaptureEvent("error", index=summary.captured, message=one_line(err)))
                start = clock() if start is None else start
                k = next_tick(k)
                continue
            if start is None:
                start = clock()
            ts = wall()
            rgb = frame_to_rgb(frame)
            still = StillImage(data=encode_still(rgb, fmt), format=fmt, camera=camera.name,
                               width=int(rgb.shape[1]), height=int(rgb.shape[0]), timestamp=ts, seq=frame.seq,
                               metadata=_meta_scalars(frame.meta))
            summary.captured += 1
            try:
                result = sink.put(still)
            except SinkRefused as err:   # refused (a wrong password, no such db): kept in the spool, stop
                summary.spooled += 1
                summary.refused = one_line(err)
                summary.errors.append(summary.refused)
                emit(CaptureEvent("spooled", index=summary.captured, key=still.key, location=str(err.kept_in),
                                  pending=sink.pending(), message=summary.refused, width=still.width,
                                  height=still.height, timestamp=ts))
                summary.stopped_by = "sink"
                break
            except SinkError as err:   # neither stored nor spooled (a full disk): stop, keep what is there
                summary.lost += 1
                summary.errors.append(one_line(err))
                emit(CaptureEvent("error", index=summary.captured, key=still.key, message=one_line(err),
                                  width=still.width, height=still.height, timestamp=ts))
                summary.stopped_by = "sink"
                break
            summary.replayed += result.replayed
            if result.stored:
                summary.stored += 1
            else:
                summary.spooled += 1
            emit(CaptureEvent("stored" if result.stored else "spooled", index=summary.captured, key=result.key,
                              location=result.location, replayed=result.replayed, pending=sink.pending(),
                              message=result.error, width=still.width, height=still.height, timestamp=ts))
            k = next_tick(k)
    finally:
        camera.stop()
    summary.replayed += sink.replay()
    summary.pending = sink.pending()
    emit(CaptureEvent("done", index=summary.captured, pending=summary.pending, replayed=summary.replayed,
                      message=summary.stopped_by))
    return summary
