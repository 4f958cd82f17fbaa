"""A test double of the Picamera2 API: the subset drivers/picam.py (and the H.264 adapter) use.

Shaped like picamera2 0.3.x (raspberrypi/picamera2: picamera2.py, job.py, encoders/,
outputs/): the same class and method names, signatures, return shapes and errors.
It is NOT libcamera: no images of a scene, no ISP, no real timing. Differences a test
must know:

- frames are made on demand (virtual clock): a capture call produces the next frame;
  ``FakeRig.tick(camera_num, n)`` produces n frames (feeding attached encoders) that
  no one captured, so the next capture shows the gap, as a slow reader would;
- a stalled camera (``FakeRig.stall``) makes ``capture_*(wait=<seconds>)`` raise
  TimeoutError at once (picamera2 raises it after the wait); ``wait=None`` on a stalled
  camera raises AssertionError, because the real call would hang for ever;
- the H.264 "encoder" emits Annex-B framed placeholder NAL units (SPS, PPS, IDR/non-IDR),
  one access unit per frame, with the frame's SensorTimestamp in microseconds.

Use ``install(monkeypatch, models)`` to put ``picamera2``, ``picamera2.encoders`` and
``picamera2.outputs`` into ``sys.modules``; it returns the FakeRig.
"""
from __future__ import annotations

import enum
import io
import sys
import threading
import types
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import numpy as np

# Per sensor: what libcamera reports (values of real modules, rounded).
SENSORS = {
    "imx219": {
        "PixelArraySize": (3280, 2464),
        "modes": [((640, 480), 103.33, 10), ((1640, 1232), 41.85, 10), ((1920, 1080), 47.57, 10),
                  ((3280, 2464), 21.19, 10)],
        "controls": {"LensPosition": None},
    },
    "imx708_wide_noir": {
        "PixelArraySize": (4608, 2592),
        "modes": [((1536, 864), 120.13, 10), ((2304, 1296), 56.03, 10), ((4608, 2592), 14.35, 10)],
        "controls": {"LensPosition": (0.0, 32.0, 1.0), "AfMode": (0, 2, 0), "AfTrigger": (0, 1, 0)},
    },
}
COMMON_CONTROLS = {
    "ExposureTime": (26, 112015443, None), "AnalogueGain": (1.0, 16.0, None), "Brightness": (-1.0, 1.0, 0.0),
    "Contrast": (0.0, 32.0, 1.0), "Saturation": (0.0, 32.0, 1.0), "Sharpness": (0.0, 16.0, 1.0),
    "FrameDurationLimits": (8333, 120000000, None), "AeEnable": (False, True, None),
    "AwbEnable": (False, True, None), "ColourGains": (0.0, 32.0, None), "NoiseReductionMode": (0, 4, 0),
}


class FakeRig:
    """The cameras libcamera would see, and the knobs tests turn."""

    def __init__(self, models: list[str]) -> None:
        self.models = list(models)
        self.acquired: set[int] = set()
        self.stalled: set[int] = set()
        self.instances: dict[int, "Picamera2"] = {}

    def tick(self, camera_num: int, n: int = 1) -> None:
        """The sensor delivers n frames that no one captures (encoders still get them)."""
        cam = self.instances[camera_num]
        for _ in range(n):
            cam._produce()

    def stall(self, camera_num: int, stalled: bool = True) -> None:
        (self.stalled.add if stalled else self.stalled.discard)(camera_num)


_RIG: FakeRig | None = None


# ---------------------------------------------------------------- requests

