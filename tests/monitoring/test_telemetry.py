"""Telemetry: a real mosquitto, the simulator publishing, the latch deciding stability."""
from __future__ import annotations

import getpass
import json
import logging
import subprocess

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, Secret
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.sim.ptz import MqttPublisher, SimPtzCamera
from camdeck.monitoring.errors import MonitoringError
from camdeck.monitoring.telemetry import (BrokerUnavailable, MqttAuthError, MqttTelemetry, TelemetryLatch, TelemetrySample,
                                  TelemetryTimeout, subscribe_in_process)
from tests.conftest import ServerProcess, _binary, free_port

TOPIC = "camdeck/site/cam/telemetry"
MQTT_USER, MQTT_PASSWORD = "camdeck", "mqtt-SECRET-pw"


@pytest.fixture
def mosquitto_auth(tmp_path):
    """A real mosquitto that refuses anonymous clients and knows one user (MQTT_USER / MQTT_PASSWORD)."""
    binary = _binary("mosquitto")
    passwords = tmp_path / "mosquitto.passwd"
    subprocess.run([_binary("mosquitto_passwd"), "-c", "-b", str(passwords), MQTT_USER, MQTT_PASSWORD],
                   check=True, capture_output=True)
    passwords.chmod(0o644)
    conf = tmp_path / "mosquitto-auth.conf"
    # Started as root, mosquitto drops to user "mosquitto" before it reads the password file, which
    # cannot see into pytest's private tmp folder: `user` keeps it as whoever runs the tests.
    user = getpass.getuser()

    def argv(port: int) -> list[str]:
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
                        f"persistence false\nuser {user}\n")
        return [binary, "-c", str(conf)]

    for attempt in range(3):       # mosquitto cannot bind port 0 and say which: retry if the free port was taken
        server = ServerProcess(argv, free_port(), tmp_path)
        try:
            server.start()
            break
        except RuntimeError:
            if attempt == 2:
                raise
    yield server
    server.stop()


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
        cancel = subscribe_in_process(latch, cam.telemetry_feed(), "cam")
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


@pytest.mark.parametrize("username, password", [(MQTT_USER, "wrong-SECRET"), ("", None)])
def test_a_refused_login_names_the_credentials_fields_at_once(mosquitto_auth, username, password):
    latch = TelemetryLatch()
    feed = MqttTelemetry(latch, {TOPIC: "cam"}, "127.0.0.1", mosquitto_auth.port, username=username,
                         password=Secret(password) if password else None, connect_timeout_s=10.0)
    with pytest.raises(MqttAuthError) as caught:
        feed.start()
    err = caught.value
    assert isinstance(err, MonitoringError) and err.bad_input
    assert caught.value.reason_code in (4, 5, 134, 135)
    text = str(err)
    assert "refused the login" in text and "not reachable" not in text
    assert "[mqtt] username" in text and "password_env" in text
    assert "SECRET" not in text
    assert feed._client is None and not feed.connected            # stopped, not retrying in the background


def test_the_right_credentials_are_accepted(mosquitto_auth):
    latch = TelemetryLatch()
    with MqttTelemetry(latch, {TOPIC: "cam"}, "127.0.0.1", mosquitto_auth.port, username=MQTT_USER,
                       password=Secret(MQTT_PASSWORD), connect_timeout_s=10.0) as feed:
        assert feed.connected and feed.refusal is None


def test_a_scan_whose_mqtt_login_is_refused_polls_and_says_why(tmp_path, mosquitto_auth, caplog):
    from dataclasses import replace

    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
    from camdeck.monitoring.scans import extract_query, read_manifest
    from tests.monitoring import ptz_settings

    caplog.set_level(logging.DEBUG)
    base = ptz_settings(tmp_path, mqtt_port=mosquitto_auth.port)
    sim = SimPtzCamera(base.cameras["cam"], base.driver_context())
    try:
        with OnvifDeviceServer(sim, "admin", "pw") as server:
            settings = ptz_settings(tmp_path, mqtt_port=mosquitto_auth.port, onvif_port=server.port)
            settings = replace(settings, mqtt=replace(settings.mqtt, username=MQTT_USER,
                                                      password=Secret("wrong-SECRET")))
            result = extract_query("site/cam-onvif", 0.5, 20.0, [(15.0, 5.0)], settings=settings, features="")
    finally:
        sim.close()
    np.testing.assert_allclose(result.positions, [(15.0, 5.0, 0.0)], atol=1e-4)
    manifest = read_manifest(result.folder)
    assert manifest["telemetry_source"] == "poll" == result.extra["telemetry_source"]
    why = manifest["telemetry_fallback"]
    assert why == result.extra["telemetry_fallback"]
    assert "refused the login" in why and "[mqtt] username" in why and "SECRET" not in why
    warnings = [r.getMessage() for r in caplog.records if "polling the camera" in r.getMessage()]
    assert len(warnings) == 1 and "refused the login" in warnings[0]
    assert "SECRET" not in caplog.text
