"""`camdeck doctor`: check what the configured rig needs, and say how to fix what is missing.

Each check returns :class:`Finding` objects. A finding is *required* when the configured
rig cannot work without it (the ASI SDK when a camera uses driver "zwoasi", picamera2
when one uses "picamera2", the ONVIF devices when a PTZ camera uses "onvif");
``run_checks`` reports whether any required finding failed, and the CLI exits 1 then.
MQTT is never required: without it scans and fleet runs poll each PTZ camera's position
instead of reading its telemetry, so an unreachable broker (or a refused login) is a warning.
An ONVIF camera whose deployment has a tunnel is reachable only while that tunnel runs, so
doctor starts the tunnel (as fleet runs do), checks the cameras through it, and stops it.

Every network check has a short timeout, and the hardware checks read files (udev
rules, sysfs) or call the SDK once, so doctor never hangs on a machine without hardware.
``SYS_ROOT`` is where /etc, /lib and /sys are read from (tests point it at a folder).
"""
from __future__ import annotations

import os
import socket
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlparse

SYS_ROOT = Path("/")
NET_TIMEOUT_S = 2.0
TUNNEL_READY_S = 15.0      # a kubectl port-forward can take seconds to accept connections
UDEV_DIRS = ("etc/udev/rules.d", "lib/udev/rules.d", "usr/lib/udev/rules.d")
ZWO_VENDOR = "03c3"
USBFS_MIN_MB = 200
UDEV_FIX = ("install the SDK's rule: sudo install -m 644 asi.rules /etc/udev/rules.d/ (from the SDK's lib/ "
            "folder; it gives vendor 03c3 MODE=\"0666\" and raises usbfs_memory_mb to 200), then "
            "'sudo udevadm control --reload-rules && sudo udevadm trigger' and replug the camera")

OK, MISSING, WARNING, SKIPPED = "ok", "missing", "warning", "skipped"


@dataclass(frozen=True)
class Finding:
    """One result: ``status`` is ok, missing, warning or skipped; ``fix`` says what to do."""

    check: str
    status: str
    detail: str
    fix: str = ""
    required: bool = False

    @property
    def failed(self) -> bool:
        """A required check that is not ok."""
        return self.required and self.status not in (OK, SKIPPED)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DoctorReport:
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not any(f.failed for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": sum(f.failed for f in self.findings),
                "findings": [f.as_dict() for f in self.findings]}


def run_checks(settings, env: Mapping[str, str] | None = None) -> DoctorReport:
    """Run every check for ``settings`` (console.config.Settings) and collect the findings."""
    env = os.environ if env is None else env
    cameras = dict(settings.cameras)
    by_driver: dict[str, list] = {}
    for spec in cameras.values():
        by_driver.setdefault(spec.driver, []).append(spec)
    findings: list[Finding] = []
    findings += check_asi(by_driver.get("zwoasi", []), env)
    findings += check_picamera2(by_driver.get("picamera2", []))
    onvif = by_driver.get("onvif", [])
    findings.append(check_mqtt(settings.mqtt, ptz=bool(onvif)))
    findings.append(check_redis(settings.redis.url))
    findings += check_onvif(onvif, getattr(settings, "deployments", {}))
    if hasattr(settings, "storage") and hasattr(settings, "slack"):
        from camdeck.monitoring.doctor_services import check_services   # Slack, S3, Athena when configured

        findings += check_services(settings)
    return DoctorReport(tuple(findings))


# ---------------------------------------------------------------- ZWO ASI

