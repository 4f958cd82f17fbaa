"""Telemetry: a real mosquitto, the simulator publishing, the latch deciding stability."""
from __future__ import annotations

import json

import pytest

from drivers.base import CameraSpec
from drivers.registry import DriverContext
from drivers.sim.ptz import MqttPublisher, SimPtzCamera
from monitoring.telemetry import (BrokerUnavailable, MqttTelemetry, TelemetryLatch, TelemetrySample,
                                  TelemetryTimeout, subscribe_in_process)

TOPIC = "camdeck/site/cam/telemetry"


def _camera(tmp_path, port=None, topic=TOPIC, time_factor=100.0):
    spec = CameraSpec(name="cam", driver="sim", model="PTZ", resolution=(64, 36),
                      options={"deployment": "site", "speed_deg_s": 120.0, "telemetry_topic": topic})
    return SimPtzCamera(spec, DriverContext(data_dir=tmp_path, time_factor=time_factor),
                        mqtt=("127.0.0.1", port) if port else None)


def _sample(t, pan=0.0, moving=False, received=0.0):
    return TelemetrySample("c", pan, 0.0, 0.0, moving, t, received)


def test_latch_counts_stillness_in_camera_time():
    now = [0.0]
    latch = TelemetryLatch(clock=lambda: now[0])
    latch.update(_sample(100.0, pan=1.0, moving=True))
    latch.update(_sample(101.0, pan=5.0, moving=False))
    latch.update(_sample(102.5, pan=5.0))
    assert latch.still_for_s("c") == pytest.approx(1.5)
    latch.update(_sample(103.0, pan=5.5))                      # it moved again
    assert latch.still_for_s("c") == 0.0
    latch.update(_sample(106.0, pan=5.5))
    assert latch.wait_stable("c", 3.0, timeout_s=0.0).timestamp == 106.0
    now[0] = 10.0                                              # ten seconds without a message: stale
    with pytest.raises(TelemetryTimeout, match="telemetry stopped"):
        latch.wait_stable("c", 3.0, timeout_s=0.0)


def test_malformed_messages_are_counted_and_skipped():
    latch = TelemetryLatch()
    for bad in (b"{not json", b"[1, 2]", b'{"pan_deg": "east", "tilt_deg": 0}', b'{"tilt_deg": 1}',
                b'{"pan_deg": NaN, "tilt_deg": 0}', b'{"pan_deg": 1, "tilt_deg": 0, "moving": "yes"}', b"\xff\xfe"):
        assert latch.feed("c", bad) is None
    assert latch.malformed == 7 and latch.latest("c") is None
    sample = latch.feed("c", b'{"pan": 1.5, "tilt": 2, "zoom": 0.1, "timestamp": 5}')
    assert (sample.pan_deg, sample.tilt_deg, sample.zoom, sample.timestamp) == (1.5, 2.0, 0.1, 5.0)


def test_in_process_telemetry_settles_on_the_true_position(tmp_path):
    latch = TelemetryLatch()
    with _camera(tmp_path) as cam:
        cancel = subscribe_in_process(latch, {TOPIC: "cam"})
        try:
            cam.move_absolute(30.0, 10.0)
            sample = latch.wait_stable("cam", 2.0, timeout_s=10.0, after=latch.count("cam"))
        finally:
            cancel()
        assert (sample.pan_deg, sample.tilt_deg) == pytest.approx(cam.position()[:2])


def test_mqtt_telemetry_survives_garbage_and_a_broker_restart(tmp_path, mosquitto):
    latch = TelemetryLatch()
    with _camera(tmp_path, mosquitto.port) as cam, \
            MqttTelemetry(latch, {TOPIC: "cam"}, "127.0.0.1", mosquitto.port, connect_timeout_s=10.0) as feed:
        cam.move_absolute(-20.0, 45.0)
        sample = latch.wait_stable("cam", 1.0, timeout_s=15.0, after=latch.count("cam"))
        assert (sample.pan_deg, sample.tilt_deg) == pytest.approx((-20.0, 45.0))
        junk = MqttPublisher("127.0.0.1", mosquitto.port)
        try:
            assert junk.wait_connected(10.0)
            for _ in range(3):
                junk.publish(TOPIC, b"{garbage")
            latch.wait_for_sample("cam", 10.0, after=latch.count("cam") + 3)
        finally:
            junk.close()
        assert latch.malformed >= 1
        mosquitto.restart(down_s=0.5)
        before = latch.count("cam")
        latch.wait_for_sample("cam", 20.0, after=before + 2)        # both sides reconnected
        assert feed.connects >= 2
        cam.move_absolute(10.0, 0.0)
        sample = latch.wait_stable("cam", 1.0, timeout_s=15.0, after=latch.count("cam"))
        assert (sample.pan_deg, sample.tilt_deg) == pytest.approx((10.0, 0.0))


def test_a_missing_broker_is_reported_not_waited_on_forever():
    from tests.conftest import free_port

    latch = TelemetryLatch()
    with pytest.raises(BrokerUnavailable, match="not reachable"):
        MqttTelemetry(latch, {TOPIC: "cam"}, "127.0.0.1", free_port(), connect_timeout_s=0.5).start()


def test_a_silent_camera_times_out_with_the_reason():
    latch = TelemetryLatch()
    with pytest.raises(TelemetryTimeout, match="no telemetry arrived"):
        latch.wait_stable("ghost", 1.0, timeout_s=0.2)
    payload = json.dumps({"pan_deg": 1, "tilt_deg": 2, "moving": True}).encode()
    latch.feed("busy", payload)
    with pytest.raises(TelemetryTimeout, match="still for only"):
        latch.wait_stable("busy", 1.0, timeout_s=0.2, max_age_s=60.0)