class CompletedRequest:
    """One completed frame; release() returns it to the camera system."""

    def __init__(self, picam2: "Picamera2", frame_no: int, metadata: dict) -> None:
        self.picam2 = picam2
        self.frame_no = frame_no
        self.config = dict(picam2.camera_config)
        self._metadata = metadata
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        if self.config.get(name) is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        stream = self.config[name]
        w, h = stream["size"]
        v = (np.add.outer(np.arange(h), np.arange(w)) + self.frame_no) % 256
        if stream["format"] in ("RGB888", "BGR888"):
            return np.repeat(v.astype(np.uint8)[:, :, None], 3, axis=2)
        if stream["format"] in ("XBGR8888", "XRGB8888"):
            return np.repeat(v.astype(np.uint8)[:, :, None], 4, axis=2)
        if stream["format"] in ("YUV420", "YVU420"):
            out = np.full((h * 3 // 2, w), 128, np.uint8)
            out[:h] = v
            return out
        raise RuntimeError("Format " + stream["format"] + " not supported")

    def make_buffer(self, name: str) -> np.ndarray:
        return self.make_array(name).reshape(-1)

    def get_metadata(self) -> dict:
        return dict(self._metadata)

    def release(self) -> None:
        self.released = True


# ---------------------------------------------------------------- the camera

class Picamera2:
    """Picamera2(camera_num=0): one instance per camera; a second raises RuntimeError."""

    @staticmethod
    def global_camera_info() -> list:
        rig = _RIG
        return [{"Model": m, "Location": 2, "Rotation": 180 if i == 0 else 0,
                 "Id": f"/base/axi/pcie@120000/rp1/i2c@{88000 + 4000 * i}/{m.split('_')[0]}@1a", "Num": i}
                for i, m in enumerate(rig.models)]

    def __init__(self, camera_num=0, verbose_console=None, tuning=None) -> None:
        rig = _RIG
        self.is_open = False
        if not isinstance(camera_num, int) or not 0 <= camera_num < len(rig.models) or camera_num in rig.acquired:
            # libcamera refuses a second acquire of the same camera; picamera2 reports this
            raise RuntimeError("Camera __init__ sequence did not complete.")
        rig.acquired.add(camera_num)
        rig.instances[camera_num] = self
        self._rig = rig
        self.camera_idx = camera_num
        self.model = rig.models[camera_num]
        sensor = SENSORS[self.model]
        self.sensor_resolution = sensor["PixelArraySize"]
        self.sensor_format = "SRGGB10_CSI2P"
        self.camera_properties = {"Model": self.model, "PixelArraySize": self.sensor_resolution,
                                  "ScalerCropMaximum": (0, 0) + tuple(self.sensor_resolution),
                                  "Location": 2, "Rotation": 0, "ColorFilterArrangement": 0}
        controls = dict(COMMON_CONTROLS)
        controls["ScalerCrop"] = ((0, 0, 64, 64), (0, 0) + tuple(self.sensor_resolution),
                                  (0, 0) + tuple(self.sensor_resolution))
        for k, v in sensor["controls"].items():
            if v is None:
                controls.pop(k, None)
            else:
                controls[k] = v
        self._camera_controls = controls
        self.camera_config = None
        self.started = False
        self.encoders: set = set()
        self.controls_set: dict = {}
        self._frame_no = 0
        self._queued: list[CompletedRequest] = []
        self._lock = threading.Lock()
        self.is_open = True

    # ---- properties
    @property
    def camera_controls(self) -> dict:
        return dict(self._camera_controls)

    @property
    def sensor_modes(self) -> list:
        w_max, h_max = self.sensor_resolution
        modes = []
        for size, fps, depth in SENSORS[self.model]["modes"]:
            modes.append({"format": "SRGGB10_CSI2P", "unpacked": "SRGGB10", "bit_depth": depth, "size": size,
                          "fps": fps, "crop_limits": (0, 0, w_max, h_max),
                          "exposure_limits": (26, 112015443)})
        return modes

    # ---- configurations
    def _make_config(self, use_case, main, lores, raw, transform, colour_space, buffer_count, controls, display,
                     encode, queue, sensor, default_main):
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        for name, stream in (("main", main), ("lores", lores)):
            if stream is not None and not set(stream) <= {"format", "size"}:
                raise ValueError(f"Bad key in {name}: valid stream configuration keys are ('format', 'size')")
        main_cfg = {**default_main, **(main or {})}
        lores_cfg = None if lores is None else {"format": "YUV420", "size": main_cfg["size"], **lores}
        config = {"use_case": use_case, "transform": transform, "colour_space": colour_space,
                  "buffer_count": buffer_count, "queue": queue, "main": main_cfg, "lores": lores_cfg,
                  "raw": None if raw is None else {"format": self.sensor_format, "size": main_cfg["size"], **raw},
                  "controls": dict(controls), "sensor": dict(sensor or {})}
        for key, name in (("display", display), ("encode", encode)):
            if name is not None and config.get(name) is None:
                raise RuntimeError(f"{key.capitalize()} stream {name} was not defined")
        config["display"], config["encode"] = display, encode
        return config

    def create_preview_configuration(self, main={}, lores=None, raw={}, transform=None, colour_space=None,
                                     buffer_count=4, controls={}, display="main", encode="main", queue=True,
                                     sensor={}, use_case="preview") -> dict:
        return self._make_config(use_case, main, lores, raw, transform, colour_space, buffer_count, controls,
                                 display, encode, queue, sensor, {"format": "XBGR8888", "size": (640, 480)})

    def create_video_configuration(self, main={}, lores=None, raw={}, transform=None, colour_space=None,
                                   buffer_count=6, controls={}, display="main", encode="main", queue=True,
                                   sensor={}, use_case="video") -> dict:
        return self._make_config(use_case, main, lores, raw, transform, colour_space, buffer_count, controls,
                                 display, encode, queue, sensor, {"format": "XBGR8888", "size": (1280, 720)})

    def create_still_configuration(self, main={}, lores=None, raw={}, transform=None, colour_space=None,
                                   buffer_count=1, controls={}, display=None, encode=None, queue=True,
                                   sensor={}, use_case="still") -> dict:
        return self._make_config(use_case, main, lores, raw, transform, colour_space, buffer_count, controls,
                                 display, encode, queue, sensor, {"format": "BGR888", "size": self.sensor_resolution})

    def configure(self, camera_config="preview") -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if isinstance(camera_config, str):
            camera_config = getattr(self, f"create_{camera_config}_configuration")()
        for name in ("main", "lores"):
            stream = camera_config.get(name)
            if stream is None:
                continue
            w, h = stream["size"]
            if not isinstance(stream["size"], tuple) or w % 2 or h % 2:
                raise RuntimeError("width and height should be even")
            if w > self.sensor_resolution[0] * 2 or h > self.sensor_resolution[1] * 2:
                raise RuntimeError(f"{name} stream size {stream['size']} too large")
        lores = camera_config.get("lores")
        if lores is not None:
            if lores["size"][0] > camera_config["main"]["size"][0] or lores["size"][1] > camera_config["main"]["size"][1]:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            if lores["format"] not in ("YUV420", "YVU420"):
                raise RuntimeError("lores stream must be YUV")
        config = dict(camera_config)
        for name in ("main", "lores"):
            if config.get(name) is not None:
                stream = dict(config[name])
                bpp = {"RGB888": 3, "BGR888": 3, "XBGR8888": 4, "XRGB8888": 4}.get(stream["format"], 1)
                stream["stride"] = stream["size"][0] * bpp
                config[name] = stream
        self.camera_config = config
        self.controls_set = dict(config.get("controls", {}))

    def camera_configuration(self) -> dict:
        return self.camera_config

    # ---- running
    def start(self, config=None, show_preview=False) -> None:
        if self.camera_config is None and config is None:
            config = "preview"
        if config is not None:
            self.configure(config)
        self.started = True

    def stop(self) -> None:
        self.started = False
        self._queued.clear()

    def close(self) -> None:
        if not self.is_open:
            return
        self.stop()
        self.is_open = False
        self._rig.acquired.discard(self.camera_idx)
        self._rig.instances.pop(self.camera_idx, None)

    def set_controls(self, controls) -> None:
        for name in controls:
            if name not in self._camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
        self.controls_set.update(controls)

    # ---- the pipeline (virtual clock)
    def _frame_duration_us(self) -> int:
        limits = self.controls_set.get("FrameDurationLimits")
        if limits:
            return int(limits[0])
        size = self.camera_config["main"]["size"] if self.camera_config else (640, 480)
        fps = max(f for s, f, _ in SENSORS[self.model]["modes"] if s[0] >= size[0] and s[1] >= size[1]) \
            if any(s[0] >= size[0] and s[1] >= size[1] for s, _, _ in SENSORS[self.model]["modes"]) else 10.0
        return int(1e6 / fps)

    def _produce(self) -> CompletedRequest:
        assert self.started, "frames only flow while the camera is started"
        duration_us = self._frame_duration_us()
        exposure = int(self.controls_set.get("ExposureTime", min(duration_us, 20000)))
        metadata = {"SensorTimestamp": 1_000_000_000_000 + self._frame_no * duration_us * 1000,
                    "FrameDuration": duration_us, "ExposureTime": exposure,
                    "AnalogueGain": float(self.controls_set.get("AnalogueGain", 1.0)), "DigitalGain": 1.0,
                    "ColourGains": tuple(self.controls_set.get("ColourGains", (1.8, 1.6))), "Lux": 400.0,
                    "SensorTemperature": 41.0}
        if "LensPosition" in self._camera_controls:
            metadata["LensPosition"] = float(self.controls_set.get("LensPosition", 1.0))
        request = CompletedRequest(self, self._frame_no, metadata)
        self._frame_no += 1
        for encoder in list(self.encoders):
            encoder._encode_frame(request)
        self._queued = [request]     # picamera2 keeps at most one completed request
        return request

    def _next_request(self, wait) -> CompletedRequest:
        if self.camera_idx in self._rig.stalled:
            if wait is None or wait is True:
                raise AssertionError("capture on a stalled camera with no timeout would hang for ever")
            raise FutureTimeout()
        if not self.started:
            if wait is None or wait is True:
                raise AssertionError("capture on a stopped camera with no timeout would hang for ever")
            raise FutureTimeout()
        if self._queued:
            return self._queued.pop(0)
        self._produce()
        return self._queued.pop(0)

    def capture_request(self, wait=None, signal_function=None, flush=None) -> CompletedRequest:
        return self._next_request(wait)

    def capture_array(self, name="main", wait=None, signal_function=None) -> np.ndarray:
        request = self._next_request(wait)
        try:
            return request.make_array(name)
        finally:
            request.release()

    def capture_metadata(self, wait=None, signal_function=None) -> dict:
        request = self._next_request(wait)
        request.release()
        return request.get_metadata()

    # ---- encoders
    def start_encoder(self, encoder=None, output=None, pts=None, quality=None, name=None) -> None:
        if encoder is None:
            raise RuntimeError("No encoder specified")
        if output is not None:
            if isinstance(output, str):
                output = FileOutput(output, pts=pts)
            encoder.output = output
        name = name or self.camera_config.get("encode")
        if self.camera_config.get(name) is None:
            raise RuntimeError(f"Encode stream {name} was not defined")
        encoder.name = name
        encoder.width, encoder.height = self.camera_config[name]["size"]
        encoder.start(quality=quality)
        self.encoders.add(encoder)

    def stop_encoder(self, encoders=None) -> None:
        targets = list(self.encoders) if encoders is None else (
            [encoders] if isinstance(encoders, Encoder) else list(encoders))
        for encoder in targets:
            encoder.stop()
            self.encoders.discard(encoder)

    def start_recording(self, encoder, output, pts=None, config=None, quality=None, name=None) -> None:
        if self.camera_config is None and config is None:
            config = "video"
        if config is not None:
            self.configure(config)
        self.start_encoder(encoder, output, pts=pts, quality=quality, name=name)
        self.start()

    def stop_recording(self) -> None:
        self.stop()
        self.stop_encoder()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- encoders and outputs

class Quality(enum.Enum):
    VERY_LOW = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    VERY_HIGH = 4


class Output:
    """picamera2.outputs.Output: pts, if given, gets one 'ms.us' line per frame."""

    def __init__(self, pts=None) -> None:
        self.recording = False
        self.ptsoutput = open(pts, "w") if isinstance(pts, (str, Path)) else pts

    def start(self) -> None:
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False) -> None:
        """Subclasses write the frame."""

    def outputtimestamp(self, timestamp) -> None:
        if self.ptsoutput is not None and timestamp is not None:
            print(f"{timestamp // 1000}.{timestamp % 1000:03}", file=self.ptsoutput, flush=True)


class FileOutput(Output):
    """picamera2.outputs.FileOutput(file=None, pts=None, split=None): the first frame written is a keyframe."""

    def __init__(self, file=None, pts=None, split=None) -> None:
        super().__init__(pts=pts)
        self._needs_close = isinstance(file, (str, Path))
        if file is None or self._needs_close or isinstance(file, io.BufferedIOBase):
            self.fileoutput = open(file, "wb") if self._needs_close else file
        else:
            raise RuntimeError("Must pass io.BufferedIOBase")
        self._firstframe = True

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False) -> None:
        if self.fileoutput is None or not self.recording:
            return
        if self._firstframe:
            if not keyframe:
                return
            self._firstframe = False
        self.fileoutput.write(frame)
        self.fileoutput.flush()
        self.outputtimestamp(timestamp)

    def stop(self) -> None:
        super().stop()
        if self._needs_close:
            self.fileoutput.close()
        if self.ptsoutput is not None and hasattr(self.ptsoutput, "close"):
            self.ptsoutput.close()


