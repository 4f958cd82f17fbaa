"""The fragmented MP4 output: a recording's H.264 in ``{session}_camera_N.mp4`` with true timestamps.

An ``H264Output`` (drivers/recording/encoders.py) like ``AnnexBFileOutput``: the encoder and the
capture loop stay as they are, only the destination differs. The access units are muxed as they
come (no re-encoding) through PyAV into a fragmented MP4:

- each frame's pts is its real timestamp, in microseconds since the session's common zero
  (time base 1/1,000,000; an edit list keeps the first frame's offset), so a player runs the
  take at its true speed, drops show as gaps, and two cameras of a session line up;
- ``movflags frag_keyframe+empty_moov+default_base_moof+frag_discont``: the ``moov`` comes
  first and holds no samples, and every keyframe (one a second) closes a fragment
  (``moof`` + ``mdat``) that is written at once; a take killed with ``kill -9`` keeps every
  fragment written before and plays;
- the timestamps file (timecode format v2, ms) is still written alongside: one line per frame
  of every fragment in the file. A fragment's lines are written after its bytes, so the
  MP4 never holds fewer frames than the timestamps file says.

A write that fails (ENOSPC) cuts the MP4 back to the end of the last whole fragment and
the timestamps file to that fragment's last frame; the error goes to the writer and
``failed`` keeps it (as AnnexBFileOutput does).
"""
from __future__ import annotations

import errno
import io
import logging
import os
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

from camdeck.drivers.recording.h264_output import TIMECODE_HEADER, EncoderError

log = logging.getLogger(__name__)

