"""Fuzz: MQTT telemetry payloads through a real mosquitto to monitoring.telemetry's subscriber.

Each case is a short run of payloads on the camera's topic: samples with their values swapped
for hostile ones (NaN, Infinity, 400-digit numbers, strings, nulls, nested arrays, extreme
timestamps), arbitrary JSON, raw bytes, deep nesting and oversized messages. Every message
must be either recorded or counted as malformed (exactly one of the two), the subscriber must
stay connected with its network thread alive, what the latch holds must stay finite, and a
valid message after the garbage is recorded as sent.
"""
from __future__ import annotations

import collections
import json
import math
import time

import pytest
from hypothesis import given, strategies as st

from camdeck.monitoring.telemetry import (MAX_ANGLE_DEG, MAX_PAYLOAD_BYTES, MAX_TIMESTAMP_S, MAX_ZOOM, MqttTelemetry,
                                          TelemetryLatch)
from tests.conftest import ServerProcess, _binary, free_port

TOPIC = "fuzz/site/cam/telemetry"
ARRIVAL_S = 5.0

number = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 400, 10 ** 400),
                   st.sampled_from([1e308, -1e308, 5e-324, 0, -0.0, 10 ** 19, 2 ** 63, 1.7e10, -1]))
anything = st.recursive(st.none() | st.booleans() | number | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                   max_size=4), max_leaves=12)


@st.composite
def sample(draw) -> bytes:
    """A telemetry sample with some fields spoilt, some missing, some under their other name."""
    fields = {"pan_deg": draw(st.floats(-180, 180)), "tilt_deg": draw(st.floats(-30, 90)),
              "zoom": draw(st.floats(0, 1)), "moving": draw(st.booleans()), "timestamp": 1.7e9 + draw(st.floats(0, 1e5))}
    for key in draw(st.sets(st.sampled_from(sorted(fields)), max_size=3)):
        choice = draw(st.sampled_from(["drop", "number", "anything"]))
        if choice == "drop":
            del fields[key]
        else:
            fields[key] = draw(number if choice == "number" else anything)
    if draw(st.booleans()) and "pan_deg" in fields:
        fields["pan"] = fields.pop("pan_deg")
    text = json.dumps(fields, allow_nan=True, default=str)
    return text.encode()


SPECIALS = [b"", b"null", b"[]", b"{}", b"1" * 400, b'{"pan_deg": ' + b"1" * 5000 + b', "tilt_deg": 0}',
            b"[" * 50_000, b"[" * 70_000 + b"]" * 70_000, b"{" * 1000, b'{"pan_deg": 1e400, "tilt_deg": 0}',
            b'{"pan_deg": NaN, "tilt_deg": 0}', b'{"pan_deg": 1, "tilt_deg": 2, "pan_deg": "x"}',
            b"\xff\xfe\x00\x00", '{"pan_deg": 1, "tilt_deg": 2}'.encode("utf-16"),
            b'{"pan_deg": 1, "tilt_deg": 2, "pad": "' + b"x" * (MAX_PAYLOAD_BYTES + 1) + b'"}',
            b'{"pan_deg": 1, "tilt_deg": 2, "timestamp": -1e308}', b'{"pan_deg": 1, "tilt_deg": 2, "timestamp": 1e308}']

payload = st.one_of(sample(), sample(), anything.map(lambda v: json.dumps(v, allow_nan=True).encode()),
                    st.binary(max_size=300), st.sampled_from(SPECIALS))


class Subscriber:
    """The subscriber under test and a publisher, both on one real mosquitto."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.latch = TelemetryLatch()
        self.feed = MqttTelemetry(self.latch, {TOPIC: "cam"}, "127.0.0.1", port, connect_timeout_s=10.0).start()
        self.pub = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        self.pub.connect("127.0.0.1", port)
        self.pub.loop_start()

    def send(self, data: bytes) -> str:
        """Publish one payload; "recorded" or "malformed" once the subscriber has taken it."""
        before = (self.latch.count("cam"), self.latch.malformed_count("cam"))
        self.pub.publish(TOPIC, data, qos=1).wait_for_publish(ARRIVAL_S)
        deadline = time.monotonic() + ARRIVAL_S
        while time.monotonic() < deadline:
            after = (self.latch.count("cam"), self.latch.malformed_count("cam"))
            if after != before:
                delta = (after[0] - before[0], after[1] - before[1])
                assert delta in ((1, 0), (0, 1)), f"one message, {delta} recorded/malformed"
                return "recorded" if delta == (1, 0) else "malformed"
            time.sleep(0.002)
        raise AssertionError(f"a {len(data)}-byte message was neither recorded nor counted malformed")

    def close(self) -> None:
        self.pub.loop_stop()
        self.pub.disconnect()
        self.feed.stop()


@pytest.fixture(scope="module")
def subscriber(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-mqtt")
    conf = folder / "mosquitto.conf"

    def argv(port: int) -> list[str]:
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        return [_binary("mosquitto"), "-c", str(conf)]

    broker = ServerProcess(argv, free_port(), folder).start()
    sub = Subscriber(broker.port)
    yield sub
    sub.close()
    broker.stop()


OUTCOMES: collections.Counter = collections.Counter()


@given(case=st.lists(payload, min_size=1, max_size=4))
def test_every_payload_is_recorded_or_counted_malformed(subscriber, case):
    for data in case:
        OUTCOMES[subscriber.send(data)] += 1
    assert subscriber.feed.connected and subscriber.feed._client._thread.is_alive()
    latest = subscriber.latch.latest("cam")
    if latest is not None:      # what is recorded is a position and a time, not garbage the latch computes with
        assert abs(latest.pan_deg) <= MAX_ANGLE_DEG and abs(latest.tilt_deg) <= MAX_ANGLE_DEG
        assert 0.0 <= latest.zoom <= MAX_ZOOM and 0.0 <= latest.timestamp <= MAX_TIMESTAMP_S
    assert math.isfinite(subscriber.latch.still_for_s("cam"))


def test_a_valid_message_after_the_garbage_is_recorded(subscriber):
    assert subscriber.send(b'{"pan_deg": 12.5, "tilt_deg": -3.25, "zoom": 0.5, "timestamp": 1700000000.5}') == "recorded"
    got = subscriber.latch.latest("cam")
    assert (got.pan_deg, got.tilt_deg, got.zoom, got.timestamp) == (12.5, -3.25, 0.5, 1700000000.5)
    print(f"\nMQTT telemetry fuzz outcomes ({sum(OUTCOMES.values())} messages): {dict(sorted(OUTCOMES.items()))}")
