"""The Annex B file output: where a recording's H.264 goes (the destination).

Following picamera2's split (encoders/ vs outputs/), the encoder (drivers/recording/encoders.py)
makes the format and the output decides where the bytes go; this module is the output,
kept apart from the encoders so the file handling (flushes, fsync, fault rollback) can be
read and tested on its own.

- ``AnnexBFileOutput``: raw Annex B bytes in ``{session}_camera_N.h264`` plus a
  per-frame timestamp sidecar ``{session}_camera_N.pts.txt`` (mkvmerge "timecode format
  v2": a header line, then one timestamp in milliseconds per frame, in file order),
  both flushed and fsync'd every ``flush_interval_s`` so a power cut loses at most that.

Timestamps in the sidecar are milliseconds since the session's common zero (the same
zero for every camera of a session), so the skew between cameras is a subtraction.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from camdeck.drivers.errors import DriverError

TIMECODE_HEADER = "# timecode format v2"


class EncoderError(DriverError):
    """The encoder cannot be set up or refused a frame, or its output cannot take more."""


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (OSError, e.g. ENOSPC, on failure; part may be written)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class AnnexBFileOutput:
    """Raw H.264 (Annex B) in a file, with a timecodes-v2 sidecar, flushed regularly.

    Args:
        path: the ``.h264`` file; it must not exist (created exclusively, so a file that
            appeared since the overwrite check is never clobbered).
        timecodes_path: the sidecar, or None for none.
        flush_interval_s: at most this many seconds of data sit in buffers; every
            interval both files are written and fsync'd.
        wall_clock: seconds clock used to pace the flushes (injectable for tests).

    ``write`` takes timestamps in ns since the session zero and is called once per frame
    (one access unit). Thread-safe: the encoder thread writes, the session reads the stats.

    Faults (a full disk, a pulled USB stick): the access units and their timestamp lines are
    buffered here and written together at each flush, so a flush that fails is undone: both
    files are cut back to the end of the last flush that succeeded, where they hold the
    same frames (whole access units, one timestamp line each) and the video decodes to
    the end. The error is raised to the writer and ``failed`` keeps it; later writes are
    refused, and ``close`` only closes the files.
    """

    def __init__(self, path: Path, timecodes_path: Path | None = None, *, flush_interval_s: float = 1.0,
                 wall_clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.timecodes_path = Path(timecodes_path) if timecodes_path else None
        self.flush_interval_s = float(flush_interval_s)
        self._wall = wall_clock
        self._lock = threading.Lock()
        self._fh = open(self.path, "xb", buffering=0)
        self._tc = None
        self._buf = bytearray()          # access units not yet written
        self._tc_buf = bytearray()       # their timestamp lines
        self._durable = [0, 0]           # bytes of each file written and fsync'd by the last good flush
        if self.timecodes_path is not None:
            try:
                self._tc = open(self.timecodes_path, "xb", buffering=0)
                header = (TIMECODE_HEADER + "\n").encode("ascii")
                _write_all(self._tc.fileno(), header)
                self._durable[1] = len(header)
            except BaseException:
                self._fh.close()
                if self._tc is not None:
                    self._tc.close()
                raise
        self._last_flush = self._wall()
        self.bytes_written = 0           # in the file once the next flush succeeds
        self.frames_written = 0
        self._durable_counts = (0, 0, None)   # bytes, frames, last timestamp at the last good flush
        self.flushes = 0
        self.first_timestamp_ns: int | None = None
        self.last_timestamp_ns: int | None = None
        self.failed: OSError | None = None
        self.closed = False

    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool = False) -> None:
        """Append one access unit (and its timestamp line); flush when the interval is up."""
        with self._lock:
            if self.closed:
                raise EncoderError(f"{self.path.name}: write after close", "this is a bug; report it")
            if self.failed is not None:
                raise EncoderError(f"{self.path.name}: an earlier write failed ({self.failed})",
                                   "free disk space or check the drive; the file holds what came before")
            self._buf += data
            self.bytes_written += len(data)
            self.frames_written += 1
            if timestamp_ns is not None:
                if self.first_timestamp_ns is None:
                    self.first_timestamp_ns = timestamp_ns
                self.last_timestamp_ns = timestamp_ns
                if self._tc is not None:
                    self._tc_buf += f"{timestamp_ns / 1e6:.3f}\n".encode("ascii")
            if self._wall() - self._last_flush >= self.flush_interval_s:
                self._flush_locked()

    def flush(self) -> None:
        """Write both files to the disk now (fsync)."""
        with self._lock:
            if not self.closed and self.failed is None:
                self._flush_locked()

    def _files(self):
        return [(0, self._fh, self._buf)] + ([(1, self._tc, self._tc_buf)] if self._tc is not None else [])

    def _flush_locked(self) -> None:
        try:
            for _, fh, buf in self._files():
                if buf:
                    _write_all(fh.fileno(), buf)
            for _, fh, _ in self._files():
                os.fsync(fh.fileno())
        except OSError as err:
            self.failed = err
            self._rollback_locked()
            raise
        for i, _, buf in self._files():
            self._durable[i] += len(buf)
            buf.clear()
        self._durable_counts = (self.bytes_written, self.frames_written, self.last_timestamp_ns)
        self._last_flush = self._wall()
        self.flushes += 1

    def _rollback_locked(self) -> None:
        """Cut both files back to the last good flush and forget what was buffered since."""
        for i, fh, buf in self._files():
            buf.clear()
            try:
                os.ftruncate(fh.fileno(), self._durable[i])
                os.lseek(fh.fileno(), self._durable[i], os.SEEK_SET)
                os.fsync(fh.fileno())
            except OSError:  # the drive is gone: nothing more can be done to this file
                pass
        self.bytes_written, self.frames_written, self.last_timestamp_ns = self._durable_counts

    def close(self) -> None:
        """Flush, fsync and close both files (idempotent); OSError when the last flush failed
        (the files are then cut back to the flush before, see the class docstring)."""
        with self._lock:
            if self.closed:
                return
            try:
                if self.failed is None:
                    self._flush_locked()
            finally:
                self.closed = True
                for _, fh, _ in self._files():
                    try:
                        fh.close()
                    except OSError:
                        pass
