"""H.264 encoders (the format); the per-camera track that drives them is in camera_track.py.

Following picamera2's split (encoders/ vs outputs/), an encoder turns frames into
H.264 access units and hands each one to an output; the output decides where the
bytes go. A recording composes the two:

- ``LibX264Encoder``: software H.264 through PyAV's libx264, for simulated and USB
  cameras (frames come to it one by one from the capture loop);
- ``Picamera2H264Adapter``: the Pi's hardware ``picamera2.encoders.H264Encoder``, fed by
  the camera's own pipeline; used only when a Picamera2 object is present;
- the output, ``AnnexBFileOutput`` (the ``.h264`` file and its timestamp sidecar), is in
  drivers/recording/h264_output.py;
- ``CameraTrack`` (drivers/recording/camera_track.py): one camera of a session (capture
  thread, bounded queue, encoder thread, output), with its ``CameraStats``.

Timestamps are nanoseconds since the session's common zero (the same zero for every
camera of a session), so the skew between cameras is a subtraction.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from camdeck.drivers.recording.h264_output import EncoderError



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