MP4_TIME_BASE = Fraction(1, 1_000_000)      # pts in microseconds since the session zero
MP4_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+default_base_moof+frag_discont",
    "use_editlist": "1",      # with frag_discont: the first pts stays the frame's real offset, not 0
    "flush_packets": "1",     # a finished fragment leaves libavformat's buffer at once
}


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _FileSink:
    """The file object PyAV writes to: every byte reaches the file, or OSError (ENOSPC) is raised."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = 0
        self.sealed = False     # after a failure or close: libavformat may not write again

    def write(self, data: bytes) -> int:
        if self.sealed:
            raise OSError(errno.EIO, "the file is closed to further writes")
        _write_all(self.fd, data)
        self.size += len(data)
        return len(data)


class Mp4FileOutput:
    """Fragmented MP4 in a file, with a timecodes-v2 sidecar, fsync'd regularly.

    Args:
        path: the ``.mp4`` file; it must not exist (created exclusively).
        timecodes_path: the sidecar, or None for none.
        flush_interval_s: both files are fsync'd at the first fragment after this many seconds.
        wall_clock: seconds clock pacing the fsyncs (injectable for tests).

    ``write`` takes one access unit (Annex B, SPS/PPS before each keyframe, as both encoders
    make them) with its timestamp in ns since the session zero. The container opens at the
    first keyframe (its SPS/PPS give the size and the ``avcC``); frames before it cannot be
    decoded and are left out (``skipped``). Thread-safe.

    Raises (from write/close):
        OSError: the disk is full or gone (the files are cut back, see the module docstring).
        EncoderError: a write after close or after a failure.
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
        try:
            if self.timecodes_path is not None:
                self._tc = open(self.timecodes_path, "xb", buffering=0)
                _write_all(self._tc.fileno(), (TIMECODE_HEADER + "\n").encode("ascii"))
        except BaseException:
            self._fh.close()
            raise
        self._sink = _FileSink(self._fh.fileno())
        self._container: Any = None
        self._stream: Any = None
        self._open_lines: list[bytes] = []      # timestamp lines of the fragment being built
        # at the end of the last whole fragment: MP4 bytes, frames, their access-unit bytes, last timestamp
        self._boundary: tuple[int, int, int, int | None] = (0, 0, 0, None)
        self._last_fsync = self._wall()
        self.bytes_written = 0
        self.frames_written = 0
        self.skipped = 0
        self.flushes = 0
        self.first_timestamp_ns: int | None = None
        self.last_timestamp_ns: int | None = None
        self.failed: OSError | None = None
        self.closed = False

    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool = False) -> None:
        """Mux one access unit; a keyframe closes the fragment before it (written to the file)."""
        with self._lock:
            if self.closed:
                raise EncoderError(f"{self.path.name}: write after close", "this is a bug; report it")
            if self.failed is not None:
                raise EncoderError(f"{self.path.name}: an earlier write failed ({self.failed})",
                                   "free disk space or check the drive; the file holds what came before")
            if self._container is None:
                if not keyframe or timestamp_ns is None:
                    self.skipped += 1      # nothing decodes before the first keyframe
                    return
                self._open_container(data)
            pts_us = int(timestamp_ns) // 1000
            import av

            packet = av.Packet(data)
            packet.stream = self._stream
            packet.time_base = MP4_TIME_BASE
            packet.pts = packet.dts = pts_us
            packet.is_keyframe = bool(keyframe)
            try:
                self._container.mux(packet)
            except OSError as err:
                self._fail_locked(err)
                raise
            if keyframe:      # the fragment before this frame is in the file now
                self._commit_locked()
            self._open_lines.append(f"{pts_us / 1000:.3f}\n".encode("ascii"))
            self.bytes_written += len(data)
            self.frames_written += 1
            if self.first_timestamp_ns is None:
                self.first_timestamp_ns = pts_us * 1000
            self.last_timestamp_ns = pts_us * 1000

    def _open_container(self, first_keyframe: bytes) -> None:
        import av

        # The raw H.264 demuxer reads the SPS/PPS of the first keyframe: size and extradata (avcC).
        try:
            probe = av.open(io.BytesIO(first_keyframe), format="h264")
        except Exception as err:  # av raises its own error types per version
            raise EncoderError(f"{self.path.name}: the first keyframe does not start an H.264 stream ({err})",
                               "the encoder must repeat SPS/PPS before each keyframe; record with --format h264")
        with probe:
            template = probe.streams.video[0]
            if not template.codec_context.extradata or not template.codec_context.width:
                raise EncoderError(f"{self.path.name}: the first keyframe carries no SPS/PPS",
                                   "the encoder must repeat SPS/PPS before each keyframe; record with --format h264")
            try:
                self._container = av.open(self._sink, "w", format="mp4", options=dict(MP4_OPTIONS))
                self._stream = self._container.add_stream_from_template(template)
            except OSError as err:
                self._fail_locked(err)
                raise
        self._stream.time_base = MP4_TIME_BASE

    def _commit_locked(self) -> None:
        """The open fragment's frames are in the MP4: write their timestamp lines; fsync when due."""
        if self._tc is not None and self._open_lines:
            try:
                _write_all(self._tc.fileno(), b"".join(self._open_lines))
            except OSError as err:
                self._fail_locked(err)
                raise
        # the frame being written (a keyframe) is not counted yet: the figures are the fragment's
        self._boundary = (self._sink.size, self._boundary[1] + len(self._open_lines), self.bytes_written,
                          self.last_timestamp_ns)
        self._open_lines.clear()
        if self._wall() - self._last_fsync >= self.flush_interval_s:
            self._fsync_locked()

    def _fsync_locked(self) -> None:
        try:
            os.fsync(self._fh.fileno())
            if self._tc is not None:
                os.fsync(self._tc.fileno())
        except OSError as err:
            self._fail_locked(err)
            raise
        self._last_fsync = self._wall()
        self.flushes += 1

    def _fail_locked(self, err: OSError) -> None:
        """Cut both files back to the last whole fragment and refuse later writes."""
        self.failed = err
        self._sink.sealed = True
        self._open_lines.clear()
        size, frames, unit_bytes, last_ns = self._boundary
        self._sink.size = size
        try:
            os.ftruncate(self._fh.fileno(), size)
            os.lseek(self._fh.fileno(), size, os.SEEK_SET)
            if self._tc is not None:
                os.ftruncate(self._tc.fileno(), _timecode_bytes(self.timecodes_path, frames))
        except OSError:  # the drive is gone: nothing more can be done to these files
            pass
        self.frames_written, self.bytes_written, self.last_timestamp_ns = frames, unit_bytes, last_ns
        if frames == 0:
            self.first_timestamp_ns = None

    def flush(self) -> None:
        """fsync both files (the fragment being built reaches the file at the next keyframe or at close)."""
        with self._lock:
            if not self.closed and self.failed is None:
                self._fsync_locked()

    def close(self) -> None:
        """Write the last fragment and the index, fsync and close both files (idempotent).

        Raises:
            OSError: the last fragment could not be written (the files end at the one before).
        """
        with self._lock:
            if self.closed:
                return
            try:
                if self.failed is None:
                    if self._container is not None:
                        try:
                            self._container.close()
                        except OSError as err:
                            self._fail_locked(err)
                            raise
                        self._commit_locked()
                    self._fsync_locked()
            finally:
                self.closed = True
                self._sink.sealed = True
                if self.failed is not None and self._container is not None:
                    try:     # free libavformat's state; the sealed sink takes no more bytes
                        self._container.close()
                    except Exception as err:  # noqa: BLE001 - the failure itself is in self.failed
                        log.debug("%s: closing the container after %r: %s", self.path, self.failed, err)
                for fh in (self._fh, self._tc):
                    if fh is not None:
                        try:
                            fh.close()
                        except OSError:
                            pass


def _timecode_bytes(path: Path | None, frames: int) -> int:
    """Bytes of the timestamps file's header and its first ``frames`` lines."""
    if path is None:
        return 0
    with open(path, "rb") as fh:
        lines = fh.read().split(b"\n")
    return sum(len(line) + 1 for line in lines[:frames + 1])
