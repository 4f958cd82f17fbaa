"""ONVIF PTZ cameras through onvif-zeep: connect, move in degrees, verify arrival, presets, frames.

Notes that shape this driver (see notes/onvif.md):
- the camera's clock is trusted for the WS-UsernameToken (``adjust_time=True``): the skew is
  measured at connect time and reported in ``info().extra["clock_skew_s"]``;
- every request has a timeout (zeep transport ``operation_timeout``), and a TCP probe with
  its own timeout runs first, so an unreachable host fails fast with a clear message;
- positions use the profile's generic spaces: degrees map linearly onto the advertised
  normalised ranges (usually [-1, 1] for pan and tilt, [0, 1] for zoom) through the
  camera's configured ``pan_range_deg`` / ``tilt_range_deg``;
- MoveStatus is not trusted: an absolute move with ``wait`` polls GetStatus until the
  position is within ``position_tol_deg`` of the target;
- onvif-zeep reports every failure as ``ONVIFError("Unknown error: ...")``; the zeep fault or
  the requests error underneath (``__context__``) decides which typed error is raised.
- frames are read by :mod:`drivers.onvif_media` from the URIs asked of the camera here.
Passwords are :class:`drivers.base.Secret` and never reach a message or a log.
"""
from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from typing import Any

import numpy as np

from camdeck.calibration import rotations as rot
from camdeck.drivers.base import (CameraBase, CameraInfo, CameraSpec, Capability, Frame, PtzControls, Secret,
                                  TelemetryFeed)
from camdeck.drivers.errors import ControlError, DriverError, DriverUnavailable, Stopped
from camdeck.drivers.onvif_media import (OnvifAuthError, OnvifFault, OnvifTimeout, OnvifUnreachable, read_rtsp_frame,
                                 read_snapshot)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def open_camera(spec: CameraSpec, ctx: Any) -> "OnvifPtzCamera":
    """Registry entry point (driver "onvif"): connect to the camera of ``spec``."""
    return OnvifPtzCamera(spec, ctx)


def network_endpoint(spec: CameraSpec) -> tuple[str, int] | None:
    """Registry hook: the (host, port) this driver connects to for ``spec`` (None when no port is set)."""
    port = int(spec.options.get("port") or 0)
    return (str(spec.options.get("host", "127.0.0.1")), port) if port else None


def _wsdl_dir() -> str:
    import onvif

    return os.path.join(os.path.dirname(os.path.dirname(onvif.__file__)), "wsdl")


