"""The ONVIF driver through the real onvif-zeep client against the ONVIF device simulator."""
from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, PtzCamera, Secret, TelemetryFeed
from camdeck.drivers.errors import ControlError
from camdeck.drivers.onvif_ptz import OnvifAuthError, OnvifPtzCamera, OnvifTimeout, OnvifUnreachable
from camdeck.drivers.registry import DriverContext, camera_endpoint, open_camera
from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
from camdeck.drivers.sim.ptz import SimPtzCamera

PASSWORD = "s3cret-pw"
OPTIONS = {"deployment": "site", "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0),
           "hfov_deg": (60.0, 6.0), "speed_deg_s": 120.0, "telemetry_topic": "test/onvif"}


def _client_spec(port: int, password: str = PASSWORD, **extra) -> CameraSpec:
    opts = dict(OPTIONS, host="127.0.0.1", port=port, username="admin", password=Secret(password), profile="",
                frames_from="snapshot")
    opts.update(extra)
    return CameraSpec(name="cam-onvif", driver="onvif", model="PTZ", resolution=(160, 90), options=opts)


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    data = tmp_path_factory.mktemp("onvif")
    sim = SimPtzCamera(CameraSpec(name="cam", driver="sim", model="PTZ", resolution=(160, 90), options=OPTIONS),
                       DriverContext(data_dir=data, time_factor=100.0), telemetry_hz=0)
    # The device clock runs an hour ahead: the client must correct for it to authenticate.
    server = OnvifDeviceServer(sim, "admin", Secret(PASSWORD), clock_skew_s=3600.0).start()
    client = open_camera(_client_spec(server.port), DriverContext())
    yield sim, server, client
    client.close()
    server.stop()
    sim.close()


def test_connects_despite_clock_skew_and_selects_the_ptz_profile(device):
    sim, server, cam = device
    assert isinstance(cam, OnvifPtzCamera)
    assert cam.profile == "profile_1"
    assert cam.clock_skew_s == pytest.approx(3600.0, abs=3.0)
    assert cam.info().extra["clock_skew_s"] == cam.clock_skew_s


def test_its_telemetry_is_the_configured_mqtt_topic(device):
    cam = device[2]
    assert cam.telemetry_feed() == TelemetryFeed("mqtt", "test/onvif")
    assert isinstance(cam, PtzCamera)


def test_the_registry_names_the_endpoint_a_tunnel_must_carry():
    assert camera_endpoint(_client_spec(8099)) == ("127.0.0.1", 8099)
    assert camera_endpoint(_client_spec(0)) is None                 # no port: nothing to wait for
    sim = CameraSpec(name="cam", driver="sim", model="PTZ", options=dict(OPTIONS, host="127.0.0.1", port=8099))
    assert camera_endpoint(sim) is None                             # in-process: no network at all


def test_absolute_moves_are_verified_against_the_true_position(device):
    sim, _, cam = device
    cam.move_absolute(-75.0, 42.5, 0.3, timeout_s=20.0)
    assert sim.position() == pytest.approx((-75.0, 42.5, 0.3), abs=1e-4)
    assert cam.position() == pytest.approx(sim.position(), abs=1e-4)
    assert cam.to_normalized(*cam.from_normalized(0.25, -0.5, 0.75)) == pytest.approx((0.25, -0.5, 0.75))
    assert cam.to_normalized(0.0, 30.0, 0.0) == pytest.approx((0.0, 0.0, 0.0))


def test_relative_continuous_and_stop(device):
    sim, _, cam = device
    cam.move_absolute(0.0, 0.0, 0.0, timeout_s=20.0)
    cam.move_relative(10.0, 5.0)
    sim.wait_arrived(20.0)
    assert sim.position()[:2] == pytest.approx((10.0, 5.0), abs=1e-4)
    cam.move_continuous(0.5, 0.0)
    cam.stop_motion()
    assert not sim.moving()


def test_presets_round_trip(device):
    sim, _, cam = device
    cam.move_absolute(33.0, 11.0, 0.0, timeout_s=20.0)
    assert cam.set_preset("door") == "door"
    cam.move_absolute(0.0, 0.0, 0.0, timeout_s=20.0)
    assert cam.presets()["door"] == pytest.approx((33.0, 11.0, 0.0), abs=1e-4)
    cam.goto_preset("door", timeout_s=20.0)
    assert sim.position() == pytest.approx((33.0, 11.0, 0.0), abs=1e-4)
    with pytest.raises(ControlError):
        cam.goto_preset("nowhere")


def test_snapshots_are_the_simulated_view(device):
    sim, _, cam = device
    cam.move_absolute(20.0, 15.0, 0.0, timeout_s=20.0)
    frame = cam.capture()
    truth = sim.truth()
    expected = sim.world.render(truth.K, truth.R_W_cam, sim.size)
    assert frame.array.shape == expected.shape
    assert np.abs(frame.array.astype(int) - expected).mean() < 4          # JPEG, quality 95
    assert frame.meta["pan_deg"] == pytest.approx(20.0, abs=1e-4)
    np.testing.assert_allclose(frame.meta["K"], truth.K)


def test_out_of_range_moves_fail_before_and_at_the_camera(device):
    _, _, cam = device
    with pytest.raises(ControlError, match="outside"):
        cam.move_absolute(0.0, 120.0, 0.0)
    # A normalised position beyond [-1, 1] sent anyway comes back as a fault -> ControlError.
    with pytest.raises(ControlError, match="rejected"):
        cam._call("AbsoluteMove", lambda: cam._ptz.AbsoluteMove(
            {"ProfileToken": cam.profile, "Position": {"PanTilt": {"x": 1.5, "y": 0.0}}}))


def test_wrong_password_is_an_auth_error_without_the_password(device):
    _, server, _ = device
    with pytest.raises(OnvifAuthError) as err:
        OnvifPtzCamera(_client_spec(server.port, password="wrong-guess"), connect_timeout_s=5.0)
    text = str(err.value)
    assert "refused the credentials" in text and "wrong-guess" not in text and PASSWORD not in text


def test_unreachable_host_fails_fast():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OnvifUnreachable, match="cannot reach"):
        OnvifPtzCamera(_client_spec(port), connect_timeout_s=1.0)


def test_a_silent_camera_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])      # accept, never answer
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        with pytest.raises(OnvifTimeout, match="did not answer"):
            OnvifPtzCamera(_client_spec(listener.getsockname()[1]), connect_timeout_s=0.5)
    finally:
        stop.set()
        thread.join()
        for s in held:
            s.close()
        listener.close()


def test_a_wait_for_the_position_ends_when_stop_is_set(tmp_path):
    """Polling GetStatus for a 90 s move (1 deg/s, real time) ends as soon as stop is set."""
    import time

    from camdeck.drivers.errors import Stopped

    slow = dict(OPTIONS, speed_deg_s=1.0)
    sim = SimPtzCamera(CameraSpec(name="slow", driver="sim", model="PTZ", resolution=(160, 90), options=slow),
                       DriverContext(data_dir=tmp_path, time_factor=1.0), telemetry_hz=0)
    with sim, OnvifDeviceServer(sim, "admin", Secret(PASSWORD)) as server, \
            open_camera(_client_spec(server.port, speed_deg_s=1.0), DriverContext()) as cam:
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        with pytest.raises(Stopped):
            cam.move_absolute(90.0, 0.0, 0.0, timeout_s=300.0, stop=stop)
        assert time.monotonic() - started < 30.0
        assert sim.moving()
        cam.stop_motion()
