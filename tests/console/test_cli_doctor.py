"""`camdeck doctor`: real MQTT and Redis servers, closed ports, the simulated ASI SDK, the Picamera2 double."""
from __future__ import annotations

import http.server
import json
import socket
import sys
import threading

import pytest

from tests.conftest import free_port
from tests.drivers import fake_picamera2
from tests.drivers.asi_sdk_sim import SERIALS, SimKnobs, session_library

SERVICES = """
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}

[redis]
url = "redis://127.0.0.1:{redis_port}/0"
"""

SIM_RIG = """
[cameras.still]
driver = "sim"
model = "IMX708"
camera_num = 0
"""

ASI_RIG = """
[cameras.asi-left]
driver = "zwoasi"
model = "ASI662MC"
serial = "{left}"
resolution = [1920, 1080]

[cameras.asi-right]
driver = "zwoasi"
model = "ASI662MC"
serial = "{right}"
resolution = [1920, 1080]

[rigs.asi-stereo]
type = "stereo"
cameras = ["asi-left", "asi-right"]
baseline_mm = 100.0
"""

PI_RIG = """
[cameras.lightroom]
driver = "picamera2"
model = "IMX219"
camera_num = 0

[cameras.darkroom]
driver = "picamera2"
model = "IMX708"
camera_num = 1
"""

PTZ_RIG = """
[deployments.site]

[cameras.mast]
driver = "onvif"
model = "PTZ"
deployment = "site"
host = "127.0.0.1"
port = {onvif_port}
"""


def write_config(workdir, *parts: str, mqtt_port: int | None = None, redis_port: int | None = None, **fmt) -> None:
    text = SERVICES.format(mqtt_port=mqtt_port or free_port(), redis_port=redis_port or free_port())
    (workdir / "config.toml").write_text(text + "".join(p.format(**fmt) for p in parts))


def by_check(result) -> dict:
    return {f["check"]: f for f in result.json()["findings"]}


@pytest.fixture
def asi_sdk(tmp_path_factory, monkeypatch, tmp_path):
    """The simulated SDK via $ZWO_ASI_LIB, and a system root with the udev rule and a USB3 link."""
    from camdeck.drivers import zwo_sdk
    from camdeck.monitoring import doctor

    path = session_library(tmp_path_factory)
    monkeypatch.setenv("ZWO_ASI_LIB", str(path))
    knobs = SimKnobs(path)
    knobs.reset()
    root = tmp_path / "root"
    (root / "etc/udev/rules.d").mkdir(parents=True)
    (root / "etc/udev/rules.d/99-asi.rules").write_text(
        'ACTION=="add", ATTR{idVendor}=="03c3", RUN+="/bin/sh -c \'/bin/echo 200 >'
        '/sys/module/usbcore/parameters/usbfs_memory_mb\'"\nSUBSYSTEMS=="usb", ATTR{idVendor}=="03c3", MODE="0666"\n')
    (root / "sys/module/usbcore/parameters").mkdir(parents=True)
    (root / "sys/module/usbcore/parameters/usbfs_memory_mb").write_text("200\n")
    for name, speed in (("2-1", "5000"), ("2-2", "5000")):
        dev = root / "sys/bus/usb/devices" / name
        dev.mkdir(parents=True)
        (dev / "idVendor").write_text("03c3\n")
        (dev / "speed").write_text(speed + "\n")
        (dev / "product").write_text("ASI662MC\n")
    monkeypatch.setattr(doctor, "SYS_ROOT", root)
    yield knobs, root
    zwo_sdk._IN_USE.clear()
    knobs.reset()


def test_reachable_services_with_the_simulated_rig(cli, workdir, mosquitto, redis_server):
    write_config(workdir, SIM_RIG, mqtt_port=mosquitto.port, redis_port=redis_server.port)
    result = cli("doctor", "--json")
    assert result.code == 0, result.err
    found = by_check(result)
    assert found["mqtt"]["status"] == "ok" and found["redis"]["status"] == "ok"
    assert found["asi_sdk"]["status"] == "skipped" and found["picamera2"]["status"] == "skipped"
    assert result.json()["ok"] is True


def test_unreachable_services_are_explained_but_optional(cli, workdir):
    write_config(workdir, SIM_RIG)
    result = cli("doctor", "--json")
    assert result.code == 0
    found = by_check(result)
    assert found["mqtt"]["status"] == "warning" and "mosquitto" in found["mqtt"]["fix"]
    assert found["redis"]["status"] == "warning" and "redis-server" in found["redis"]["fix"]