def _import_onvif():
    """Import onvif-zeep without letting it reconfigure the root logger (it calls basicConfig)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import onvif  # noqa: F401
        from onvif import ONVIFCamera
    except ImportError:
        raise DriverUnavailable("the onvif driver needs onvif-zeep", "pip install onvif-zeep") from None
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return ONVIFCamera


class OnvifPtzCamera(PtzControls, CameraBase):
    """An ONVIF PTZ camera of a config entry (driver "onvif").

    Args:
        spec: the entry: host, port, username, password (Secret), profile, frames_from,
            pan_range_deg, tilt_range_deg, hfov_deg, telemetry_topic, deployment.
        ctx: driver context (unused beyond the clock).
        connect_timeout_s: TCP probe and per-request timeout, seconds.
        position_tol_deg: arrival tolerance of verified moves, degrees.
        poll_interval_s: GetStatus period while waiting for arrival.
    Raises:
        OnvifUnreachable, OnvifAuthError, OnvifTimeout, OnvifFault, DriverUnavailable.
    """

    def __init__(self, spec: CameraSpec, ctx: Any = None, *, connect_timeout_s: float = 5.0,
                 position_tol_deg: float = 0.1, poll_interval_s: float = 0.05) -> None:
        super().__init__(spec.name)
        opts = spec.options
        self.spec = spec
        self.host = str(opts.get("host", "127.0.0.1"))
        self.port = int(opts.get("port") or 80)
        self.username = str(opts.get("username", ""))
        password = opts.get("password", Secret(""))
        self._password = password if isinstance(password, Secret) else Secret(str(password))
        self.pan_range = tuple(float(x) for x in opts.get("pan_range_deg", (-180.0, 180.0)))
        self.tilt_range = tuple(float(x) for x in opts.get("tilt_range_deg", (-30.0, 90.0)))
        self.hfov_deg = tuple(float(x) for x in opts.get("hfov_deg", (60.0, 6.0)))
        self.frames_from = str(opts.get("frames_from", "snapshot"))
        self.deployment = str(opts.get("deployment", ""))
        self.telemetry_topic = str(opts.get("telemetry_topic", ""))
        self.timeout_s = float(connect_timeout_s)
        self.position_tol_deg = float(position_tol_deg)
        self.poll_interval_s = float(poll_interval_s)
        self.clock_skew_s = 0.0
        self._seq = 0
        self._size: tuple[int, int] | None = tuple(spec.resolution) if spec.resolution else None
        self._snapshot_uri: str | None = None
        self._stream_uri: str | None = None
        self._preset_tokens: dict[str, str] = {}
        self._connect()

    # ---------------------------------------------------------------- connection

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout_s):
                pass
        except socket.timeout:
            raise OnvifUnreachable(f"{self.name}: no answer from {self.address} within {self.timeout_s:g} s",
                                   "check host and port in config.toml, the network or the deployment's tunnel") from None
        except OSError as err:
            raise OnvifUnreachable(f"{self.name}: cannot reach {self.address} ({err.strerror or err})",
                                   "check host and port in config.toml, the deployment's tunnel, "
                                   "or start the simulator with `camdeck sim serve`") from None
        ONVIFCamera = _import_onvif()
        from zeep.transports import Transport

        transport = Transport(timeout=self.timeout_s, operation_timeout=self.timeout_s)
        if self.host in LOOPBACK:
            transport.session.trust_env = False     # a proxy from the environment must not see loopback calls
        saved = {k: os.environ.get(k) for k in ("http_proxy", "https_proxy")}
        try:
            self._cam = self._call("connect", lambda: ONVIFCamera(
                self.host, self.port, self.username, self._password.reveal(), wsdl_dir=_wsdl_dir(),
                no_cache=True, adjust_time=True, transport=transport))
            self.clock_skew_s = self._cam.dt_diff.total_seconds() if self._cam.dt_diff is not None else 0.0
            self._media = self._call("media service", self._cam.create_media_service)
            self._ptz = self._call("PTZ service", self._cam.create_ptz_service)
            self._select_profile()
        finally:
            for k, v in saved.items():   # onvif-zeep drops these from the process environment
                if v is not None:
                    os.environ[k] = v

    def _select_profile(self) -> None:
        profiles = self._call("GetProfiles", self._media.GetProfiles) or []
        wanted = str(self.spec.options.get("profile") or "")
        chosen = None
        for p in profiles:
            if wanted and wanted in (p.token, getattr(p, "Name", None)):
                chosen = p
                break
            if not wanted and getattr(p, "PTZConfiguration", None) is not None and chosen is None:
                chosen = p
        if chosen is None:
            names = ", ".join(f"{p.token} ({getattr(p, 'Name', '')})" for p in profiles) or "none"
            raise ControlError(f"{self.name}: no media profile {'named ' + repr(wanted) if wanted else 'with PTZ'}",
                               f"set cameras.{self.name}.profile to one of: {names}")
        self.profile = chosen.token
        if self._size is None and getattr(chosen, "VideoEncoderConfiguration", None) is not None:
            res = chosen.VideoEncoderConfiguration.Resolution
            self._size = (int(res.Width), int(res.Height))
        config = getattr(chosen, "PTZConfiguration", None)
        self._x_range, self._y_range, self._z_range = (-1.0, 1.0), (-1.0, 1.0), (0.0, 1.0)
        if config is not None:
            options = self._call("GetConfigurationOptions",
                                 lambda: self._ptz.GetConfigurationOptions({"ConfigurationToken": config.token}))
            spaces = getattr(options, "Spaces", None)
            pt = [s for s in (getattr(spaces, "AbsolutePanTiltPositionSpace", None) or []) if "Generic" in s.URI]
            zs = [s for s in (getattr(spaces, "AbsoluteZoomPositionSpace", None) or []) if "Generic" in s.URI]
            if pt:
                self._x_range = (float(pt[0].XRange.Min), float(pt[0].XRange.Max))
                self._y_range = (float(pt[0].YRange.Min), float(pt[0].YRange.Max))
            if zs:
                self._z_range = (float(zs[0].XRange.Min), float(zs[0].XRange.Max))

    def _call(self, what: str, fn, *args: Any) -> Any:
        try:
            return fn(*args)
        except DriverError:
            raise
        except Exception as err:  # onvif-zeep wraps everything; translate by the cause
            raise self._translate(what, err) from None

    def _translate(self, what: str, err: BaseException) -> DriverError:
        chain = []
        e: BaseException | None = err
        while e is not None and len(chain) < 6:
            chain.append(e)
            e = e.__cause__ or e.__context__
        names = {type(x).__name__ for x in chain}
        for x in chain:
            subcodes = [str(getattr(q, "localname", q)).rsplit(":", 1)[-1].rsplit("}", 1)[-1]
                        for q in (getattr(x, "subcodes", None) or [])]
            if type(x).__name__ == "Fault":
                message = getattr(x, "message", "") or str(x)
                if "NotAuthorized" in subcodes or "not authorized" in message.lower():
                    return OnvifAuthError(
                        f"{self.name}: {self.address} refused the credentials of user {self.username!r} ({what})",
                        f"check cameras.{self.name}.username and password, and the camera's clock "
                        f"(measured skew {self.clock_skew_s:+.0f} s)")
                if {"InvalidPosition", "InvalidArgVal", "InvalidVelocity"} & set(subcodes):
                    return ControlError(f"{self.name}: the camera rejected {what}: {message}",
                                        f"keep moves within pan {self.pan_range} and tilt {self.tilt_range} degrees")
                return OnvifFault(f"{self.name}: {what} failed with a SOAP fault: {message}"
                                  + (f" ({', '.join(subcodes)})" if subcodes else ""),
                                  "check that the camera supports this operation and profile")
            if type(x).__name__ == "TransportError" and getattr(x, "status_code", 0) == 401:
                return OnvifAuthError(f"{self.name}: {self.address} answered 401 Unauthorized ({what})",
                                      f"check cameras.{self.name}.username and password")
        if names & {"Timeout", "ReadTimeout", "ConnectTimeout", "timeout", "TimeoutError"}:
            return OnvifTimeout(f"{self.name}: {self.address} did not answer {what} within {self.timeout_s:g} s",
                                "check the camera and the network; it may be overloaded or rebooting")
        if names & {"ConnectionError", "ConnectionRefusedError", "NewConnectionError", "MaxRetryError"}:
            return OnvifUnreachable(f"{self.name}: lost the connection to {self.address} during {what}",
                                    "check the camera, the network and the deployment's tunnel")
        detail = " ".join(str(err).replace("Unknown error:", "").split())[:200]
        return OnvifFault(f"{self.name}: {what} failed: {detail or type(err).__name__}",
                          "check that this is an ONVIF camera with the media and PTZ services")

    # ---------------------------------------------------------------- coordinates

    def to_normalized(self, pan_deg: float, tilt_deg: float, zoom: float) -> tuple[float, float, float]:
        """Degrees and zoom -> the camera's generic position space (x, y, z)."""
        (p0, p1), (t0, t1) = self.pan_range, self.tilt_range
        (x0, x1), (y0, y1), (z0, z1) = self._x_range, self._y_range, self._z_range
        return (x0 + (pan_deg - p0) / (p1 - p0) * (x1 - x0), y0 + (tilt_deg - t0) / (t1 - t0) * (y1 - y0),
                z0 + zoom * (z1 - z0))

    def from_normalized(self, x: float, y: float, z: float) -> tuple[float, float, float]:
        """The camera's generic position (x, y, z) -> (pan_deg, tilt_deg, zoom)."""
        (p0, p1), (t0, t1) = self.pan_range, self.tilt_range
        (x0, x1), (y0, y1), (z0, z1) = self._x_range, self._y_range, self._z_range
        return (p0 + (x - x0) / (x1 - x0) * (p1 - p0), t0 + (y - y0) / (y1 - y0) * (t1 - t0),
                (z - z0) / (z1 - z0))

    # ---------------------------------------------------------------- Camera

    def info(self) -> CameraInfo:
        caps = Capability.RGB | Capability.PTZ | Capability.PRESETS | Capability.SNAPSHOT
        if self.telemetry_topic:
            caps |= Capability.TELEMETRY
        size = self._size or (0, 0)
        return CameraInfo(name=self.name, driver="onvif", model=self.spec.model, serial=None, sensor_size=size,
                          output_size=size, pixel_format="RGB", capabilities=caps,
                          extra={"address": self.address, "profile": self.profile,
                                 "clock_skew_s": self.clock_skew_s, "frames_from": self.frames_from})

    def intrinsics(self, zoom: float | None = None) -> np.ndarray:
        """Nominal K (3, 3) at ``zoom`` from the configured ``hfov_deg`` and the frame size."""
        z = self.position()[2] if zoom is None else zoom
        w, h = self._size or (1920, 1080)
        return rot.K_at_zoom(min(max(z, 0.0), 1.0), self.hfov_deg, w, h)

    def capture(self, timeout_s: float | None = None) -> Frame:
        """One frame (H, W, 3) uint8 RGB from the snapshot URI or the RTSP stream, with the position in meta."""
        timeout = float(timeout_s or self.timeout_s)
        rgb = self._snapshot(timeout) if self.frames_from == "snapshot" else self._rtsp_frame(timeout)
        t_ns = time.monotonic_ns()
        self._size = (int(rgb.shape[1]), int(rgb.shape[0]))
        pan, tilt, zoom = self.position()
        self._seq += 1
        return Frame(array=rgb, timestamp=t_ns, seq=self._seq, camera=self.name,
                     meta={"format": "RGB", "pan_deg": pan, "tilt_deg": tilt, "zoom": zoom,
                           "K": self.intrinsics(zoom).tolist(), "source": self.frames_from})

    def _snapshot(self, timeout: float) -> np.ndarray:
        if self._snapshot_uri is None:
            reply = self._call("GetSnapshotUri", lambda: self._media.GetSnapshotUri({"ProfileToken": self.profile}))
            self._snapshot_uri = str(reply.Uri)
        return read_snapshot(self._snapshot_uri, self.username, self._password.reveal(), timeout,
                             camera=self.name, address=self.address, no_proxy=self.host in LOOPBACK)

    def _rtsp_frame(self, timeout: float) -> np.ndarray:
        """The first whole frame of a fresh RTSP session (see :func:`drivers.onvif_media.read_rtsp_frame`)."""
        if self._stream_uri is None:
            reply = self._call("GetStreamUri", lambda: self._media.GetStreamUri(
                {"ProfileToken": self.profile,
                 "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}}))
            self._stream_uri = str(reply.Uri)
        try:
            return read_rtsp_frame(self._stream_uri, self.username, self._password.reveal(), timeout,
                                   camera=self.name, address=self.address)
        except Exception:
            self._stream_uri = None   # ask again next time: a rebooted camera may move its stream
            raise

    def _close(self) -> None:
        self._cam = None

    # ---------------------------------------------------------------- PTZ

    def status(self) -> tuple[float, float, float, bool]:
        """(pan_deg, tilt_deg, zoom, moving) from GetStatus (moving as the camera reports it)."""
        st = self._call("GetStatus", lambda: self._ptz.GetStatus({"ProfileToken": self.profile}))
        pos = getattr(st, "Position", None)
        if pos is None or getattr(pos, "PanTilt", None) is None:
            raise OnvifFault(f"{self.name}: GetStatus gave no position", "the camera must report its absolute position")
        z = float(pos.Zoom.x) if getattr(pos, "Zoom", None) is not None else self._z_range[0]
        pan, tilt, zoom = self.from_normalized(float(pos.PanTilt.x), float(pos.PanTilt.y), z)
        ms = getattr(st, "MoveStatus", None)
        moving = ms is not None and "MOVING" in (str(getattr(ms, "PanTilt", "")), str(getattr(ms, "Zoom", "")))
        return pan, tilt, zoom, moving

    def position(self) -> tuple[float, float, float]:
        return self.status()[:3]

    def check_target(self, pan_deg: float, tilt_deg: float, zoom: float) -> None:
        for label, value, (lo, hi) in (("pan", pan_deg, self.pan_range), ("tilt", tilt_deg, self.tilt_range),
                                       ("zoom", zoom, (0.0, 1.0))):
            if not (isinstance(value, (int, float)) and math.isfinite(value)) or not lo - 1e-9 <= value <= hi + 1e-9:
                raise ControlError(f"{self.name}: {label} {value} is outside the camera's range [{lo:g}, {hi:g}]",
                                   f"give a {label} within [{lo:g}, {hi:g}]")

    def move_absolute(self, pan_deg: float, tilt_deg: float, zoom: float | None = None, *,
                      wait: bool = True, timeout_s: float = 30.0, stop: threading.Event | None = None) -> None:
        """AbsoluteMove to degrees; with ``wait``, poll the position until it is within tolerance.

        Raises:
            ControlError: outside the configured ranges (checked before sending).
            OnvifTimeout: not arrived within ``timeout_s``.
            Stopped: ``stop`` was set while waiting (the head goes on to the target).
        """
        if zoom is None:
            zoom = self.position()[2]
        self.check_target(pan_deg, tilt_deg, zoom)
        x, y, z = self.to_normalized(pan_deg, tilt_deg, zoom)
        self._call("AbsoluteMove", lambda: self._ptz.AbsoluteMove(
            {"ProfileToken": self.profile, "Position": {"PanTilt": {"x": x, "y": y}, "Zoom": {"x": z}}}))
        if wait:
            self.wait_position((pan_deg, tilt_deg, zoom), timeout_s, stop=stop)

    def wait_position(self, target: tuple[float, float, float], timeout_s: float = 30.0, *,
                      stop: threading.Event | None = None) -> tuple[float, float, float]:
        """Poll GetStatus until the head is at ``target`` (pan, tilt degrees within tolerance; zoom within 1e-3).

        Raises:
            OnvifTimeout: not there within ``timeout_s``.  Stopped: ``stop`` was set first.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            if stop is not None and stop.is_set():
                raise Stopped(f"{self.name}: stopped waiting for the head", "")
            pan, tilt, zoom, _ = self.status()
            dpan = abs(pan - target[0])
            if self.pan_range[1] - self.pan_range[0] >= 360.0:
                dpan = min(dpan, 360.0 - dpan)
            if dpan <= self.position_tol_deg and abs(tilt - target[1]) <= self.position_tol_deg \
                    and abs(zoom - target[2]) <= 1e-3:
                return pan, tilt, zoom
            if time.monotonic() >= deadline:
                raise OnvifTimeout(f"{self.name}: not at pan {target[0]:g}, tilt {target[1]:g}, zoom {target[2]:g} "
                                   f"after {timeout_s:g} s (at {pan:.2f}, {tilt:.2f}, {zoom:.3f})",
                                   "raise the timeout, or check that the head can reach that position")
            if stop is not None:
                stop.wait(self.poll_interval_s)
            else:
                time.sleep(self.poll_interval_s)

    def move_relative(self, dpan_deg: float, dtilt_deg: float, dzoom: float = 0.0) -> None:
        """RelativeMove by degrees (translation space: [-1, 1] spans half of each range)."""
        sx = (self._x_range[1] - self._x_range[0]) / (self.pan_range[1] - self.pan_range[0])
        sy = (self._y_range[1] - self._y_range[0]) / (self.tilt_range[1] - self.tilt_range[0])
        self._call("RelativeMove", lambda: self._ptz.RelativeMove(
            {"ProfileToken": self.profile, "Translation": {"PanTilt": {"x": dpan_deg * sx, "y": dtilt_deg * sy},
                                                           "Zoom": {"x": dzoom}}}))

    def move_continuous(self, pan_speed: float, tilt_speed: float, zoom_speed: float = 0.0,
                        duration_s: float | None = None) -> None:
        """ContinuousMove at fractions of full speed in [-1, 1], optionally for ``duration_s``."""
        request: dict[str, Any] = {"ProfileToken": self.profile,
                                   "Velocity": {"PanTilt": {"x": pan_speed, "y": tilt_speed}, "Zoom": {"x": zoom_speed}}}
        if duration_s:
            request["Timeout"] = f"PT{duration_s:g}S"
        self._call("ContinuousMove", lambda: self._ptz.ContinuousMove(request))

    def stop_motion(self) -> None:
        self._call("Stop", lambda: self._ptz.Stop({"ProfileToken": self.profile, "PanTilt": True, "Zoom": True}))

    def telemetry_feed(self) -> TelemetryFeed:
        """MQTT on the configured ``telemetry_topic`` (ONVIF has no position stream of its own); "none" without one."""
        return TelemetryFeed("mqtt", self.telemetry_topic) if self.telemetry_topic else TelemetryFeed("none")

    def presets(self) -> dict[str, tuple[float, float, float]]:
        reply = self._call("GetPresets", lambda: self._ptz.GetPresets({"ProfileToken": self.profile})) or []
        out: dict[str, tuple[float, float, float]] = {}
        self._preset_tokens = {}
        for p in reply:
            name = str(getattr(p, "Name", None) or p.token)
            self._preset_tokens[name] = str(p.token)
            pos = getattr(p, "PTZPosition", None)
            if pos is not None and getattr(pos, "PanTilt", None) is not None:
                z = float(pos.Zoom.x) if getattr(pos, "Zoom", None) is not None else self._z_range[0]
                out[name] = self.from_normalized(float(pos.PanTilt.x), float(pos.PanTilt.y), z)
            else:
                out[name] = (math.nan, math.nan, math.nan)
        return out

    def set_preset(self, name: str) -> str:
        """Store the current position as preset ``name``; returns its token."""
        reply = self._call("SetPreset", lambda: self._ptz.SetPreset({"ProfileToken": self.profile, "PresetName": name}))
        return str(reply)

    def goto_preset(self, name: str, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        presets = self.presets()
        token = self._preset_tokens.get(name) or (name if name in self._preset_tokens.values() else None)
        if token is None:
            raise ControlError(f"{self.name}: no preset {name!r}", f"use one of {', '.join(sorted(presets)) or 'none'}")
        self._call("GotoPreset", lambda: self._ptz.GotoPreset({"ProfileToken": self.profile, "PresetToken": token}))
        target = next((presets[n] for n, t in self._preset_tokens.items() if t == token), None)
        if wait and target is not None and not any(math.isnan(v) for v in target):
            self.wait_position(target, timeout_s)
