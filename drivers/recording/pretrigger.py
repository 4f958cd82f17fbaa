"""The pre-trigger buffer: a take that includes the seconds before the operator pressed record.

As a dashcam or Frigate's pre-capture does, and picamera2's CircularOutput2
(examples/capture_circular_improved.py): while the session is armed, the cameras run and
their encoders too, and ``PreTriggerOutput`` keeps the encoded access units of the last
``window`` seconds in memory, starting at a keyframe (a part that begins mid-GOP cannot be
decoded). At the trigger the buffer is cut to start at the last keyframe at or before
``trigger - window`` (so it covers the whole window when the cameras ran that long, and
at most one GOP more), the files open, the buffered units are written in order, and every
later unit goes straight to the file: no frame is lost at the trigger.

The trigger is two-phase so that every camera of a session shares one zero:
``cut(trigger_ns)`` gives the timestamp of each buffer's first frame; the session takes the
earliest over its cameras as the take's zero and calls ``release(zero_ns)``, which opens
the real output and writes timestamps relative to that zero. So the files start at (about)
0 and the trigger lies ``trigger_ns - zero_ns`` into them; frames before it are the
pre-trigger frames, with their true spacing.

Memory: the buffer holds compressed units only, about the window times the bit rate (one
GOP more at most); ``buffered_bytes`` says how much (benchmarks/record_mp4.py measures it).
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Callable

from camdeck.drivers.recording.h264_output import EncoderError

MAX_PRETRIGGER_S = 60.0     # the longest buffer the CLI accepts (memory: see the module docstring)


class PreTriggerOutput:
    """A rolling buffer of encoded units in front of a real output (see the module docstring).

    Args:
        open_output: opens the real output (files) at the release; called once, in the
            session's thread.
        window_ns: how much to keep before the trigger, in ns (> 0).

    Thread-safe: the encoder thread writes, the session cuts and releases.
    """

    def __init__(self, open_output: Callable[[], Any], window_ns: int) -> None:
        if window_ns <= 0:
            raise EncoderError(f"a pre-trigger buffer must hold more than 0 s, got {window_ns / 1e9:g} s",
                               "give --pretrigger a positive length, e.g. 10s")
        self._open_output = open_output
        self.window_ns = int(window_ns)
        self._lock = threading.Lock()
        self._units: collections.deque[tuple[bytes, int | None, bool]] = collections.deque()
        self._keyframes = 0            # keyframes in the buffer
        self.buffered_bytes = 0        # compressed bytes held in memory now
        self.peak_buffered_bytes = 0
        self.frames_discarded = 0      # units that left the buffer before any trigger (never in a file)
        self.zero_ns: int | None = None
        self.trigger_ns: int | None = None
        self.inner: Any = None
        self.failed_release: OSError | None = None    # the files could not be opened at the release
        self.closed = False

    # -------- H264Output
    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool = False) -> None:
        with self._lock:
            if self.inner is not None:
                self.inner.write(data, self._shift(timestamp_ns), keyframe)
                return
            if self.closed:
                raise EncoderError("pre-trigger buffer: write after close", "this is a bug; report it")
            if self.failed_release is not None:
                raise EncoderError(f"the take's files could not be opened ({self.failed_release})",
                                   "free disk space or check the drive")
            if not self._units and not keyframe:
                self.frames_discarded += 1     # the buffer starts at a keyframe
                return
            self._units.append((data, timestamp_ns, keyframe))
            self._keyframes += keyframe
            self.buffered_bytes += len(data)
            self.peak_buffered_bytes = max(self.peak_buffered_bytes, self.buffered_bytes)
            if self.trigger_ns is None and timestamp_ns is not None:
                self._trim_locked(timestamp_ns - self.window_ns)

    def _trim_locked(self, keep_from_ns: int) -> None:
        """Drop whole GOPs while the next keyframe is still at or before ``keep_from_ns``."""
        while self._keyframes > 1:
            second = next(i for i, u in enumerate(self._units) if i and u[2])
            ts = self._units[second][1]
            if ts is None or ts > keep_from_ns:
                return
            for _ in range(second):
                data, _, key = self._units.popleft()
                self._keyframes -= key
                self.buffered_bytes -= len(data)
                self.frames_discarded += 1

    def _shift(self, timestamp_ns: int | None) -> int | None:
        return None if timestamp_ns is None else timestamp_ns - self.zero_ns

    def wants_keyframe(self, timestamp_ns: int) -> bool:
        inner = self.inner
        ask = getattr(inner, "wants_keyframe", None)
        return bool(ask and ask(timestamp_ns - self.zero_ns))

    # -------- the trigger
    def cut(self, trigger_ns: int) -> int | None:
        """Freeze the buffer at the trigger: it starts at the last keyframe at or before
        ``trigger_ns - window``. Returns its first frame's timestamp (None: it holds nothing).
        Units that come after the cut are kept until the release."""
        with self._lock:
            self.trigger_ns = int(trigger_ns)
            self._trim_locked(self.trigger_ns - self.window_ns)
            return self._units[0][1] if self._units else None

    def release(self, zero_ns: int) -> None:
        """Open the real output and write the buffer to it, timestamps relative to ``zero_ns``.

        Raises:
            whatever opening or writing the output raises (OSError: the disk).
        """
        with self._lock:
            self.zero_ns = int(zero_ns)
            inner = self._open_output()
            self.inner = inner
            while self._units:
                data, ts, key = self._units.popleft()
                self.buffered_bytes -= len(data)
                inner.write(data, self._shift(ts), key)
            self._keyframes = 0

    def buffered_frames(self) -> int:
        return len(self._units)

    # -------- the rest of the output protocol
    def flush(self) -> None:
        inner = self.inner
        if inner is not None:
            inner.flush()

    def close(self) -> None:
        """Close the real output; never released: the buffer is dropped and no file exists."""
        with self._lock:
            self.closed = True
            self._units.clear()
            self.buffered_bytes = 0
            inner = self.inner
        if inner is not None:
            inner.close()

    # -------- figures (the real output's once released)
    @property
    def failed(self) -> OSError | None:
        if self.failed_release is not None:
            return self.failed_release
        return self.inner.failed if self.inner is not None else None

    @property
    def bytes_written(self) -> int:
        return self.inner.bytes_written if self.inner is not None else 0

    @property
    def frames_written(self) -> int:
        return self.inner.frames_written if self.inner is not None else 0

    def __getattr__(self, name: str) -> Any:
        # path, timecodes_path, segments, ...: the real output's once it exists
        inner = self.__dict__.get("inner")
        if name.startswith("_") or inner is None:
            raise AttributeError(name)
        return getattr(inner, name)
