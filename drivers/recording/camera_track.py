"""One camera of a recording: ``CameraTrack`` (capture thread -> bounded queue -> encoder
thread -> output) and its live figures, ``CameraStats``.

Moved verbatim from drivers/recording/encoders.py, which keeps the encoders (the format);
the session (drivers/recording/session.py) makes one track per camera and gives it the take's
output (drivers/recording/take.py).

Timestamps are nanoseconds since the session's common zero (the same zero for every
camera of a session), so the skew between cameras is a subtraction.
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from camdeck.drivers.errors import CaptureTimeout, DriverError
from camdeck.drivers.recording.encoders import (
    LibX264Encoder, Picamera2H264Adapter, hardware_encoder_for, rgb_to_i420,
)
from camdeck.drivers.recording.h264_output import AnnexBFileOutput

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_TIMEOUTS = 3      # then the camera counts as failed
CLOCK_MISMATCH_NS = 60 * 10**9    # frame clocks further than this from the session clock are re-based
WARMUP_LIMIT_NS = 2 * 10**9       # a camera whose frames are not yet steady after this records anyway


@dataclass(frozen=True)
class CameraStats:
    """Live figures of one camera in a session."""

    index: int
    name: str
    label: str
    frames: int = 0
    fps: float = 0.0
    dropped: int = 0
    bytes_written: int = 0
    status: str = "waiting"       # waiting, recording, done, fault
    fault: str = ""
    skipped: int = 0              # frames made before the first recorded one (warming up, leading the other camera)


def error_line(err: BaseException) -> str:
    """``err`` as one line led by its type (for a take's fault, warnings and notes)."""
    return f"{type(err).__name__}: " + " ".join((str(err) or "").split())


class CameraTrack:
    """One camera of a recording: capture thread -> bounded queue -> encoder thread -> output.

    With a Picamera2 camera the hardware encoder replaces both threads' work (frames never
    reach Python). A failure (CameraDisconnected, three capture timeouts in a row, a full
    disk) stops this track only: the output is drained and closed, so the file stays
    playable up to the fault; ``status`` becomes "fault", ``fault`` says why and
    ``fault_error`` keeps the exception. Frames the queue cannot take count as dropped, with
    the camera's own drops (seq gaps).

    Start-up, in order (the take's first frames come on time, so its first gap is one frame):
    ``prepare()`` opens the encoder before the camera starts; ``start()`` starts the camera,
    whose first frames are discarded until one follows its predecessor without a gap (a
    camera's first frames come late while it fills its pipeline; at most ``WARMUP_LIMIT_NS``);
    that frame is the camera's first steady one (``first_frame`` is set, ``first_ts`` holds its
    time on the session clock); the session then calls ``set_zero()`` with the take's common
    zero, the latest camera's first steady frame, and only then are frames encoded, stamped
    from that zero; a camera's frames from before the zero are not recorded (``lead_frames``),
    so every file of a take starts within a frame of the others. Dropped frames count from
    the first recorded frame (``first_seq``); every frame the camera made before it is skipped
    (``skipped_frames``), so written + dropped + skipped is every frame the camera made.
    """

    def __init__(self, index: int, spec: Any, camera: Any, video: Path, timecodes: Path,
                 clock: Callable[[], int], *, flush_interval_s: float = 1.0, crf: int = 23,
                 encoder_preset: str = "ultrafast", bitrate: int | None = None, output: Any = None) -> None:
        from camdeck.drivers.recording.data_file import nominal_fps

        self.index, self.spec, self.camera = index, spec, camera
        self.crf, self.encoder_preset, self.bitrate = crf, encoder_preset, bitrate
        self.clock = clock
        self.fps = nominal_fps(camera)
        # output: the take's (drivers/recording/take.py: mp4, segments, pre-trigger); else one .h264 file
        self.output = output if output is not None else AnnexBFileOutput(video, timecodes,
                                                                          flush_interval_s=flush_interval_s)
        self.hw = hardware_encoder_for(camera)
        self.encoder: Any = None
        self.queue: queue.Queue = queue.Queue(maxsize=max(4, min(int(self.fps), 60)))
        self.zero_ns = 0
        self.rebased = False
        self.frames = 0
        self.queue_dropped = 0
        self.status = "waiting"
        self.fault = ""
        self.fault_error: BaseException | None = None
        self.fault_elapsed_s: float | None = None
        self.first_frame = threading.Event()    # the first steady frame came (or the track gave up)
        self.first_ts: int | None = None        # its time on the session clock, ns
        self.first_seq: int | None = None       # the sequence number of the first recorded frame
        self.unseen_frames = 0                  # frames the camera dropped before the first one received
        self.warmup_frames = 0                  # frames discarded while the camera warmed up
        self.lead_frames = 0                    # steady frames from before the take's zero, not recorded
        self._drop_base = (0, 0)                # (seq gaps, queue drops) before the first recorded frame
        self.seq_dropped = 0                    # seq gaps since the first frame received (warm-up included)
        self._offset_ns = 0                     # camera clock -> session clock (non-zero when rebased)
        self._cam_dropped_base = 0              # the camera's drop count about the first recorded frame
        self._zero_ready = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._rate: collections.deque[int] = collections.deque(maxlen=30)   # recent frame timestamps (live fps)

    # -------- control
    def prepare(self) -> None:
        """Open the encoder for the camera's output size before the camera starts (the first
        frame would otherwise wait for PyAV, OpenCV and libx264 to load while the sensor runs on).
        A camera that cannot say its size gets its encoder at the first frame."""
        if self.hw is not None or self.encoder is not None:
            return
        try:
            width, height = self.camera.info().output_size
            rgb_to_i420(np.zeros((2, 2, 3), np.uint8))     # loads OpenCV now
            encoder = LibX264Encoder(int(width), int(height), self.fps, preset=self.encoder_preset,
                                     crf=self.crf, bitrate=self.bitrate)
            encoder.start(self.output)
        except Exception:  # an odd size or no PyAV: the encoder thread says it at the first frame
            return
        self.encoder = encoder

    def set_zero(self, zero_ns: int) -> None:
        """The take's common zero on the session clock: frames are stamped from it (any thread)."""
        if not self._zero_ready.is_set():
            self.zero_ns = int(zero_ns)
            self._zero_ready.set()

    def start(self, barrier: threading.Barrier) -> None:
        self.status = "recording"
        if self.hw is not None:
            self._threads = [threading.Thread(target=self._hardware_loop, args=(barrier,), daemon=True,
                                              name=f"rec-hw-{self.spec.name}")]
        else:
            self._threads = [threading.Thread(target=self._capture_loop, args=(barrier,), daemon=True,
                                              name=f"rec-cap-{self.spec.name}"),
                             threading.Thread(target=self._encode_loop, daemon=True, name=f"rec-enc-{self.spec.name}")]
        for t in self._threads:
            t.start()

    def request_stop(self) -> None:
        self._stop.set()
        self.first_frame.set()
        self.set_zero(self.first_ts if self.first_ts is not None else self.clock())

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait for the threads, then close the output (what was written stays).

        A thread still running after ``timeout_s`` (a driver call that never returns) is a
        fault of this camera: the output is closed all the same (its writes after that are
        refused), so the file holds what was written so far.
        """
        for t in self._threads:
            t.join(timeout_s)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            self._fail(DriverError(f"camera {self.spec.name!r}: {', '.join(stuck)} did not finish within "
                                   f"{timeout_s:g} s", "unplug and replug the camera; report it if it happens again"))
        if self.status == "recording":
            self.status = "done"
        try:
            self.output.close()
        except OSError as err:  # the last flush failed (disk full): what was flushed stays
            self._fail(err)
        if self.output.failed is not None:   # a flush failed earlier: the file ends at the flush before
            self._fail(self.output.failed)

    @property
    def alive(self) -> bool:
        return self.status in ("waiting", "recording")

    def stats(self) -> CameraStats:
        recent = list(self._rate)      # a snapshot: the encoder thread appends meanwhile
        n = len(recent)
        fps = (n - 1) * 1e9 / (recent[-1] - recent[0]) if n > 1 and recent[-1] > recent[0] else 0.0
        # the frames in the file: after a full disk the output keeps fewer than were encoded
        frames = self.output.frames_written if self.hw is None else self.hw_frames()
        return CameraStats(index=self.index, name=self.spec.name, label=self.spec.label, frames=frames,
                           fps=fps, dropped=self.dropped, bytes_written=self.output.bytes_written,
                           status=self.status, fault=self.fault, skipped=self.skipped_frames)

    def hw_frames(self) -> int:
        return self.encoder.frames if self.encoder is not None else 0

    @property
    def dropped(self) -> int:
        if self.first_seq is None:
            return 0
        try:
            cam_dropped = int(self.camera.dropped_frames) - self._cam_dropped_base
        except Exception:  # a vanished camera may not answer any more
            cam_dropped = 0
        gaps, queued = self._drop_base
        return max(self.seq_dropped - gaps, cam_dropped) + self.queue_dropped - queued

    @property
    def skipped_frames(self) -> int:
        """Frames the camera made that are not in the take: those it dropped before the first one
        received, the ones discarded warming up, the ones before the take's zero, and the seq gaps
        and queue drops before the first recorded frame (once it came; until then every drop so
        far). A frame lost just before the first recorded one cannot be placed either side of the
        zero (it has no timestamp), so it counts with the frames before the take, not as dropped."""
        if self.first_seq is None:
            before = self.seq_dropped + self.queue_dropped
        else:
            gaps, queued = self._drop_base
            before = gaps + queued
        return self.unseen_frames + self.warmup_frames + self.lead_frames + before

    @property
    def drop_pct(self) -> float:
        """Dropped frames as a share of the frames the camera made since the track's first frame."""
        made = self.stats().frames + self.dropped
        return 100.0 * self.dropped / made if made else 0.0

    def _fail(self, err: BaseException) -> None:
        if self.status != "fault":
            self.fault = error_line(err)
            self.fault_error = err
            self.fault_elapsed_s = (self.clock() - self.zero_ns) / 1e9 if self._zero_ready.is_set() else 0.0
            self.status = "fault"
        self._stop.set()
        self.first_frame.set()       # the session stops waiting for this camera

    # -------- threads
    def _steady(self, frame: Any, last_seq: int | None, warm_from: int | None) -> bool:
        """True when ``frame`` is the camera's first steady frame: it follows its predecessor
        without a gap, or the camera has warmed up for WARMUP_LIMIT_NS; the frame's clock is
        tied to the session clock here (``first_ts``)."""
        now = self.clock()
        steady = last_seq is not None and frame.seq == last_seq + 1
        if not steady and (warm_from is None or now - warm_from < WARMUP_LIMIT_NS):
            return False
        if abs(frame.timestamp - now) > CLOCK_MISMATCH_NS:
            # this camera's clock is not the session clock: its frame is about now
            self._offset_ns = now - frame.timestamp
            self.rebased = True
        self.first_ts = frame.timestamp + self._offset_ns
        self.first_frame.set()
        return True

    def _capture_loop(self, barrier: threading.Barrier) -> None:
        last_seq = None
        warm_from = None         # session clock at the first frame, while warming up
        timeouts = 0
        try:
            barrier.wait()
            self.camera.start()
        except threading.BrokenBarrierError:
            self._fail(DriverError("the session stopped before this camera started"))
        except Exception as err:
            self._fail(err)
        try:
            while not self._stop.is_set():
                try:
                    frame = self.camera.capture(max(1.0, 3.0 / self.fps))
                    timeouts = 0
                except CaptureTimeout as err:
                    timeouts += 1
                    if timeouts >= MAX_CONSECUTIVE_TIMEOUTS:
                        self._fail(err)
                    continue
                except Exception as err:  # CameraDisconnected and any driver failure: this camera only
                    self._fail(err)
                    break
                # Every gap counts, warming up included: a slow start (a loaded machine) loses
                # frames before the take too, and the take's accounting must still add up.
                if last_seq is None:
                    self.unseen_frames = self._camera_drops()
                elif frame.seq > last_seq + 1:
                    self.seq_dropped += frame.seq - last_seq - 1
                previous, last_seq = last_seq, frame.seq
                if self.first_ts is None:
                    if warm_from is None:
                        warm_from = self.clock()
                    if not self._steady(frame, previous, warm_from):
                        self.warmup_frames += 1
                        continue
                try:
                    self.queue.put_nowait((frame, self.seq_dropped, self.queue_dropped))
                except queue.Full:
                    self.queue_dropped += 1
        finally:
            self.queue.put(None)  # the encoder drains what is queued, then finishes the file
            self._stop_camera()

    def _camera_drops(self) -> int:
        """The camera's own drop count, 0 from a camera that cannot say. Read on the capture
        thread right after a capture, it covers exactly the frames up to that one (the drivers
        count a drop when they deliver the frame after it), so at the first frame it is the
        frames made before it: the sensor runs from ``start()`` while this thread may not."""
        try:
            return int(self.camera.dropped_frames)
        except Exception:  # noqa: BLE001 - a vanished camera may not answer any more
            return 0

    def _timestamp_ns(self, frame_ts: int) -> int:
        return frame_ts + self._offset_ns - self.zero_ns

    def _start_counting(self, seq: int, gaps: int, queued: int) -> None:
        """The first recorded frame: dropped frames count from here."""
        try:
            self._cam_dropped_base = int(self.camera.dropped_frames)
        except Exception:  # a camera that cannot say counts its gaps only
            self._cam_dropped_base = 0
        self._drop_base = (gaps, queued)
        self.first_seq = seq

    def _encode_loop(self) -> None:
        from camdeck.drivers.imaging import frame_to_rgb

        ended = False        # the capture thread's end marker was taken from the queue
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    ended = True
                    break
                if self.status == "fault" and self.fault.startswith("EncoderError"):
                    continue
                self._zero_ready.wait()      # the session names the take's zero once every camera delivers
                frame, gaps, queued = item
                ts = self._timestamp_ns(frame.timestamp)
                if self.first_seq is None:
                    if ts < 0:               # before the latest camera's first frame: not in the take
                        self.lead_frames += 1
                        continue
                    self._start_counting(frame.seq, gaps, queued)
                rgb = frame_to_rgb(frame)
                size = (rgb.shape[1], rgb.shape[0])
                if self.encoder is not None and self.frames == 0 and size != (self.encoder.width, self.encoder.height):
                    self.encoder = None      # prepared for another size; it has written nothing
                if self.encoder is None:
                    self.encoder = LibX264Encoder(size[0], size[1], self.fps, preset=self.encoder_preset,
                                                  crf=self.crf, bitrate=self.bitrate)
                    self.encoder.start(self.output)
                self.encoder.encode(rgb, ts)
                self.frames += 1
                self._rate.append(frame.timestamp)
            if self.encoder is not None:
                self.encoder.stop()
        except Exception as err:  # disk full, encoder failure: stop this camera, keep what was written
            self._fail(err)
            # Let the capture thread finish: it puts its end marker last, so drain up to it, unless
            # it was already taken (the failure came from the final flush, encoder.stop()).
            while not ended:
                ended = self.queue.get() is None
        finally:
            try:
                self.output.flush()
            except OSError as err:  # the file is cut back to the last good flush (see AnnexBFileOutput)
                self._fail(err)

    def _hardware_loop(self, barrier: threading.Barrier) -> None:  # pragma: no cover - needs a Pi
        try:
            barrier.wait()
            self.camera.start()
            self.first_ts = self.clock()     # the hardware encoder's frames never reach Python
            self._start_counting(0, 0, 0)
            self.first_frame.set()
            self._zero_ready.wait()
            self.encoder = Picamera2H264Adapter(self.hw, bitrate=self.bitrate, fps=self.fps,
                                                zero_us=self.zero_ns // 1000)
            self.encoder.start(self.output)
            self._stop.wait()
            self.encoder.stop()
        except Exception as err:
            self._fail(err)
        finally:
            self.frames = self.hw_frames()
            self._stop_camera()

    def _stop_camera(self) -> None:
        """Stop the camera at the end of the take; a disconnected camera may refuse, and the file
        is what matters then (the failure that ended the take is already recorded)."""
        try:
            self.camera.stop()
        except Exception as err:  # noqa: BLE001 - any driver failure; logged, the take goes on ending
            log.debug("camera %s did not stop cleanly: %s", self.spec.name, err)

    def encoder_parameters(self) -> dict[str, Any]:
        if self.encoder is not None:
            return self.encoder.parameters()
        return {"encoder": "libx264 (PyAV)" if self.hw is None else "picamera2 H264Encoder (hardware)",
                "nominal_fps": round(self.fps, 3)}