def check_asi(specs: list, env: Mapping[str, str]) -> list[Finding]:
    """The ASI SDK library, its udev rule, usbfs memory, the configured serials and their USB links."""
    from camdeck.drivers import zwo_sdk
    from camdeck.drivers.errors import DriverError

    if not specs:
        return [Finding("asi_sdk", SKIPPED, "no camera uses driver \"zwoasi\"")]
    out: list[Finding] = []
    sdk = None
    try:
        location = zwo_sdk.locate_library(env)
        sdk = zwo_sdk.load_sdk(env)
        out.append(Finding("asi_sdk", OK, f"{location.path} (found by {location.source}; SDK {sdk.sdk_version()})",
                           required=True))
    except DriverError as err:
        out.append(Finding("asi_sdk", MISSING, err.message, err.fix, required=True))
    out.append(_check_udev_rule())
    out.append(_check_usbfs_memory())
    out += _check_usb_links()
    if sdk is None:
        out.append(Finding("asi_cameras", SKIPPED, "the SDK is missing, so the cameras cannot be listed",
                           "fix asi_sdk first"))
        return out
    try:
        devices = zwo_sdk.list_devices(sdk)
    except DriverError as err:
        out.append(Finding("asi_cameras", MISSING, err.message, err.fix, required=True))
        return out
    seen = ", ".join(f"{d.serial or '(no serial)'} ({d.name})" for d in devices) or "none"
    for spec in specs:
        wanted = zwo_sdk.normalize_serial(spec.serial or "")
        match = next((d for d in devices if wanted and wanted in
                      {zwo_sdk.normalize_serial(d.serial or ""), zwo_sdk.normalize_serial(d.flash_id)}), None)
        if match is None:
            fix = (UDEV_FIX if not devices else
                   f"set cameras.{spec.name}.serial to one of the connected serials, or connect that camera")
            out.append(Finding(f"asi_camera:{spec.name}", MISSING,
                               f"no ZWO camera with serial {spec.serial}; the SDK sees: {seen}", fix, required=True))
        elif not match.usb3_host:
            out.append(Finding(f"asi_camera:{spec.name}", WARNING,
                               f"{match.name} serial {match.serial} is on a USB2 link (the SDK reports no USB3 host)",
                               "plug it into a blue USB3 port directly or through a powered USB3 hub; at USB2 "
                               "an ASI662MC drops frames above a few fps"))
        else:
            out.append(Finding(f"asi_camera:{spec.name}", OK,
                               f"{match.name} serial {match.serial} on a USB3 link", required=True))
    return out


def _check_udev_rule() -> Finding:
    for folder in UDEV_DIRS:
        path = SYS_ROOT / folder
        try:
            rules = sorted(path.glob("*.rules"))
        except OSError:
            continue
        for rule in rules:
            try:
                text = rule.read_text(errors="replace").lower()
            except OSError:
                continue
            if ZWO_VENDOR in text and "idvendor" in text:
                return Finding("asi_udev_rule", OK, f"{rule} covers vendor {ZWO_VENDOR}", required=True)
    return Finding("asi_udev_rule", MISSING, f"no udev rule for USB vendor {ZWO_VENDOR} (ZWO): only root can "
                   "open the cameras", UDEV_FIX, required=True)


def _check_usbfs_memory() -> Finding:
    path = SYS_ROOT / "sys/module/usbcore/parameters/usbfs_memory_mb"
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return Finding("usbfs_memory", SKIPPED, f"{path} is not readable (not Linux, or no usbcore)")
    if value == 0 or value >= USBFS_MIN_MB:
        return Finding("usbfs_memory", OK, f"usbfs_memory_mb = {value}" + (" (unlimited)" if value == 0 else ""))
    return Finding("usbfs_memory", WARNING, f"usbfs_memory_mb = {value}: too little for two USB3 cameras",
                   f"raise it to {USBFS_MIN_MB}: the SDK's udev rule does it, or add usbcore.usbfs_memory_mb="
                   f"{USBFS_MIN_MB} to the kernel command line")


def _check_usb_links() -> list[Finding]:
    """USB link speed of every ZWO device in sysfs (5000 Mb/s or more is USB3)."""
    out = []
    devices = SYS_ROOT / "sys/bus/usb/devices"
    try:
        entries = sorted(devices.iterdir())
    except OSError:
        return [Finding("usb_link", SKIPPED, f"{devices} is not readable (not Linux)")]
    for entry in entries:
        try:
            if (entry / "idVendor").read_text().strip().lower() != ZWO_VENDOR:
                continue
            speed = float((entry / "speed").read_text().strip())
            product = (entry / "product").read_text().strip() if (entry / "product").exists() else "ZWO camera"
        except (OSError, ValueError):
            continue
        if speed >= 5000:
            out.append(Finding(f"usb_link:{entry.name}", OK, f"{product} at {speed:g} Mb/s (USB3)"))
        else:
            out.append(Finding(f"usb_link:{entry.name}", WARNING, f"{product} at {speed:g} Mb/s (USB2 or slower)",
                               "use a USB3 port and cable (blue port, no USB2 hub in between)"))
    if not out:
        out.append(Finding("usb_link", SKIPPED, f"no USB device of vendor {ZWO_VENDOR} in sysfs"))
    return out


# ---------------------------------------------------------------- Picamera2

