"""H.264 encoders (the format) and the per-camera recording track that drives them.

Following picamera2's split (encoders/ vs outputs/), an encoder turns frames into
H.264 access units and hands each one to an output; the output decides where the
bytes go. A recording composes the two:

- ``LibX264Encoder``: software H.264 through PyAV's libx264, for simulated and USB
  cameras (frames come to it one by one from the capture loop);
- ``Picamera2H264Adapter``: the Pi's hardware ``picamera2.encoders.H264Encoder``, fed by
  the camera's own pipeline; used only when a Picamera2 object is present;
- the output, ``AnnexBFileOutput`` (the ``.h264`` file and its timestamp sidecar), is in
  drivers/recording/h264_output.py;
- ``CameraTrack``: one camera of a session (capture thread, bounded queue, encoder
  thread, output), with its ``CameraStats``.

Timestamps are nanoseconds since the session's common zero (the same zero for every
camera of a session), so the skew between cameras is a subtraction.
"""
from __future__ import annotations

import collections
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from camdeck.drivers.errors import CaptureTimeout, DriverError
from camdeck.drivers.recording.h264_output import AnnexBFileOutput, EncoderError

MAX_CONSECUTIVE_TIMEOUTS = 3      # then the camera counts as failed
CLOCK_MISMATCH_NS = 60 * 10**9    # frame clocks further than this from the session clock are re-based
WARMUP_LIMIT_NS = 2 * 10**9       # a camera whose frames are not yet steady after this records anyway


class H264Output(Protocol):
    """Where encoded access units go. An output may also have ``wants_keyframe(timestamp_ns)``:
    true asks the encoder to make that frame an IDR frame (a segment boundary)."""

    def write(self, data: bytes, timestamp_ns: int | None, keyframe: bool = False) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def rgb_to_i420(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H * 3 / 2, W) uint8 planar YUV 4:2:0 (BT.601, as x264 expects)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420)


