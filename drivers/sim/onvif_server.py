"""The ONVIF device simulator: device, media and PTZ services over SOAP 1.2 for a simulated PTZ camera.

One :class:`OnvifDeviceServer` per camera, each on its own port, bound to 127.0.0.1 only.
Every operation but GetSystemDateAndTime needs a valid WS-UsernameToken (digest or text),
checked against the device's own clock (which may be skewed on purpose, to exercise the
client's clock correction). Snapshots are JPEG over HTTP GET with Basic authentication; the
live stream is H.264 over RTSP on a second port (:mod:`drivers.sim.rtsp_server`).

Coordinates are ONVIF's generic spaces: pan and tilt in [-1, 1] spanning the camera's
configured ``pan_range_deg`` and ``tilt_range_deg``, zoom in [0, 1]; relative translations
in [-1, 1] of half the range; continuous velocities in [-1, 1] of ``speed_deg_s``.
"""
from __future__ import annotations

import base64
import datetime as dt
import hmac
import logging
from typing import Any, Callable

from camdeck.drivers.errors import ControlError, DriverError
from camdeck.drivers.sim import onvif_soap as soap
from camdeck.drivers.sim.onvif_http import SoapServer
from camdeck.drivers.sim.onvif_soap import el, text
from camdeck.drivers.sim.serve_thread import ServeThread

PROFILE = "profile_1"
PTZ_CONFIG = "ptz_config_1"
PTZ_NODE = "ptz_node_1"
VIDEO_SOURCE = "video_src_1"
LOOPBACK = ("127.0.0.1", "localhost")
MAX_PRESETS = 64            # what GetNodes advertises (MaximumNumberOfPresets)

log = logging.getLogger(__name__)