def check_picamera2(specs: list) -> list[Finding]:
    """picamera2 importable, and a camera of the configured sensor on each configured connector."""
    if not specs:
        return [Finding("picamera2", SKIPPED, "no camera uses driver \"picamera2\"")]
    from camdeck.drivers.errors import DriverError
    from camdeck.drivers.picam import import_picamera2

    try:
        picamera2 = import_picamera2()
    except DriverError as err:
        return [Finding("picamera2", MISSING, err.message, err.fix, required=True)]
    out = [Finding("picamera2", OK, f"picamera2 from {Path(getattr(picamera2, '__file__', '') or '?').parent}",
                   required=True)]
    try:
        cameras = picamera2.Picamera2.global_camera_info()
    except Exception as err:  # libcamera failing to start is a finding, not a crash
        return out + [Finding("pi_cameras", MISSING, f"libcamera could not list cameras ({type(err).__name__})",
                              "run 'rpicam-hello --list-cameras' to see libcamera's own error", required=True)]
    seen = ", ".join(f"{i}: {c.get('Model')}" for i, c in enumerate(cameras)) or "none"
    for spec in specs:
        num = int(spec.options.get("camera_num", 0))
        model = str(cameras[num].get("Model", "")) if num < len(cameras) else ""
        if not model:
            out.append(Finding(f"pi_camera:{spec.name}", MISSING, f"nothing on camera_num {num}; libcamera sees: {seen}",
                               "check the ribbon cable and camera_auto_detect=1 in /boot/firmware/config.txt, "
                               "then reboot", required=True))
        elif not model.lower().startswith(spec.model.lower()):
            out.append(Finding(f"pi_camera:{spec.name}", MISSING, f"camera_num {num} is a {model}, not {spec.model}",
                               "swap the camera_num values or correct the model", required=True))
        else:
            out.append(Finding(f"pi_camera:{spec.name}", OK, f"camera_num {num}: {model}", required=True))
    return out


# ---------------------------------------------------------------- services

def check_mqtt(mqtt, ptz: bool = False) -> Finding:
    """An MQTT CONNECT/CONNACK exchange with the configured broker; a warning at worst, never required.

    ``ptz``: ONVIF PTZ cameras are configured, so the finding says what happens without telemetry.
    """
    where = f"{mqtt.host}:{mqtt.port}"
    why = ("; scans and fleet runs then poll each PTZ camera's position instead of reading its telemetry"
           if ptz else " (needed for PTZ telemetry and `camdeck sim serve --mqtt`)")
    try:
        with socket.create_connection((mqtt.host, mqtt.port), timeout=NET_TIMEOUT_S) as sock:
            sock.settimeout(NET_TIMEOUT_S)
            sock.sendall(_mqtt_connect(mqtt.username, mqtt.password.reveal() if mqtt.password else ""))
            reply = _recv_exactly(sock, 4)
    except OSError as err:
        return Finding("mqtt", WARNING, f"MQTT broker {where} unreachable "
                       f"({_reason(err)}){why}", "start the broker (sudo systemctl start mosquitto) or correct "
                       "[mqtt] host and port in config.toml")
    if reply[0] != 0x20:
        return Finding("mqtt", WARNING, f"{where} answers, but not as an MQTT broker",
                       "point [mqtt] at the broker's MQTT port (usually 1883)")
    if reply[3] in (4, 5):
        who = f"user {mqtt.username!r}" if mqtt.username else "an anonymous client"
        return Finding("mqtt", WARNING, f"MQTT broker {where} refused the login of {who} (return code "
                       f"{reply[3]}: {'bad user name or password' if reply[3] == 4 else 'not authorized'}){why}",
                       "set [mqtt] username and the environment variable named by [mqtt] password_env to "
                       "credentials the broker accepts")
    if reply[3] != 0:
        return Finding("mqtt", WARNING, f"MQTT broker {where} refused the connection "
                       f"(return code {reply[3]}){why}", "check [mqtt] username and password_env")
    return Finding("mqtt", OK, f"MQTT broker {where} accepts connections")


def _mqtt_connect(username: str, password: str) -> bytes:
    def field(text: str) -> bytes:
        data = text.encode()
        return struct.pack("!H", len(data)) + data

    flags = 0x02 | (0x80 if username else 0) | (0x40 if username and password else 0)
    body = field("MQTT") + bytes([4, flags]) + struct.pack("!H", 10) + field(f"camdeck-doctor-{os.getpid()}")
    if username:
        body += field(username)
        if password:
            body += field(password)
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (0x80 if length else 0)])
        if not length:
            break
    return b"\x10" + encoded + body


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionResetError("connection closed")
        data += chunk
    return data