class PyavOutput(Output):
    """picamera2.outputs.PyavOutput(output_name, format=None, pts=None): here it only keeps the packets."""

    def __init__(self, output_name, format=None, pts=None) -> None:
        super().__init__(pts=pts)
        self.output_name, self.format = output_name, format
        self.packets: list[tuple[bytes, bool, int | None]] = []

    def outputframe(self, frame, keyframe=True, timestamp=None, packet=None, audio=False) -> None:
        if self.recording:
            self.packets.append((bytes(frame), keyframe, timestamp))
            self.outputtimestamp(timestamp)


class Encoder:
    """picamera2.encoders.Encoder: an output (or list of them), started and stopped with the encoder."""

    def __init__(self) -> None:
        self._output: list[Output] = []
        self.name = None
        self.width = self.height = None
        self.running = False

    @property
    def output(self):
        return self._output

    @output.setter
    def output(self, value):
        value = value if isinstance(value, list) else [value]
        if not all(isinstance(o, Output) for o in value):
            raise RuntimeError("Must pass Output")
        self._output = value

    def start(self, quality=None) -> None:
        if self.running:
            raise RuntimeError("Encoder already running")
        self.running = True
        for out in self._output:
            out.start()

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        for out in self._output:
            out.stop()

    def _encode_frame(self, request: CompletedRequest) -> None:  # pragma: no cover - subclasses
        pass