class SimOnvifDevice:
    """The ONVIF face of one :class:`drivers.sim.ptz.SimPtzCamera`: operations -> SOAP body XML.

    Args:
        camera: the simulated camera it drives.
        username, password: the one account (password as plain str; never logged).
        clock_skew_s: the device clock's offset from true UTC, seconds.
    """

    def __init__(self, camera: Any, username: str, password: str, clock_skew_s: float = 0.0) -> None:
        self.camera = camera
        self.clock_skew_s = float(clock_skew_s)
        self.auth = soap.UsernameTokenChecker(username, password)
        self._username = username
        self._password = password
        self.rtsp_port: int | None = None
        ops: dict[tuple[str, str], Callable[[Any, str], str]] = {}
        for ns, names in (("tds", ("GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetDeviceInformation")),
                          ("trt", ("GetProfiles", "GetSnapshotUri", "GetStreamUri")),
                          ("tptz", ("AbsoluteMove", "RelativeMove", "ContinuousMove", "Stop", "GetStatus",
                                    "GetPresets", "SetPreset", "GotoPreset", "GetConfigurations",
                                    "GetConfigurationOptions", "GetNodes"))):
            for name in names:
                ops[(soap.NS[ns], name)] = getattr(self, f"op_{name}")
        self._ops = ops

    def set_credentials(self, username: str, password: str) -> None:
        self.auth = soap.UsernameTokenChecker(username, password)
        self._username, self._password = username, password

    # ------------------------------------------------------------ dispatch

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.clock_skew_s)

    def handle(self, data: bytes, base_url: str) -> tuple[int, bytes]:
        """One SOAP request -> (HTTP status, reply envelope)."""
        try:
            req = soap.parse_request(data)
            op = self._ops.get((req.namespace, req.operation))
            if op is None:
                raise soap.SoapFault("env:Receiver", ("ter:ActionNotSupported",),
                                     f"{req.operation} is not supported by this simulator", 400)
            if req.operation != "GetSystemDateAndTime":
                self.auth.check(req.token, self.now())
            return 200, soap.envelope(op(req.body, base_url))
        except soap.SoapFault as fault:
            return fault.status, soap.fault_envelope(fault)
        except ControlError as err:
            return 400, soap.fault_envelope(soap.sender_fault(err.message, "ter:InvalidArgVal", "ter:InvalidPosition"))
        except DriverError as err:
            return 500, soap.fault_envelope(soap.SoapFault("env:Receiver", ("ter:Action",), err.message, 500))
        except Exception as err:  # noqa: BLE001 -- a simulator bug: a fault for the client, one log line for us
            log.error("ONVIF simulator: internal error (%s: %s)", type(err).__name__, " ".join(str(err).split())[:200])
            log.debug("ONVIF simulator: the internal error's trace", exc_info=err)
            return 500, soap.fault_envelope(soap.SoapFault("env:Receiver", ("ter:Action",),
                                                           f"internal error in the simulator ({type(err).__name__})",
                                                           500))

    def check_basic(self, header: str | None) -> bool:
        """HTTP Basic credentials of a snapshot request."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(user.encode(), self._username.encode()) and \
            hmac.compare_digest(pw.encode(), self._password.encode())

    def snapshot_jpeg(self, quality: int = 95) -> bytes:
        import cv2

        frame = self.camera.capture()
        ok, data = cv2.imencode(".jpg", frame.array[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
            raise DriverError("JPEG encoding failed", "report this bug")
        return data.tobytes()

    # ------------------------------------------------------------ coordinates

    def _to_norm(self, pan: float, tilt: float) -> tuple[float, float]:
        (p0, p1), (t0, t1) = self.camera.pan_range, self.camera.tilt_range
        return 2.0 * (pan - p0) / (p1 - p0) - 1.0, 2.0 * (tilt - t0) / (t1 - t0) - 1.0

    def _from_norm(self, x: float, y: float) -> tuple[float, float]:
        (p0, p1), (t0, t1) = self.camera.pan_range, self.camera.tilt_range
        return p0 + (x + 1.0) / 2.0 * (p1 - p0), t0 + (y + 1.0) / 2.0 * (t1 - t0)

    def _profile_token(self, body: Any) -> None:
        token = soap.find_text(body, "ProfileToken")
        if token != PROFILE:
            raise soap.sender_fault(f"no profile {token!r}", "ter:InvalidArgVal", "ter:NoProfile")

    def _position_xml(self, prefix: str = "tt") -> str:
        pan, tilt, zoom = self.camera.position()
        return soap.vector(self._to_norm(pan, tilt), zoom, soap.SPACE_ABS_PT, soap.SPACE_ABS_Z, prefix)

    # ------------------------------------------------------------ device service

    def op_GetSystemDateAndTime(self, body: Any, base: str) -> str:
        now = self.now()
        return el("tds:GetSystemDateAndTimeResponse", el(
            "tds:SystemDateAndTime", text("tt:DateTimeType", "Manual") + text("tt:DaylightSavings", False)
            + el("tt:TimeZone", text("tt:TZ", "UTC0")) + soap.date_time("tt:UTCDateTime", now)
            + soap.date_time("tt:LocalDateTime", now)))

    def op_GetCapabilities(self, body: Any, base: str) -> str:
        device = el("tt:Device", text("tt:XAddr", f"{base}/onvif/device_service")
                    + el("tt:System", text("tt:DiscoveryResolve", False) + text("tt:DiscoveryBye", False)
                         + text("tt:RemoteDiscovery", False) + text("tt:SystemBackup", False)
                         + text("tt:SystemLogging", False) + text("tt:FirmwareUpgrade", False)
                         + el("tt:SupportedVersions", text("tt:Major", 2) + text("tt:Minor", 60))))
        media = el("tt:Media", text("tt:XAddr", f"{base}/onvif/media_service")
                   + el("tt:StreamingCapabilities", text("tt:RTPMulticast", False) + text("tt:RTP_TCP", True)
                        + text("tt:RTP_RTSP_TCP", True)))
        ptz = el("tt:PTZ", text("tt:XAddr", f"{base}/onvif/ptz_service"))
        return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", device + media + ptz))

    def op_GetServices(self, body: Any, base: str) -> str:
        out = ""
        for ns, path, major in (("tds", "device_service", 2), ("trt", "media_service", 2), ("tptz", "ptz_service", 2)):
            out += el("tds:Service", text("tds:Namespace", soap.NS[ns]) + text("tds:XAddr", f"{base}/onvif/{path}")
                      + el("tds:Version", text("tt:Major", major) + text("tt:Minor", 60)))
        return el("tds:GetServicesResponse", out)

    def op_GetDeviceInformation(self, body: Any, base: str) -> str:
        return el("tds:GetDeviceInformationResponse", text("tds:Manufacturer", "camdeck")
                  + text("tds:Model", f"SimPTZ ({self.camera.name})") + text("tds:FirmwareVersion", "0.1.0")
                  + text("tds:SerialNumber", f"SIM-{self.camera.name}") + text("tds:HardwareId", "camdeck-sim-ptz"))

    # ------------------------------------------------------------ media service

    def _ptz_configuration(self, tag: str) -> str:
        return el(tag, text("tt:Name", "PTZ") + text("tt:UseCount", 1) + text("tt:NodeToken", PTZ_NODE)
                  + text("tt:DefaultAbsolutePantTiltPositionSpace", soap.SPACE_ABS_PT)
                  + text("tt:DefaultAbsoluteZoomPositionSpace", soap.SPACE_ABS_Z)
                  + text("tt:DefaultRelativePanTiltTranslationSpace", soap.SPACE_REL_PT)
                  + text("tt:DefaultRelativeZoomTranslationSpace", soap.SPACE_REL_Z)
                  + text("tt:DefaultContinuousPanTiltVelocitySpace", soap.SPACE_VEL_PT)
                  + text("tt:DefaultContinuousZoomVelocitySpace", soap.SPACE_VEL_Z)
                  + el("tt:DefaultPTZSpeed", soap.vector((1.0, 1.0), 1.0, soap.SPACE_SPEED_PT, soap.SPACE_SPEED_Z))
                  + text("tt:DefaultPTZTimeout", "PT5S")
                  + el("tt:PanTiltLimits", el("tt:Range", soap.range_2d(soap.SPACE_ABS_PT, -1, 1)))
                  + el("tt:ZoomLimits", el("tt:Range", soap.range_1d(soap.SPACE_ABS_Z, 0, 1))),
                  token=PTZ_CONFIG)

    def op_GetProfiles(self, body: Any, base: str) -> str:
        w, h = self.camera.size
        source = el("tt:VideoSourceConfiguration", text("tt:Name", "video source") + text("tt:UseCount", 1)
                    + text("tt:SourceToken", VIDEO_SOURCE) + el("tt:Bounds", x=0, y=0, width=w, height=h),
                    token="video_src_config_1")
        encoder = el("tt:VideoEncoderConfiguration", text("tt:Name", "JPEG") + text("tt:UseCount", 1)
                     + text("tt:Encoding", "JPEG") + el("tt:Resolution", text("tt:Width", w) + text("tt:Height", h))
                     + text("tt:Quality", 95.0)
                     + el("tt:Multicast", el("tt:Address", text("tt:Type", "IPv4") + text("tt:IPv4Address", "0.0.0.0"))
                          + text("tt:Port", 0) + text("tt:TTL", 1) + text("tt:AutoStart", False))
                     + text("tt:SessionTimeout", "PT60S"), token="video_enc_config_1")
        profile = el("trt:Profiles", text("tt:Name", "main") + source + encoder
                     + self._ptz_configuration("tt:PTZConfiguration"), token=PROFILE, fixed="true")
        return el("trt:GetProfilesResponse", profile)

    def _media_uri(self, uri: str) -> str:
        return el("trt:MediaUri", text("tt:Uri", uri) + text("tt:InvalidAfterConnect", False)
                  + text("tt:InvalidAfterReboot", False) + text("tt:Timeout", "PT0S"))

    def op_GetSnapshotUri(self, body: Any, base: str) -> str:
        self._profile_token(body)
        return el("trt:GetSnapshotUriResponse", self._media_uri(f"{base}/onvif/snapshot.jpg"))

    def op_GetStreamUri(self, body: Any, base: str) -> str:
        self._profile_token(body)
        if self.rtsp_port is None:
            raise DriverError("this simulated device serves no RTSP stream", "use its snapshot URI")
        host = base.split("://", 1)[-1].rsplit(":", 1)[0]
        return el("trt:GetStreamUriResponse", self._media_uri(f"rtsp://{host}:{self.rtsp_port}/stream1"))

    # ------------------------------------------------------------ PTZ service

    def op_AbsoluteMove(self, body: Any, base: str) -> str:
        self._profile_token(body)
        pt = soap.find(body, "Position/PanTilt")
        x, y = soap.float_attr(pt, "x"), soap.float_attr(pt, "y")
        z = soap.float_attr(soap.find(body, "Position/Zoom"), "x")
        for value, lo in ((x, -1.0), (y, -1.0), (z, 0.0)):
            if value is not None and not lo - 1e-6 <= value <= 1.0 + 1e-6:
                raise soap.sender_fault(f"position {value:g} is outside [{lo:g}, 1]", "ter:InvalidArgVal",
                                        "ter:InvalidPosition")
        pan, tilt, zoom = self.camera.position()
        if x is not None and y is not None:
            pan, tilt = self._from_norm(min(max(x, -1.0), 1.0), min(max(y, -1.0), 1.0))
        if z is not None:
            zoom = min(max(z, 0.0), 1.0)
        self.camera.move_absolute(pan, tilt, zoom, wait=False)
        return el("tptz:AbsoluteMoveResponse")

    def op_RelativeMove(self, body: Any, base: str) -> str:
        self._profile_token(body)
        pt = soap.find(body, "Translation/PanTilt")
        (p0, p1), (t0, t1) = self.camera.pan_range, self.camera.tilt_range
        dx, dy = soap.float_attr(pt, "x") or 0.0, soap.float_attr(pt, "y") or 0.0
        dz = soap.float_attr(soap.find(body, "Translation/Zoom"), "x") or 0.0
        self.camera.move_relative(dx * (p1 - p0) / 2.0, dy * (t1 - t0) / 2.0, dz)
        return el("tptz:RelativeMoveResponse")

    def op_ContinuousMove(self, body: Any, base: str) -> str:
        self._profile_token(body)
        pt = soap.find(body, "Velocity/PanTilt")
        vx, vy = soap.float_attr(pt, "x") or 0.0, soap.float_attr(pt, "y") or 0.0
        vz = soap.float_attr(soap.find(body, "Velocity/Zoom"), "x") or 0.0
        for v in (vx, vy, vz):
            if not -1.0 - 1e-6 <= v <= 1.0 + 1e-6:
                raise soap.sender_fault(f"velocity {v:g} is outside [-1, 1]", "ter:InvalidArgVal", "ter:InvalidVelocity")
        timeout = soap.parse_duration_s(soap.find_text(body, "Timeout"))
        # The x axis of the generic space grows with pan (clockwise), y with tilt (up).
        self.camera.move_continuous(vx, vy, vz, duration_s=timeout)
        return el("tptz:ContinuousMoveResponse")

    def op_Stop(self, body: Any, base: str) -> str:
        self._profile_token(body)
        self.camera.stop_motion()
        return el("tptz:StopResponse")

    def op_GetStatus(self, body: Any, base: str) -> str:
        self._profile_token(body)
        state = "MOVING" if self.camera.moving() else "IDLE"
        status = el("tptz:PTZStatus", el("tt:Position", self._position_xml())
                    + el("tt:MoveStatus", text("tt:PanTilt", state) + text("tt:Zoom", state))
                    + text("tt:UtcTime", soap.utc_text(self.now())))
        return el("tptz:GetStatusResponse", status)

    def op_GetPresets(self, body: Any, base: str) -> str:
        self._profile_token(body)
        out = ""
        for name, (pan, tilt, zoom) in self.camera.presets().items():
            vec = soap.vector(self._to_norm(pan, tilt), zoom, soap.SPACE_ABS_PT, soap.SPACE_ABS_Z)
            out += el("tptz:Preset", text("tt:Name", name) + el("tt:PTZPosition", vec), token=name)
        return el("tptz:GetPresetsResponse", out)

    def op_SetPreset(self, body: Any, base: str) -> str:
        self._profile_token(body)
        name = soap.find_text(body, "PresetName") or soap.find_text(body, "PresetToken")
        presets = self.camera.presets()
        if name not in presets and len(presets) >= MAX_PRESETS:
            raise soap.sender_fault(f"no room for another preset (at most {MAX_PRESETS})", "ter:InvalidArgVal",
                                    "ter:TooManyPresets")
        if not name:
            name = f"preset_{len(presets)}"
        token = self.camera.set_preset(name)
        return el("tptz:SetPresetResponse", text("tptz:PresetToken", token))

    def op_GotoPreset(self, body: Any, base: str) -> str:
        self._profile_token(body)
        token = soap.find_text(body, "PresetToken")
        if token not in self.camera.presets():
            raise soap.sender_fault(f"no preset {token!r}", "ter:InvalidArgVal", "ter:NoToken")
        self.camera.goto_preset(token, wait=False)
        return el("tptz:GotoPresetResponse")

    def op_GetConfigurations(self, body: Any, base: str) -> str:
        return el("tptz:GetConfigurationsResponse", self._ptz_configuration("tptz:PTZConfiguration"))

    def _spaces(self, tag: str) -> str:
        return el(tag, el("tt:AbsolutePanTiltPositionSpace", soap.range_2d(soap.SPACE_ABS_PT, -1, 1))
                  + el("tt:AbsoluteZoomPositionSpace", soap.range_1d(soap.SPACE_ABS_Z, 0, 1))
                  + el("tt:RelativePanTiltTranslationSpace", soap.range_2d(soap.SPACE_REL_PT, -1, 1))
                  + el("tt:RelativeZoomTranslationSpace", soap.range_1d(soap.SPACE_REL_Z, -1, 1))
                  + el("tt:ContinuousPanTiltVelocitySpace", soap.range_2d(soap.SPACE_VEL_PT, -1, 1))
                  + el("tt:ContinuousZoomVelocitySpace", soap.range_1d(soap.SPACE_VEL_Z, -1, 1))
                  + el("tt:PanTiltSpeedSpace", soap.range_1d(soap.SPACE_SPEED_PT, 0, 1))
                  + el("tt:ZoomSpeedSpace", soap.range_1d(soap.SPACE_SPEED_Z, 0, 1)))

    def op_GetConfigurationOptions(self, body: Any, base: str) -> str:
        token = soap.find_text(body, "ConfigurationToken")
        if token != PTZ_CONFIG:
            raise soap.sender_fault(f"no PTZ configuration {token!r}", "ter:InvalidArgVal", "ter:NoConfig")
        options = el("tptz:PTZConfigurationOptions", self._spaces("tt:Spaces")
                     + el("tt:PTZTimeout", text("tt:Min", "PT1S") + text("tt:Max", "PT60S")))
        return el("tptz:GetConfigurationOptionsResponse", options)

    def op_GetNodes(self, body: Any, base: str) -> str:
        node = el("tptz:PTZNode", text("tt:Name", "PTZ head") + self._spaces("tt:SupportedPTZSpaces")
                  + text("tt:MaximumNumberOfPresets", 64) + text("tt:HomeSupported", True), token=PTZ_NODE)
        return el("tptz:GetNodesResponse", node)


class OnvifDeviceServer:
    """Serve one simulated camera over ONVIF on ``host:port`` (127.0.0.1 only; port 0 picks a free one).

    Its live stream is served on ``rtsp_port`` (a free port) at ``rtsp_fps``. Use as a context
    manager or call ``start()`` / ``stop()``.
    """

    def __init__(self, camera: Any, username: str, password: Any, *, host: str = "127.0.0.1", port: int = 0,
                 clock_skew_s: float = 0.0, rtsp_fps: float = 10.0) -> None:
        if host not in LOOPBACK:
            raise DriverError(f"the ONVIF simulator binds 127.0.0.1 only, not {host!r}",
                              "set host = \"127.0.0.1\" for simulated cameras")
        from camdeck.drivers.sim.rtsp_server import RtspServer

        secret = password.reveal() if hasattr(password, "reveal") else str(password)
        self.device = SimOnvifDevice(camera, username, secret, clock_skew_s)
        try:
            self._server = SoapServer(("127.0.0.1", int(port)), self.device)
        except OSError as err:
            raise DriverError(f"cannot listen on 127.0.0.1:{port} for {camera.name} ({err.strerror})",
                              "free the port or set port = 0 for a free one") from None
        try:
            self.rtsp = RtspServer(camera, username, secret, fps=rtsp_fps)
        except OSError as err:
            self._server.server_close()
            raise DriverError(f"cannot listen for RTSP on 127.0.0.1 for {camera.name} ({err.strerror})",
                              "free a port") from None
        self.device.rtsp_port = self.rtsp.port
        self._serving = ServeThread(self._server, f"onvif-{camera.name}")

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def rtsp_port(self) -> int:
        """Where GetStreamUri points: H.264 over RTSP, Digest authentication, RTP over TCP."""
        return self.rtsp.port

    def set_credentials(self, username: str, password: str) -> None:
        """Change the one account, for SOAP, snapshots and RTSP alike (an admin changing it)."""
        self.device.set_credentials(username, password)
        self.rtsp.set_credentials(username, password)

    def start(self) -> "OnvifDeviceServer":
        self.rtsp.start()
        self._serving.start()
        return self

    def stop(self) -> None:
        self._serving.stop()
        self.rtsp.stop()

    def __enter__(self) -> "OnvifDeviceServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
