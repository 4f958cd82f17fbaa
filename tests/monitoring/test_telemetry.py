"""Telemetry: a real mosquitto, the simulator publishing, the latch deciding stability."""
from __future__ import annotations

import getpass
import json
import logging
import subprocess
import time

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


def test_a_stop_ends_the_wait_for_a_broker():
    import threading

    from camdeck.drivers.errors import Stopped

    stop = threading.Event()
    feed = MqttTelemetry(TelemetryLatch(), {TOPIC: "cam"}, "127.0.0.1", free_port(), connect_timeout_s=600.0)
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(Stopped):
        feed.start(stop=stop)                           # without the stop: 600 s, then BrokerUnavailable
    assert feed._client is None and not feed.connected


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


# ---------------------------------------------------------------- poison, outages, dead cameras (issue 13)

HUGE_NUMBER = b'{"pan_deg": 1' + b"0" * 399 + b', "tilt_deg": 0}'       # 400 digits: float() overflows
DEEP_ARRAY = b"[" * 200_000 + b"]" * 200_000                            # 400 kB of nesting
DEEP_SMALL = b"[" * 30_000 + b"]" * 30_000                              # under the size limit: recursion


def _eventually(check, timeout_s: float = 20.0) -> bool:
    """Poll ``check`` until true; False after a generous ``timeout_s`` (an upper bound, not a timing claim)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_any_payload_is_counted_per_camera_and_logged_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="camdeck.monitoring.telemetry")
    latch = TelemetryLatch()
    for poison in (HUGE_NUMBER, DEEP_ARRAY, DEEP_SMALL, {"pan_deg": 10 ** 400, "tilt_deg": 0}):
        assert latch.feed("c", poison) is None
    assert latch.feed("d", b"{") is None
    assert latch.malformed_count("c") == 4 and latch.malformed_count("d") == 1 and latch.malformed == 5
    reasons = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG and "malformed" in r.getMessage()]
    assert len(reasons) == 5 and any("too large" in r for r in reasons) and any("RecursionError" in r for r in reasons)
    assert all(len(r) < 400 for r in reasons)                     # the payload itself is never logged
    assert latch.feed("c", b'{"pan_deg": 3, "tilt_deg": 4}').pan_deg == 3.0      # and the latch goes on


def test_a_value_outside_its_range_is_malformed_and_settles_nothing():
    """One timestamp of 1e300 once made a camera "still" for 1e300 s, so a wait for stability
    returned at once; -1e308 then 1e308 made it infinitely still."""
    latch = TelemetryLatch()
    assert latch.feed("c", b'{"pan_deg": 1, "tilt_deg": 2, "timestamp": 1700000000}') is not None
    for poison in (b'{"pan_deg": 1, "tilt_deg": 2, "timestamp": 1e300}', b'{"pan_deg": 1, "tilt_deg": 2, "timestamp": -5}',
                   b'{"pan_deg": 1e6, "tilt_deg": 2}', b'{"pan_deg": 1, "tilt_deg": -1e308}', b'{"pan": 1, "tilt": 2, "zoom": -1}'):
        assert latch.feed("c", poison) is None
    assert latch.malformed_count("c") == 5 and latch.still_for_s("c") == 0.0
    with pytest.raises(TelemetryTimeout):
        latch.wait_stable("c", 30.0, timeout_s=0.2)


def test_poison_on_the_topic_never_stops_mqtt_telemetry(tmp_path, mosquitto):
    latch = TelemetryLatch()
    with _camera(tmp_path, mosquitto.port) as cam, \
            MqttTelemetry(latch, {TOPIC: "cam"}, "127.0.0.1", mosquitto.port, connect_timeout_s=10.0) as feed:
        latch.wait_for_sample("cam", 15.0)
        junk = MqttPublisher("127.0.0.1", mosquitto.port)
        try:
            assert junk.wait_connected(10.0)
            for poison in (HUGE_NUMBER, DEEP_ARRAY, DEEP_SMALL):
                junk.publish(TOPIC, poison)
            assert _eventually(lambda: latch.malformed_count("cam") == 3)
        finally:
            junk.close()
        before = latch.count("cam")
        latch.wait_for_sample("cam", 10.0, after=before + 2)        # paho's thread is alive and feeding
        assert feed.connected
        cam.move_absolute(12.0, 3.0)
        sample = latch.wait_stable("cam", 1.0, timeout_s=15.0, after=latch.count("cam"))
        assert (sample.pan_deg, sample.tilt_deg) == pytest.approx((12.0, 3.0))


def test_an_interruption_or_a_silence_restarts_the_still_streak():
    now = [0.0]
    latch = TelemetryLatch(clock=lambda: now[0], gap_s=2.0)
    for t in range(5):                                             # still for 4 s, one sample a second
        now[0] = float(t)
        latch.update(_sample(100.0 + t, received=now[0]))
    assert latch.still_for_s("c") == pytest.approx(4.0)
    latch.interrupt("c", "the MQTT broker went away")
    assert latch.still_for_s("c") == 0.0
    now[0] = 10.0                                                  # it never said stability during the outage
    with pytest.raises(TelemetryTimeout, match=r"the MQTT broker went away 6\.0 s ago"):
        latch.wait_stable("c", 1.0, timeout_s=0.0)
    latch.update(_sample(110.0, received=now[0]))                  # back, same position: a new streak
    now[0] = 11.0
    latch.update(_sample(111.0, received=now[0]))
    assert latch.still_for_s("c") == pytest.approx(1.0)
    now[0] = 14.0                                                  # 3 s of silence without any outage news
    latch.update(_sample(114.0, received=now[0]))
    assert latch.still_for_s("c") == 0.0


def test_a_broker_outage_does_not_count_toward_stable(tmp_path, mosquitto):
    latch = TelemetryLatch()
    with _camera(tmp_path, mosquitto.port, time_factor=1.0) as cam, \
            MqttTelemetry(latch, {TOPIC: "cam"}, "127.0.0.1", mosquitto.port, connect_timeout_s=10.0) as feed:
        latch.wait_stable("cam", 1.0, timeout_s=20.0)
        mosquitto.restart(down_s=5.0)
        latch.wait_for_sample("cam", 30.0, after=latch.count("cam"))     # the first sample after the outage
        assert feed.connects >= 2
        # Before issue 13 the streak ran through the outage: at least the 5 s it lasted, plus the 1 s before.
        assert latch.still_for_s("cam") < 5.0
        assert cam.position()[:2] == pytest.approx((latch.latest("cam").pan_deg, latch.latest("cam").tilt_deg))


SERVE_CONFIG = """
[sim]
seed = 0
time_factor = 1.0
[deployments.site]
[cameras.cam]
driver = "sim"
model = "PTZ"
deployment = "site"
host = "127.0.0.1"
port = 0
username = "admin"
password = "pw"
resolution = [64, 36]
telemetry_topic = "camdeck/site/cam/telemetry"
"""


@pytest.fixture
def served_camera(tmp_path, mosquitto):
    """`camdeck sim serve` in a process of its own (ONVIF + MQTT telemetry): the test may kill it."""
    import os
    import sys

    from tests.monitoring.test_cli_ptz import _read_lines

    (tmp_path / "serve.toml").write_text(SERVE_CONFIG)
    proc = subprocess.Popen([sys.executable, "-m", "camdeck.console.cli.app", "sim", "serve", "--json",
                             "--config", str(tmp_path / "serve.toml"), "--mqtt", f"127.0.0.1:{mosquitto.port}",
                             "--data-dir", str(tmp_path / "sim")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=dict(os.environ, NO_PROXY="127.0.0.1,localhost"))
    try:
        [row] = _read_lines(proc, 1, 60.0)
        assert row["port"] not in (0, 80)                  # a free port, never a fixed one shared with other runs
        yield proc, row["port"]
    finally:
        proc.kill()
        proc.wait(10)


@pytest.mark.parametrize("broker, source", [("up", "mqtt"), ("unreachable", "poll")])
def test_a_camera_that_stops_answering_is_named_not_waited_on(tmp_path, mosquitto, served_camera, broker, source):
    import threading

    from camdeck.monitoring.devices import open_device
    from camdeck.monitoring.telemetry import CameraNotAnswering
    from tests.monitoring import ptz_settings

    proc, port = served_camera
    settings = ptz_settings(tmp_path, onvif_port=port, mqtt_port=mosquitto.port if broker == "up" else free_port())
    with open_device(settings, "site/cam-onvif") as device:
        assert device.telemetry_source == source
        device.wait_stable(0.5, timeout_s=60.0)
        threading.Timer(1.0, proc.kill).start()             # the camera dies mid-wait (ONVIF and telemetry)
        with pytest.raises(CameraNotAnswering) as caught:
            device.wait_stable(3600.0, timeout_s=600.0)     # before: 600 s, then "telemetry stopped", the broker blamed
    text = str(caught.value)
    assert text.startswith("cam-onvif: the camera stopped answering") and f"127.0.0.1:{port}" in text
    assert "broker is not the cause" in text
