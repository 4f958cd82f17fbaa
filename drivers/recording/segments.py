"""Segmented recording: a take split into parts at keyframes, no frame lost at a join.

``SegmentedOutput`` is an ``H264Output`` (drivers/recording/encoders.py) over a series of part
outputs (``AnnexBFileOutput`` or ``Mp4FileOutput``), each with its own timestamps file:
``{session}_camera_N_partK.{h264|mp4}`` and ``{session}_camera_N_partK.pts.txt``, K from 1.

Part K + 1 begins at the first keyframe at or after ``first + K * segment`` (``first``: the
take's first frame, so the boundaries do not drift). The encoder asks ``wants_keyframe(ts)``
before each frame and forces an IDR frame at the first one past a boundary (libx264); a
hardware encoder that cannot be forced splits at its next natural keyframe (one a second).
Every frame goes to exactly one part, so the parts' timestamps, read in order, are the
take's: the last frame of part K and the first of part K + 1 are one frame interval apart,
as are any two frames in a part.

Following picamera2's SplittableOutput (examples/split_output.py) and rpicam-apps' ``--segment``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from camdeck.drivers.recording.h264_output import EncoderError


@dataclass(frozen=True)
class Segment:
    """One finished (or the last) part of a camera's take, for the data file."""

    part: int
    video: Path
    timecodes: Path | None
    frames: int
    first_ms: float | None
    last_ms: float | None
    bytes_written: int


class SegmentedOutput:
    """Splits one camera's access units into parts at keyframes (see the module docstring).

    Args:
        open_part: opens the output of part K (from 1): an object with ``write``, ``flush``,
            ``close``, ``path``, ``timecodes_path``, ``bytes_written``, ``frames_written``,
            ``first_timestamp_ns``, ``last_timestamp_ns`` and ``failed``.
        segment_ns: the length of a part in ns (> 0).

    Raises:
        EncoderError: a segment length of zero or less.
    """

    def __init__(self, open_part: Callable[[int], Any], segment_ns: int) -> None:
        if segment_ns <= 0:
            raise EncoderError(f"a segment must last more than 0 s, got {segment_ns / 1e9:g} s",
                               "give --segment a positive length, e.g. 5m")
        self._open_part = open_part
        self.segment_ns = int(segment_ns)
        self._lock = threading.Lock()
        self._current: Any = None
        self._done: list[Segment] = []
        self._first_ns: int | None = None
        self._next_boundary_ns: int | None = None
        self.closed = False

    # -------- what the encoder and the session read
    def wants_keyframe(self, timestamp_ns: int) -> bool:
        """True when the frame at ``timestamp_ns`` should be a keyframe (a boundary is due)."""
        boundary = self._next_boundary_ns
        return boundary is not None and timestamp_ns >= boundary

    @property
    def current(self) -> Any:
        return self._current

    @property
    def bytes_written(self) -> int:
        return sum(s.bytes_written for s in self._done) + (self._current.bytes_written if self._current else 0)

    @property
    def frames_written(self) -> int:
        return sum(s.frames for s in self._done) + (self._current.frames_written if self._current else 0)

    @property
    def first_timestamp_ns(self) -> int | None:
        return self._first_ns

    @property
    def last_timestamp_ns(self) -> int | None:
        return self._current.last_timestamp_ns if self._current is not None else None

    @property
    def failed(self) -> OSError | None:
        return self._current.failed if self._current is not None else None

    def segments(self) -> list[Segment]:
        """Every part so far, the open one last (its figures as of now)."""
        with self._lock:
            parts = list(self._done)
            if self._current is not None:
                parts.append(_segment(len(parts) + 1, self._current))
            return parts

    # -------- H264Output
    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool = False) -> None:
        """Route one access unit to its part, opening the next part at a keyframe past a boundary."""
        with self._lock:
            if self.closed:
                raise EncoderError("segmented output: write after close", "this is a bug; report it")
            if self._current is None:
                self._current = self._open_part(1)
                if timestamp_ns is not None:
                    self._first_ns = int(timestamp_ns)
                    self._next_boundary_ns = self._first_ns + self.segment_ns
            elif (keyframe and timestamp_ns is not None and self._next_boundary_ns is not None
                  and timestamp_ns >= self._next_boundary_ns and self._current.frames_written):
                self._next_part_locked(int(timestamp_ns))
            self._current.write(data, timestamp_ns, keyframe)

    def _next_part_locked(self, timestamp_ns: int) -> None:
        part = len(self._done) + 1
        finished = self._current
        finished.close()          # OSError (disk full) reaches the encoder: this camera stops
        self._done.append(_segment(part, finished))
        while self._next_boundary_ns <= timestamp_ns:   # a part longer than one segment: skip past
            self._next_boundary_ns += self.segment_ns
        self._current = self._open_part(part + 1)

    def flush(self) -> None:
        with self._lock:
            if self._current is not None and not self.closed:
                self._current.flush()

    def close(self) -> None:
        """Close the open part (idempotent; OSError as its output raises it)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            if self._current is not None:
                self._current.close()


def _segment(part: int, out: Any) -> Segment:
    first, last = out.first_timestamp_ns, out.last_timestamp_ns
    return Segment(part=part, video=Path(out.path), timecodes=out.timecodes_path, frames=out.frames_written,
                   first_ms=None if first is None else first / 1e6, last_ms=None if last is None else last / 1e6,
                   bytes_written=out.bytes_written)