class LibX264Encoder:
    """Software H.264 through PyAV's libx264 (simulated and USB cameras).

    Args:
        width, height: frame size in px; both even (4:2:0 chroma).
        fps: nominal frame rate (rate control and the stream's timing hint).
        preset: x264 speed preset; "ultrafast" keeps two 1080p30 streams on two cores.
        crf: constant rate factor (quality); ignored when ``bitrate`` is given.
        bitrate: target bits per second, or None for constant quality.
        gop: frames between IDR frames (default: one per second), so a truncated file
            is playable from the last second on.
        threads: libx264 threads per stream.

    No B-frames and zero-latency tuning: one access unit per frame, in timestamp order,
    so the timecodes sidecar lines match the file's frames one to one.

    Raises:
        EncoderError: odd size, or PyAV/libx264 missing.
    """

    name = "libx264"

    def __init__(self, width: int, height: int, fps: float, *, preset: str = "ultrafast", crf: int = 23,
                 bitrate: int | None = None, gop: int | None = None, threads: int = 1) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise EncoderError(f"H.264 needs an even frame size, got {width}x{height}",
                               "set an even resolution for this camera in config.toml")
        self.width, self.height = int(width), int(height)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.preset, self.crf, self.bitrate = preset, int(crf), bitrate
        self.gop = int(gop) if gop else max(1, round(self.fps))
        self.threads = int(threads)
        self._ctx = None
        self._output: H264Output | None = None
        self._last_pts_us = -1

    def parameters(self) -> dict[str, Any]:
        """What the session data file records about this encoder."""
        rate = f"{self.bitrate} bit/s" if self.bitrate else f"crf {self.crf}"
        return {"encoder": "libx264 (PyAV)", "profile": "high, no B-frames (tune zerolatency)",
                "preset": self.preset, "rate_control": rate, "gop_frames": self.gop,
                "pixel_format": "yuv420p", "size": f"{self.width}x{self.height}", "nominal_fps": round(self.fps, 3)}

    def start(self, output: H264Output) -> None:
        """Open the codec; encoded access units go to ``output``."""
        try:
            import av
        except ImportError:  # pragma: no cover - av is a dependency
            raise EncoderError("PyAV is not installed", "pip install av") from None
        try:
            ctx = av.CodecContext.create("libx264", "w")
        except Exception as err:  # av raises its own error types per version
            raise EncoderError(f"libx264 is unavailable in this PyAV build ({err})",
                               "install a PyAV wheel built with libx264 (pip install av)") from None
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = Fraction(1, 1_000_000)   # pts in microseconds since the session zero
        ctx.framerate = Fraction(self.fps).limit_denominator(1001)
        ctx.gop_size = self.gop
        ctx.thread_count = self.threads
        ctx.max_b_frames = 0
        # SPS/PPS before every IDR: a file cut short decodes from any keyframe on.
        options = {"preset": self.preset, "tune": "zerolatency", "x264-params": "repeat-headers=1",
                   "forced-idr": "1"}   # a keyframe an output asks for (a segment boundary) is an IDR
        if self.bitrate:
            ctx.bit_rate = int(self.bitrate)
        else:
            options["crf"] = str(self.crf)
        ctx.options = options
        ctx.open()      # now, not at the first frame: the take's first frames come on time
        self._ctx = ctx
        self._output = output

    def encode(self, rgb: np.ndarray, timestamp_ns: int) -> int:
        """Encode one (H, W, 3) uint8 RGB frame taken ``timestamp_ns`` after the session zero.

        Returns the number of bytes handed to the output.
        """
        if self._ctx is None:
            raise EncoderError("encode() before start()", "this is a bug; report it")
        if rgb.shape[:2] != (self.height, self.width):
            raise EncoderError(f"frame is {rgb.shape[1]}x{rgb.shape[0]}, the stream is {self.width}x{self.height}",
                               "keep the camera's resolution fixed while recording")
        import av

        pts_us = max(int(timestamp_ns) // 1000, self._last_pts_us + 1)  # x264 needs rising pts
        self._last_pts_us = pts_us
        vf = av.VideoFrame.from_ndarray(rgb_to_i420(rgb), format="yuv420p")
        vf.pts = pts_us
        wants_keyframe = getattr(self._output, "wants_keyframe", None)   # a segment boundary is due
        if wants_keyframe is not None and wants_keyframe(pts_us * 1000):
            vf.pict_type = av.video.frame.PictureType.I
        return self._emit(self._ctx.encode(vf))

    def _emit(self, packets) -> int:
        n = 0
        for packet in packets:
            data = bytes(packet)
            ts = packet.pts * 1000 if packet.pts is not None else None
            self._output.write(data, ts, bool(packet.is_keyframe))
            n += len(data)
        return n

    def stop(self) -> int:
        """Drain the codec (any delayed access units go to the output). Idempotent."""
        if self._ctx is None:
            return 0
        try:
            return self._emit(self._ctx.encode(None))
        finally:
            self._ctx = None


class Picamera2H264Adapter:
    """The Pi's hardware H.264 encoder (``picamera2.encoders.H264Encoder``) behind our output.

    On a Pi the frames never reach Python: the camera pipeline feeds the hardware
    encoder, which calls its output per access unit. This adapter gives picamera2 an
    ``Output`` that forwards each unit, with its sensor timestamp, to an
    ``AnnexBFileOutput`` and counts frames for the session's statistics.

    Args:
        picam2: the started ``Picamera2`` object of the camera (``camera.picamera2``).
        bitrate: bits per second, or None for picamera2's default quality.
        fps: nominal rate, for the data file.
        zero_us: the session's common zero in the sensor clock (microseconds).
    """

    name = "picamera2-h264"

    def __init__(self, picam2: Any, *, bitrate: int | None = None, fps: float = 30.0, zero_us: int = 0) -> None:
        self.picam2 = picam2
        self.bitrate = bitrate
        self.fps = fps
        self.zero_us = int(zero_us)
        self.frames = 0
        self._encoder = None
        self._output: H264Output | None = None

    def parameters(self) -> dict[str, Any]:
        return {"encoder": "picamera2 H264Encoder (hardware)",
                "rate_control": f"{self.bitrate} bit/s" if self.bitrate else "picamera2 default",
                "nominal_fps": round(self.fps, 3)}

    def start(self, output: H264Output) -> None:
        """Attach the hardware encoder to the camera's running pipeline."""
        try:
            from picamera2.encoders import H264Encoder
            from picamera2.outputs import Output
        except ImportError:
            raise EncoderError("picamera2 is not installed", "sudo apt install python3-picamera2") from None
        adapter = self
        self._output = output

        class _Forward(Output):  # picamera2 calls outputframe(frame, keyframe, timestamp[, packet, audio])
            def outputframe(self, frame, keyframe=True, timestamp=None, *args, **kwargs):
                ts_ns = None if timestamp is None else (int(timestamp) - adapter.zero_us) * 1000
                output.write(bytes(frame), ts_ns, bool(keyframe))
                adapter.frames += 1

        kwargs = {"bitrate": self.bitrate} if self.bitrate else {}
        self._encoder = H264Encoder(repeat=True, iperiod=max(1, round(self.fps)), **kwargs)
        self.picam2.start_encoder(self._encoder, _Forward())

    def stop(self) -> int:
        if self._encoder is not None:
            try:
                self.picam2.stop_encoder(self._encoder)
            finally:
                self._encoder = None
        return 0


def hardware_encoder_for(camera: Any) -> Any | None:
    """The Picamera2 object of ``camera`` when it has a hardware H.264 encoder, else None."""
    picam2 = getattr(camera, "picamera2", None)
    return picam2 if picam2 is not None and hasattr(picam2, "start_encoder") else None


# ---------------------------------------------------------------- one camera of a recording

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
    skipped: int = 0              # frames from before the take's zero (warming up, or leading the other camera)


def _one_line(err: BaseException) -> str:
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
    the first recorded frame (``first_seq``).
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
        self.seq_dropped = 0
        self.queue_dropped = 0
        self.status = "waiting"
        self.fault = ""
        self.fault_error: BaseException | None = None
        self.fault_elapsed_s: float | None = None
        self.first_frame = threading.Event()    # the first steady frame came (or the track gave up)
        self.first_ts: int | None = None        # its time on the session clock, ns
        self.first_seq: int | None = None       # the sequence number of the first recorded frame
        self.warmup_frames = 0                  # frames discarded while the camera warmed up
        self.lead_frames = 0                    # steady frames from before the take's zero, not recorded
        self._drop_base = (0, 0)                # (seq gaps, queue drops) before the first recorded frame
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
        """Frames the camera gave that are not in the take: warming up, or before its zero."""
        return self.warmup_frames + self.lead_frames

    @property
    def drop_pct(self) -> float:
        """Dropped frames as a share of the frames the camera made since the track's first frame."""
        made = self.stats().frames + self.dropped
        return 100.0 * self.dropped / made if made else 0.0

    def _fail(self, err: BaseException) -> None:
        if self.status != "fault":
            self.fault = _one_line(err)
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
                if self.first_ts is None:
                    if warm_from is None:
                        warm_from = self.clock()
                    recording = self._steady(frame, last_seq, warm_from)
                    last_seq = frame.seq
                    if not recording:
                        self.warmup_frames += 1
                        continue
                if frame.seq > last_seq + 1:
                    self.seq_dropped += frame.seq - last_seq - 1
                last_seq = frame.seq
                try:
                    self.queue.put_nowait((frame, self.seq_dropped, self.queue_dropped))
                except queue.Full:
                    self.queue_dropped += 1
        finally:
            self.queue.put(None)  # the encoder drains what is queued, then finishes the file
            try:
                self.camera.stop()
            except Exception:  # a disconnected camera may refuse to stop; the file is what matters
                pass

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
            try:
                self.camera.stop()
            except Exception:
                pass

    def encoder_parameters(self) -> dict[str, Any]:
        if self.encoder is not None:
            return self.encoder.parameters()
        return {"encoder": "libx264 (PyAV)" if self.hw is None else "picamera2 H264Encoder (hardware)",
                "nominal_fps": round(self.fps, 3)}
