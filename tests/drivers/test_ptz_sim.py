"""The simulated PTZ camera: timed moves, ranges, bumps that persist, presets, telemetry, truth."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from camdeck.calibration import rotations as rot
from camdeck.drivers.base import CameraSpec, PtzCamera
from camdeck.drivers.errors import ControlError
from camdeck.drivers.registry import DriverContext, open_camera
from camdeck.drivers.sim.clock import ManualClock
from camdeck.drivers.sim.ptz import SimPtzCamera
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from camdeck.drivers.sim.ptz_telemetry import TELEMETRY_BUS
from tests.helpers import assert_noisy_view


def _spec(name="ptz-t", **options):
    opts = {"deployment": "site", "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0),
            "hfov_deg": (60.0, 6.0), "speed_deg_s": 100.0, "telemetry_topic": f"test/{name}",
            "align_ypr_deg": (30.0, 1.0, -0.5)}
    opts.update(options)
    return CameraSpec(name=name, driver="sim", model="PTZ", resolution=(160, 90), options=opts)


@pytest.fixture
def manual(tmp_path):
    clock = ManualClock()
    cam = SimPtzCamera(_spec(), DriverContext(data_dir=tmp_path, clock=clock), telemetry_hz=0)
    yield cam, clock
    cam.close()


def test_registry_opens_the_sim_ptz_camera(tmp_path):
    with open_camera(_spec(), DriverContext(data_dir=tmp_path, time_factor=100.0)) as cam:
        assert isinstance(cam, SimPtzCamera) and isinstance(cam, PtzCamera)
        assert cam.capture().array.shape == (90, 160, 3)


def test_moves_take_time_at_the_configured_speed(manual):
    cam, clock = manual
    cam.move_absolute(50.0, 20.0, 0.5, wait=False)
    assert cam.position() == (0.0, 0.0, 0.0) and cam.moving()
    clock.advance(0.25)                                   # 25 deg of pan and 20 of tilt at 100 deg/s
    pan, tilt, zoom = cam.position()
    assert (pan, tilt, zoom) == pytest.approx((25.0, 20.0, 0.125))
    clock.advance(0.75)
    assert cam.position() == pytest.approx((50.0, 20.0, 0.5)) and not cam.moving()


def test_wait_returns_on_arrival_on_the_simulated_clock(manual):
    cam, clock = manual
    t0 = clock()
    cam.move_absolute(-120.0, 60.0, 0.0)
    assert cam.position() == pytest.approx((-120.0, 60.0, 0.0))
    assert (clock() - t0) / 1e9 == pytest.approx(1.2, abs=0.01)


def test_out_of_range_moves_are_refused_with_the_range(manual):
    cam, _ = manual
    with pytest.raises(ControlError, match=r"tilt 95.*\[-30, 90\]") as err:
        cam.move_absolute(0.0, 95.0)
    assert "tilt_range_deg" in str(err.value)
    with pytest.raises(ControlError):
        cam.move_absolute(float("nan"), 0.0)
    with pytest.raises(ControlError):
        cam.move_absolute(0.0, 0.0, 1.5)


def test_continuous_and_relative_moves_stop_at_limits(manual):
    cam, clock = manual
    cam.move_continuous(0.0, 1.0)
    clock.advance(5.0)
    assert cam.position()[1] == pytest.approx(90.0)
    cam.move_continuous(-0.5, 0.0, duration_s=1.0)
    clock.advance(3.0)
    assert cam.position()[0] == pytest.approx(-50.0)
    cam.move_relative(-500.0, 0.0)
    clock.advance(10.0)
    assert cam.position()[0] == pytest.approx(-180.0)
    cam.move_continuous(1.0, 0.0)
    clock.advance(0.1)
    cam.stop_motion()
    stopped = cam.position()
    clock.advance(1.0)
    assert cam.position() == stopped and not cam.moving()


def test_truth_composes_alignment_bump_and_head(manual, tmp_path):
    cam, _ = manual
    cam.move_absolute(40.0, 10.0, 0.0)
    write_bump(tmp_path, cam.name, Bump(0.4, -0.2, 0.3))
    truth = cam.truth()
    assert truth.bump == Bump(0.4, -0.2, 0.3)
    expected = rot.R_align_from_ypr(30.0, 1.0, -0.5) @ rot.delta_R(0.4, -0.2, 0.3) @ rot.R_B_cam(40.0, 10.0)
    np.testing.assert_allclose(truth.R_W_cam, expected)
    np.testing.assert_allclose(truth.K, rot.K_from_hfov(60.0, 160, 90))
    frame = cam.capture()
    assert_noisy_view(frame.array, cam.world.render(truth.K, truth.R_W_cam, (160, 90)))
    assert frame.meta["pan_deg"] == pytest.approx(40.0)


def test_a_bump_persists_for_the_next_camera(tmp_path):
    write_bump(tmp_path, "ptz-t", Bump(pitch_deg=1.5))
    clock = ManualClock()
    with SimPtzCamera(_spec(), DriverContext(data_dir=tmp_path, clock=clock), telemetry_hz=0) as cam:
        before = cam.capture().array
        assert cam.truth().bump.pitch_deg == 1.5
        write_bump(tmp_path, "ptz-t", None)
        assert cam.truth().bump == Bump()
        assert np.abs(cam.capture().array.astype(int) - before).mean() > 5


def test_presets_are_stored_and_reached(manual):
    cam, _ = manual
    cam.move_absolute(12.0, 34.0, 0.25)
    cam.set_preset("gate")
    cam.goto_preset("home")
    assert cam.position() == pytest.approx((0.0, 0.0, 0.0))
    cam.goto_preset("gate")
    assert cam.position() == pytest.approx((12.0, 34.0, 0.25))
    assert set(cam.presets()) == {"home", "gate"}
    with pytest.raises(ControlError, match="no preset"):
        cam.goto_preset("nowhere")


def test_telemetry_reaches_in_process_subscribers(tmp_path):
    got: list[dict] = []
    arrived = threading.Event()

    def on_message(topic, payload):
        got.append(json.loads(payload))
        arrived.set()

    cancel = TELEMETRY_BUS.subscribe("test/ptz-tele", on_message)
    try:
        with SimPtzCamera(_spec("ptz-tele"), DriverContext(data_dir=tmp_path, time_factor=50.0)) as cam:
            cam.move_absolute(5.0, 5.0)
            assert arrived.wait(5.0)
    finally:
        cancel()
    sample = got[-1]
    assert set(sample) >= {"pan_deg", "tilt_deg", "zoom", "moving", "timestamp", "camera"}
    assert sample["camera"] == "ptz-tele"


def test_the_camera_names_its_in_process_feed(tmp_path):
    """What monitoring subscribes to: the camera's own feed, not the simulator's bus by name."""
    got: list[dict] = []
    arrived = threading.Event()
    with SimPtzCamera(_spec("ptz-feed"), DriverContext(data_dir=tmp_path, time_factor=50.0)) as cam:
        feed = cam.telemetry_feed()
        assert (feed.kind, feed.topic) == ("in-process", "test/ptz-feed")
        cancel = feed.subscribe(lambda payload: (got.append(json.loads(payload)), arrived.set()))
        try:
            cam.move_absolute(5.0, 5.0)
            assert arrived.wait(5.0)
        finally:
            cancel()
        count = len(got)
        cam.move_absolute(-5.0, 0.0)      # unsubscribed: nothing more arrives
    assert len(got) == count and {s["camera"] for s in got} == {"ptz-feed"}


def test_a_wait_for_arrival_ends_when_stop_is_set(tmp_path):
    """A 90 s move (1 deg/s, real time): setting stop ends the wait at once; the head goes on."""
    import time

    from camdeck.drivers.errors import Stopped

    with SimPtzCamera(_spec(speed_deg_s=1.0), DriverContext(data_dir=tmp_path, time_factor=1.0),
                      telemetry_hz=0) as cam:
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        with pytest.raises(Stopped):
            cam.move_absolute(90.0, 0.0, 0.0, timeout_s=300.0, stop=stop)
        assert time.monotonic() - started < 30.0          # not the 90 s of the move
        assert cam.moving()
        cam.stop_motion()
