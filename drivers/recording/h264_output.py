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


def _write_some(fd: int, data: bytes | bytearray) -> tuple[int, OSError | None]:
    """Write ``data`` to ``fd``: (bytes written, None), or (bytes written before it failed, the OSError).

    No memoryview outlives the call: a view kept alive by a raised exception's traceback is an
    export of the caller's bytearray, and resizing that bytearray (``clear()``) then raises
    BufferError ("Existing exports of data"), which is what a full disk used to end in.
    """
    done = 0
    with memoryview(data) as view:
        while done < len(view):
            try:
                done += os.write(fd, view[done:])
            except OSError as err:
                return done, err
    return done, None


def _whole_items(sizes: list[int], nbytes: int) -> tuple[int, int]:
    """(items, bytes) of the longest run of whole items, of ``sizes``, within ``nbytes``."""
    count = total = 0
    for size in sizes:
        if total + size > nbytes:
            break
        count, total = count + 1, total + size
    return count, total


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
    buffered here and written together at each flush. A flush that fails keeps what it wrote
    of whole frames: both files are cut back to the last frame whose access unit and
    timestamp line are both complete on the disk, so they hold the same frames (one
    timestamp line each) and the video decodes to its end. The error is raised to the writer
    and ``failed`` keeps it; later writes are refused, and ``close`` only closes the files.
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
        self._pending: list[tuple[int, int, int | None]] = []   # per buffered frame: unit bytes, line bytes, ts
        self._durable = [0, 0]           # bytes of each file on the disk after the last good flush
        if self.timecodes_path is not None:
            try:
                self._tc = open(self.timecodes_path, "xb", buffering=0)
                header = (TIMECODE_HEADER + "\n").encode("ascii")
                written, err = _write_some(self._tc.fileno(), header)
                if err is not None:
                    raise err
                self._durable[1] = written
            except BaseException:
                self._fh.close()
                if self._tc is not None:
                    self._tc.close()
                raise
        self._last_flush = self._wall()
        self.bytes_written = 0           # in the file once the next flush succeeds
        self.frames_written = 0
        self.flushes = 0
        self.first_timestamp_ns: int | None = None
        self.last_timestamp_ns: int | None = None
        self._durable_ts: int | None = None    # the last timestamp on the disk
        self.failed: OSError | None = None
        self.closed = False

    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool = False) -> None:
        """Append one access unit (and its timestamp line); flush when the interval is up.

        Raises:
            OSError: the flush failed (the files are cut back, see the class docstring).
            EncoderError: the output is closed or failed earlier.
        """
        with self._lock:
            if self.closed:
                raise EncoderError(f"{self.path.name}: write after close", "this is a bug; report it")
            if self.failed is not None:
                raise EncoderError(f"{self.path.name}: an earlier write failed ({self.failed})",
                                   "free disk space or check the drive; the file holds what came before")
            self._buf += data
            line = b""
            if timestamp_ns is not None:
                if self.first_timestamp_ns is None:
                    self.first_timestamp_ns = timestamp_ns
                if self._tc is not None:
                    line = f"{timestamp_ns / 1e6:.3f}\n".encode("ascii")
                    self._tc_buf += line
            self._pending.append((len(data), len(line), timestamp_ns))
            self.bytes_written += len(data)
            self.frames_written += 1
            if timestamp_ns is not None:
                self.last_timestamp_ns = timestamp_ns
            if self._wall() - self._last_flush >= self.flush_interval_s:
                self._flush_locked()

    def flush(self) -> None:
        """Write both files to the disk now (fsync)."""
        with self._lock:
            if not self.closed and self.failed is None:
                self._flush_locked()

    def _flush_locked(self) -> None:
        units = [u for u, _, _ in self._pending]
        lines = [t for _, t, _ in self._pending]
        written_v, err = _write_some(self._fh.fileno(), self._buf) if self._buf else (0, None)
        keep = len(self._pending) if err is None else _whole_items(units, written_v)[0]
        if self._tc is not None:
            # only the lines of the frames the video holds whole: the two files stay in step
            need = sum(lines[:keep])
            written_t, err_t = _write_some(self._tc.fileno(), self._tc_buf[:need]) if need else (0, None)
            err = err or err_t
            keep = min(keep, _whole_items(lines, written_t)[0])
        if err is None:
            try:
                os.fsync(self._fh.fileno())
                if self._tc is not None:
                    os.fsync(self._tc.fileno())
            except OSError as fsync_err:    # the data may not be on the disk: keep the last good flush
                keep, err = 0, fsync_err
        if err is not None:
            self._keep_frames_locked(keep)
            self.failed = err
            raise err
        self._durable[0] += len(self._buf)
        self._durable[1] += len(self._tc_buf)
        self._durable_ts = self.last_timestamp_ns
        self._buf.clear()
        self._tc_buf.clear()
        self._pending.clear()
        self._last_flush = self._wall()
        self.flushes += 1

    def _keep_frames_locked(self, keep: int) -> None:
        """After a failed flush: cut both files back to the first ``keep`` buffered frames (the
        last frame complete in both), fsync them, and count only the frames kept."""
        kept, dropped = self._pending[:keep], self._pending[keep:]
        for i, fh, size in ((0, self._fh, sum(u for u, _, _ in kept)), (1, self._tc, sum(t for _, t, _ in kept))):
            if fh is None:
                continue
            self._durable[i] += size
            try:
                os.ftruncate(fh.fileno(), self._durable[i])
                os.lseek(fh.fileno(), self._durable[i], os.SEEK_SET)
                os.fsync(fh.fileno())
            except OSError:  # the drive is gone: nothing more can be done to this file
                pass
        self.bytes_written -= sum(u for u, _, _ in dropped)
        self.frames_written -= len(dropped)
        kept_ts = [ts for _, _, ts in kept if ts is not None]
        if dropped:
            self.last_timestamp_ns = kept_ts[-1] if kept_ts else self._durable_ts
        self._buf.clear()
        self._tc_buf.clear()
        self._pending.clear()

    def close(self) -> None:
        """Flush, fsync and close both files (idempotent); OSError when the last flush failed
        (the files are then cut back, see the class docstring)."""
        with self._lock:
            if self.closed:
                return
            try:
                if self.failed is None:
                    self._flush_locked()
            finally:
                self.closed = True
                for fh in (self._fh, self._tc):
                    if fh is None:
                        continue
                    try:
                        fh.close()
                    except OSError:
                        pass