class H264Encoder(Encoder):
    """picamera2.encoders.H264Encoder(bitrate=None, repeat=True, iperiod=None, framerate=None, ...)."""

    def __init__(self, bitrate=None, repeat=True, iperiod=None, framerate=None, enable_sps_framerate=False,
                 qp=None, profile=None) -> None:
        super().__init__()
        self.bitrate, self.repeat, self.iperiod = bitrate, repeat, iperiod
        self.framerate, self.qp, self.profile = framerate, qp, profile
        self._count = 0

    def _encode_frame(self, request: CompletedRequest) -> None:
        if not self.running:
            return
        keyframe = self._count % (self.iperiod or 60) == 0
        unit = b""
        if keyframe and (self.repeat or self._count == 0):
            unit += b"\x00\x00\x00\x01\x67fakeSPS" + b"\x00\x00\x00\x01\x68fakePPS"
        # the payload names the frame in ASCII, so it never contains a start code
        unit += b"\x00\x00\x00\x01" + (b"\x65" if keyframe else b"\x41") + b"frame%d" % request.frame_no
        self._count += 1
        ts_us = request.get_metadata()["SensorTimestamp"] // 1000
        for out in self._output:
            out.outputframe(unit, keyframe, ts_us)


# ---------------------------------------------------------------- install

def install(monkeypatch, models=("imx219", "imx708_wide_noir")) -> FakeRig:
    """Put the double in sys.modules as picamera2 (+ .encoders, .outputs); returns the rig."""
    global _RIG
    _RIG = FakeRig(list(models))
    root = types.ModuleType("picamera2")
    root.Picamera2 = Picamera2
    root.CompletedRequest = CompletedRequest
    root.__fake__ = True
    encoders = types.ModuleType("picamera2.encoders")
    encoders.Encoder, encoders.H264Encoder, encoders.Quality = Encoder, H264Encoder, Quality
    outputs = types.ModuleType("picamera2.outputs")
    outputs.Output, outputs.FileOutput, outputs.PyavOutput = Output, FileOutput, PyavOutput
    root.encoders, root.outputs = encoders, outputs
    monkeypatch.setitem(sys.modules, "picamera2", root)
    monkeypatch.setitem(sys.modules, "picamera2.encoders", encoders)
    monkeypatch.setitem(sys.modules, "picamera2.outputs", outputs)
    return _RIG