def check_redis(url: str) -> Finding:
    """A Redis PING (with AUTH when the URL has a password) to the configured server."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 6379
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=NET_TIMEOUT_S) as sock:
            sock.settimeout(NET_TIMEOUT_S)
            if parsed.password:
                args = [b"AUTH"] + ([unquote(parsed.username).encode()] if parsed.username else []) + \
                       [unquote(parsed.password).encode()]
                sock.sendall(_resp(args))
                if not sock.recv(64).startswith(b"+OK"):
                    return Finding("redis", WARNING, f"Redis {where} refused the password",
                                   "correct the password in [redis] url or REDIS_URL")
            sock.sendall(_resp([b"PING"]))
            reply = sock.recv(64)
    except OSError as err:
        return Finding("redis", WARNING, f"Redis {where} unreachable ({_reason(err)}); needed only for "
                       "`camdeck capture --sink redis://...`", "start redis-server or correct [redis] url "
                       "(or REDIS_URL)")
    if reply.startswith(b"+PONG"):
        return Finding("redis", OK, f"Redis {where} answers PING")
    if reply.startswith(b"-NOAUTH"):
        return Finding("redis", WARNING, f"Redis {where} needs a password",
                       "put it in the URL: redis://:PASSWORD@host:port/db")
    return Finding("redis", WARNING, f"{where} answers, but not as Redis", "point [redis] url at the Redis port")


def _resp(args: Iterable[bytes]) -> bytes:
    args = list(args)
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def check_onvif(specs: list, deployments: Mapping[str, Any] | None = None) -> list[Finding]:
    """Each ONVIF camera's device service answers GetSystemDateAndTime (no credentials needed).

    A camera whose deployment has a tunnel is checked through it, as fleet runs reach it: the
    tunnel is started once per deployment (ready when the first camera's host:port accepts
    connections), every camera behind it is probed, and the tunnel is stopped. A tunnel that
    cannot start makes its cameras missing, with the tunnel's own fix.
    """
    from camdeck.monitoring.tunnels import Tunnel, TunnelError

    found: dict[str, Finding] = {}
    tunnelled: dict[str, list] = {}
    for spec in specs:
        dep_name = spec.options.get("deployment")
        deployment = (deployments or {}).get(dep_name) if dep_name else None
        if list(getattr(deployment, "tunnel", None) or ()):
            tunnelled.setdefault(dep_name, []).append(spec)
        else:
            found[spec.name] = _probe_onvif(spec)
    for dep_name, cams in tunnelled.items():
        argv = list(deployments[dep_name].tunnel)
        first = cams[0]
        wait_for = (str(first.options.get("host", "127.0.0.1")), int(first.options.get("port") or 80))
        try:
            tunnel = Tunnel(argv, name=dep_name, wait_for=wait_for, ready_timeout_s=TUNNEL_READY_S).start()
        except TunnelError as err:
            for spec in cams:
                found[spec.name] = Finding(f"onvif:{spec.name}", MISSING, f"unreachable: {err.message}", err.fix, True)
            continue
        try:
            for spec in cams:
                found[spec.name] = _probe_onvif(spec, via=f" through the tunnel of deployment {dep_name}")
        finally:
            tunnel.stop()
    return [found[spec.name] for spec in specs]


def _probe_onvif(spec: Any, via: str = "") -> Finding:
    """POST GetSystemDateAndTime to the camera's device service."""
    import http.client

    body = ('<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
            '<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')
    host, port = spec.options.get("host", "127.0.0.1"), int(spec.options.get("port") or 80)
    where = f"{host}:{port}"
    conn = http.client.HTTPConnection(host, port, timeout=NET_TIMEOUT_S)
    try:
        conn.request("POST", "/onvif/device_service", body=body.encode(),
                     headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        reply = conn.getresponse()
        text = reply.read(65536).decode(errors="replace")
    except (OSError, http.client.HTTPException) as err:
        return Finding(f"onvif:{spec.name}", MISSING, f"ONVIF device {where}{via} unreachable ({_reason(err)})",
                       f"check the camera's power and network, the tunnel of deployment "
                       f"{spec.options.get('deployment')}, and cameras.{spec.name}.host/port", True)
    finally:
        conn.close()
    if "GetSystemDateAndTimeResponse" in text:
        return Finding(f"onvif:{spec.name}", OK, f"ONVIF device service at {where}{via} answers", required=True)
    return Finding(f"onvif:{spec.name}", MISSING, f"{where}{via} answers HTTP {reply.status}, but not as "
                   "an ONVIF device service", f"check cameras.{spec.name}.port (the ONVIF port, often "
                   "80, 8000 or 8080)", True)


def _reason(err: BaseException) -> str:
    if isinstance(err, socket.timeout):
        return f"no answer in {NET_TIMEOUT_S:g} s"
    return getattr(err, "strerror", None) or type(err).__name__