def test_hardware_rig_without_hardware_exits_1_naming_each_fix(cli, workdir, monkeypatch, tmp_path):
    monkeypatch.setenv("ZWO_ASI_LIB", str(tmp_path / "missing" / "libASICamera2.so"))
    monkeypatch.setitem(sys.modules, "picamera2", None)       # not a Pi
    write_config(workdir, ASI_RIG, PI_RIG, left=SERIALS[0], right=SERIALS[1])
    result = cli("doctor", "--json")
    assert result.json()["ok"] is False
    found = by_check(result)
    assert found["asi_sdk"]["status"] == "missing" and "ZWO_ASI_LIB" in found["asi_sdk"]["fix"]
    assert found["asi_cameras"]["status"] == "skipped"
    assert found["picamera2"]["status"] == "missing" and "python3-picamera2" in found["picamera2"]["fix"]
    assert result.json()["failed"] >= 2


def test_human_output_shows_the_fixes(cli, workdir, monkeypatch, tmp_path):
    monkeypatch.setenv("ZWO_ASI_LIB", str(tmp_path / "nothing.so"))
    write_config(workdir, ASI_RIG, left=SERIALS[0], right=SERIALS[1])
    result = cli("doctor")
    assert "MISSING" in result.out and "required check(s) failed" in result.out and "asi_sdk" in result.out


def test_asi_rig_with_the_sdk_udev_rule_and_usb3(cli, workdir, asi_sdk):
    write_config(workdir, ASI_RIG, left=SERIALS[0], right=SERIALS[1])
    result = cli("doctor", "--json")
    assert result.code == 0, result.out
    found = by_check(result)
    assert found["asi_sdk"]["status"] == "ok" and "camdeck-sim" in found["asi_sdk"]["detail"]
    assert found["asi_udev_rule"]["status"] == "ok" and found["usbfs_memory"]["status"] == "ok"
    assert found["usb_link:2-1"]["status"] == "ok"
    assert found["asi_camera:asi-left"]["status"] == found["asi_camera:asi-right"]["status"] == "ok"


def test_asi_problems_each_get_their_fix(cli, workdir, asi_sdk):
    knobs, root = asi_sdk
    (root / "etc/udev/rules.d/99-asi.rules").unlink()
    (root / "sys/bus/usb/devices/2-2/speed").write_text("480\n")
    (root / "sys/module/usbcore/parameters/usbfs_memory_mb").write_text("16\n")
    knobs.usb3_host(1, False)
    write_config(workdir, ASI_RIG, left="0000000000000BAD", right=SERIALS[1])
    result = cli("doctor", "--json")
    assert result.json()["ok"] is False
    found = by_check(result)
    assert found["asi_udev_rule"]["status"] == "missing" and "udevadm" in found["asi_udev_rule"]["fix"]
    assert found["usb_link:2-2"]["status"] == "warning" and found["usbfs_memory"]["status"] == "warning"
    assert found["asi_camera:asi-left"]["status"] == "missing" and SERIALS[0] in found["asi_camera:asi-left"]["detail"]
    assert found["asi_camera:asi-right"]["status"] == "warning" and "USB3" in found["asi_camera:asi-right"]["fix"]


def test_pi_cameras_through_the_picamera2_double(cli, workdir, monkeypatch):
    fake_picamera2.install(monkeypatch, models=("imx219",))
    write_config(workdir, PI_RIG)
    result = cli("doctor", "--json")
    assert result.json()["ok"] is False
    found = by_check(result)
    assert found["picamera2"]["status"] == "ok" and found["pi_camera:lightroom"]["status"] == "ok"
    assert found["pi_camera:darkroom"]["status"] == "missing" and "ribbon" in found["pi_camera:darkroom"]["fix"]


class _OnvifHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<Envelope><Body><GetSystemDateAndTimeResponse/></Body></Envelope>"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_onvif_fleet_needs_its_devices_and_mqtt_is_only_a_warning(cli, workdir, mosquitto):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OnvifHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        write_config(workdir, PTZ_RIG, mqtt_port=mosquitto.port, onvif_port=server.server_address[1])
        ok = cli("doctor", "--json")
        assert ok.code == 0 and by_check(ok)["onvif:mast"]["status"] == "ok"
        assert by_check(ok)["onvif:mast"]["required"] is True
        assert by_check(ok)["mqtt"]["status"] == "ok" and by_check(ok)["mqtt"]["required"] is False
    finally:
        server.shutdown()
        server.server_close()
    write_config(workdir, PTZ_RIG, onvif_port=free_port())
    down = cli("doctor", "--json")
    assert down.code == 1 and down.json()["ok"] is False and down.json()["failed"] == 1
    found = by_check(down)
    assert found["onvif:mast"]["status"] == "missing" and "tunnel" in found["onvif:mast"]["fix"]
    # Fleet runs poll the cameras' positions without a broker: a warning that says so, not a failure.
    assert found["mqtt"]["status"] == "warning" and found["mqtt"]["required"] is False
    assert "poll each PTZ camera's position" in found["mqtt"]["detail"]


# A port-forward, as kubectl port-forward or ssh -L would be: 127.0.0.1:argv[1] -> 127.0.0.1:argv[2].
RELAY = """
import socket, sys, threading
def pump(a, b):
    try:
        while (data := a.recv(65536)):
            b.sendall(data)
    except OSError:
        pass
    finally:
        b.close()
server = socket.socket(); server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1]))); server.listen(16)
while True:
    client, _ = server.accept()
    try:
        upstream = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    except OSError:                      # nothing behind the tunnel: this connection fails, the tunnel stays
        client.close()
        continue
    for a, b in ((client, upstream), (upstream, client)):
        threading.Thread(target=pump, args=(a, b), daemon=True).start()
"""

