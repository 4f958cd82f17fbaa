"""The ONVIF driver's RTSP frames: FFmpeg's RTSP client (PyAV, and OpenCV without PyAV) against the
simulator's H.264 stream, compared with the simulator's noiseless render of the true pose."""
from __future__ import annotations

import json
import socket
import subprocess
import sys

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, Secret
from camdeck.drivers.onvif_ptz import OnvifAuthError, OnvifTimeout, OnvifUnreachable
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
from camdeck.drivers.sim.ptz import SimPtzCamera
from camdeck.drivers.sim.rtsp_server import nal_units, rtp_payloads
from tests.conftest import REPO

PASSWORD = "rtsp-s3cret"
SIZE = (320, 180)
OPTIONS = {"deployment": "site", "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0),
           "hfov_deg": (60.0, 6.0), "speed_deg_s": 120.0, "telemetry_topic": "test/rtsp"}


def client_options(port: int, password: str = PASSWORD) -> dict:
    return dict(OPTIONS, host="127.0.0.1", port=port, username="admin", password=Secret(password), profile="",
                frames_from="rtsp")


@pytest.fixture()
def rig(tmp_path):
    sim = SimPtzCamera(CameraSpec(name="cam", driver="sim", model="PTZ", resolution=SIZE, options=OPTIONS),
                       DriverContext(data_dir=tmp_path, time_factor=100.0), telemetry_hz=0)
    server = OnvifDeviceServer(sim, "admin", Secret(PASSWORD)).start()
    client = open_camera(CameraSpec(name="cam-rtsp", driver="onvif", model="PTZ", resolution=SIZE,
                                    options=client_options(server.port)), DriverContext())
    yield sim, server, client
    client.close()
    server.stop()
    sim.close()


def true_view(sim: SimPtzCamera) -> np.ndarray:
    """The simulator's noiseless render of where the head truly points now."""
    truth = sim.truth()
    return sim.world.render(truth.K, truth.R_W_cam, sim.size, truth.lighting)


def error(frame: np.ndarray, truth: np.ndarray) -> float:
    return float(np.abs(frame.astype(np.int16) - truth.astype(np.int16)).mean())


def test_rtsp_frames_show_the_true_pose_right_after_a_move(rig):
    sim, _, cam = rig
    cam.move_absolute(-40.0, 10.0, 0.0, timeout_s=20.0)
    first, truth_first = cam.capture(timeout_s=10.0), true_view(sim)
    cam.move_absolute(25.0, 20.0, 0.0, timeout_s=20.0)
    second, truth_second = cam.capture(timeout_s=10.0), true_view(sim)
    assert first.array.shape == second.array.shape == (SIZE[1], SIZE[0], 3)
    assert first.meta["source"] == "rtsp" and second.meta["pan_deg"] == pytest.approx(25.0, abs=1e-3)
    # H.264 (crf 23) plus sensor noise: a few grey levels from the truth; the other pose is far off.
    assert error(first.array, truth_first) < 8.0 and error(second.array, truth_second) < 8.0
    assert error(second.array, truth_first) > 3 * error(second.array, truth_second)


def test_opencv_reads_the_stream_when_pyav_is_missing(rig, tmp_path):
    sim, server, cam = rig
    cam.move_absolute(60.0, 5.0, 0.0, timeout_s=20.0)
    out = tmp_path / "frame.npy"
    script = (
        "import sys; sys.modules['av'] = None\n"          # the client process only: the server keeps PyAV
        "import json, numpy as np\n"
        "from camdeck.drivers.base import CameraSpec, Secret\n"
        "from camdeck.drivers.onvif_ptz import OnvifPtzCamera\n"
        "opts = json.loads(sys.argv[1]); opts['password'] = Secret(opts['password'])\n"
        "with OnvifPtzCamera(CameraSpec(name='cv', driver='onvif', model='PTZ', options=opts)) as cam:\n"
        "    np.save(sys.argv[2], cam.capture(timeout_s=20.0).array)\n")
    opts = dict(client_options(server.port), password=PASSWORD)
    done = subprocess.run([sys.executable, "-c", script, json.dumps(opts), str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert PASSWORD not in done.stdout + done.stderr
    frame = np.load(out)
    assert frame.shape == (SIZE[1], SIZE[0], 3) and error(frame, true_view(sim)) < 8.0


def test_a_changed_password_is_an_auth_error_that_never_shows_the_password(rig, capfd):
    _, server, cam = rig
    cam.capture(timeout_s=10.0)                        # the stream URI is known now
    server.set_credentials("admin", "changed-by-the-admin")
    with pytest.raises(OnvifAuthError) as caught:
        cam.capture(timeout_s=10.0)
    assert "cameras.cam-rtsp.username and password" in str(caught.value)
    printed = capfd.readouterr()
    assert PASSWORD not in str(caught.value) + printed.out + printed.err


def test_an_unplugged_camera_is_unreachable_and_a_hung_one_times_out(rig):
    _, server, cam = rig
    cam.capture(timeout_s=10.0)
    port = server.rtsp_port
    server.rtsp.stop()                                 # unplugged: nothing listens on the RTSP port
    with pytest.raises(OnvifUnreachable):
        cam.capture(timeout_s=5.0)
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind(("127.0.0.1", port))
    hung.listen()                                      # hung: accepts, never answers
    try:
        with pytest.raises(OnvifTimeout):
            cam.capture(timeout_s=1.0)
    finally:
        hung.close()


def test_the_stream_stops_for_clients_when_the_server_stops(rig):
    """A client mid-stream is cut off by stop(), as by a camera losing power."""
    import av

    _, server, _ = rig
    uri = f"rtsp://admin:{PASSWORD}@127.0.0.1:{server.rtsp_port}/stream1"
    with av.open(uri, options={"rtsp_transport": "tcp"}, timeout=(10.0, 10.0)) as container:
        frames = container.decode(video=0)
        next(frames)
        server.rtsp.stop()
        with pytest.raises((StopIteration, av.error.FFmpegError, OSError)):
            for _ in range(100):                       # at 10 fps: 10 s of frames if it went on
                next(frames)


def test_annex_b_access_units_split_into_nal_units():
    sps, pps, idr = b"\x67\x42\x00\x1f", b"\x68\xce\x3c\x80", b"\x65" + bytes(range(1, 200))
    au = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps + b"\x00\x00\x01" + idr
    assert nal_units(au) == [sps, pps, idr]


def test_large_nal_units_go_as_fu_a_fragments_that_reassemble():
    nal = b"\x65" + bytes(i % 251 for i in range(5000))
    parts = rtp_payloads(nal, limit=1400)
    assert len(parts) == 4 and all(len(p) <= 1400 for p in parts)
    assert all(p[0] == (0x65 & 0xE0) | 28 for p in parts)           # FU indicator: NRI kept, type 28
    assert [p[1] & 0xC0 for p in parts] == [0x80, 0, 0, 0x40]         # start bit, then end bit
    assert all(p[1] & 0x1F == 5 for p in parts)                      # the original type (IDR)
    assert bytes([(parts[0][0] & 0xE0) | (parts[0][1] & 0x1F)]) + b"".join(p[2:] for p in parts) == nal
    assert rtp_payloads(b"\x41" + bytes(100)) == [b"\x41" + bytes(100)]