TUNNEL_RIG = PTZ_RIG.replace("[deployments.site]\n", "[deployments.site]\ntunnel = {tunnel}\n")


def test_a_tunnelled_onvif_camera_is_checked_through_its_tunnel(cli, workdir, tmp_path):
    from camdeck.drivers.base import CameraSpec, Secret
    from camdeck.drivers.registry import DriverContext
    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
    from camdeck.drivers.sim.ptz import SimPtzCamera

    port = free_port()                               # only the tunnel listens here, and only while it runs
    sim = SimPtzCamera(CameraSpec(name="mast", driver="sim", model="PTZ", resolution=(160, 90),
                                  options={"deployment": "site"}), DriverContext(data_dir=tmp_path), telemetry_hz=0)
    with sim, OnvifDeviceServer(sim, "admin", Secret("pw")) as device:
        argv = [sys.executable, "-c", RELAY, str(port), str(device.port)]
        write_config(workdir, TUNNEL_RIG, onvif_port=port, tunnel=json.dumps(argv))
        result = cli("doctor", "--json")
        assert result.code == 0, result.out
        finding = by_check(result)["onvif:mast"]
        assert finding["status"] == "ok" and finding["required"] is True
        assert finding["detail"] == f"ONVIF device service at 127.0.0.1:{port} through the tunnel of deployment " \
                                    "site answers"
        with pytest.raises(OSError):                 # doctor stopped the tunnel it started
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
        # The device is down behind a working tunnel: the camera is missing, and doctor exits 1.
        argv[-1] = str(free_port())
        write_config(workdir, TUNNEL_RIG, onvif_port=port, tunnel=json.dumps(argv))
        down = cli("doctor", "--json")
        finding = by_check(down)["onvif:mast"]
        assert down.code == 1 and finding["status"] == "missing"
        assert "through the tunnel of deployment site unreachable" in finding["detail"]   # the tunnel came up


def test_a_tunnel_that_cannot_start_makes_its_cameras_missing_with_its_fix(cli, workdir):
    write_config(workdir, TUNNEL_RIG, onvif_port=free_port(), tunnel='["no-such-tunnel-cmd"]')
    result = cli("doctor", "--json")
    assert result.code == 1
    finding = by_check(result)["onvif:mast"]
    assert finding["status"] == "missing" and "not found on PATH" in finding["detail"]
    assert "deployments.site.tunnel" in finding["fix"]
    exits = json.dumps([sys.executable, "-c", "import sys; sys.stderr.write('forward refused'); sys.exit(3)"])
    write_config(workdir, TUNNEL_RIG, onvif_port=free_port(), tunnel=exits)
    result = cli("doctor", "--json")
    assert result.code == 1 and "forward refused" in by_check(result)["onvif:mast"]["detail"]


def test_a_failed_required_check_exits_1(cli, workdir, monkeypatch, tmp_path):
    monkeypatch.setenv("ZWO_ASI_LIB", str(tmp_path / "nothing.so"))
    write_config(workdir, ASI_RIG, left=SERIALS[0], right=SERIALS[1])
    assert cli("doctor", "--json").code == 1


def test_pip_numpy_shadowing_apts_numpy_is_named_with_its_fix(cli, workdir, monkeypatch, tmp_path):
    """On a Pi, pip's numpy 2 in a --system-site-packages venv breaks apt's picamera2 (its simplejpeg
    is built for numpy 1.24). picamera2 needs a Pi, so a double on sys.path raises the real error:
    the message simplejpeg's Cython module gives (raspberrypi/picamera2 issue #1211)."""
    shadow = tmp_path / "apt-dist-packages"
    for name, code in (("picamera2", "import simplejpeg\n"),
                       ("simplejpeg", "raise ValueError('numpy.dtype size changed, may indicate binary "
                                      "incompatibility. Expected 96 from C header, got 88 from PyObject')\n")):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text(code)
    for name in ("picamera2", "simplejpeg"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(shadow))
    write_config(workdir, PI_RIG)
    result = cli("doctor", "--json")
    assert result.code == 1
    found = by_check(result)["picamera2"]
    assert found["status"] == "missing" and found["required"]
    assert "numpy.dtype size changed" in found["detail"] and "not the numpy its apt packages" in found["detail"]
    assert "deploy/pi-constraints.txt" in found["fix"] and "Raspberry Pi" in found["fix"]
    snap = cli("cameras", "snap", "lightroom", "--out", "x.png")     # the driver says the same (DriverUnavailable)
    assert snap.code == 1 and "Traceback" not in snap.err
    assert snap.err.count("\n") == 1 and "pi-constraints.txt" in snap.err
