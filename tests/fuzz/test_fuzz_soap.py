"""Fuzz: SOAP bodies to the real ONVIF device simulator over HTTP.

Cases: valid requests of every operation the simulator serves with their values swapped for
hostile ones (nan, 1e999, 5,000 digits, bad durations, long text, wrong tokens), structural
damage (no body, two operations, foreign namespaces, deep nesting, truncation), entity tricks
(billion laughs, XXE, parameter entities) and plain garbage. Each answer must be a whole HTTP
response within the socket timeout: 200, a SOAP fault (well-formed XML), or a 4xx; never the
simulator's "internal error" fault, a traceback on its stderr, an error in its log or its
password in an answer. The server answers a valid request afterwards.
"""
from __future__ import annotations

import collections
import http.client
import logging
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from hypothesis import given, strategies as st

from camdeck.drivers.base import CameraSpec, Secret
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
from camdeck.drivers.sim.ptz import SimPtzCamera

PASSWORD = "fuzz-pw-7781"
ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = {"tds": "http://www.onvif.org/ver10/device/wsdl", "trt": "http://www.onvif.org/ver10/media/wsdl",
      "tptz": "http://www.onvif.org/ver20/ptz/wsdl", "tt": "http://www.onvif.org/ver10/schema"}
TIMEOUT_S = 10.0
OPTIONS = {"deployment": "fuzz", "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0),
           "hfov_deg": (60.0, 6.0), "speed_deg_s": 120.0, "telemetry_topic": "fuzz/soap"}

# (service, operation, body template): {v0}, {v1}... are where the values go
OPERATIONS = [
    ("tds", "GetSystemDateAndTime", ""),
    ("tds", "GetCapabilities", "<tds:Category>{v0}</tds:Category>"),
    ("tds", "GetServices", "<tds:IncludeCapability>{v0}</tds:IncludeCapability>"),
    ("tds", "GetDeviceInformation", ""),
    ("trt", "GetProfiles", ""),
    ("trt", "GetSnapshotUri", "<trt:ProfileToken>{v0}</trt:ProfileToken>"),
    ("trt", "GetStreamUri", "<trt:StreamSetup><tt:Stream>{v1}</tt:Stream></trt:StreamSetup>"
                            "<trt:ProfileToken>{v0}</trt:ProfileToken>"),
    ("tptz", "AbsoluteMove", '<tptz:ProfileToken>{v0}</tptz:ProfileToken><tptz:Position>'
                             '<tt:PanTilt x="{v1}" y="{v2}"/><tt:Zoom x="{v3}"/></tptz:Position>'),
    ("tptz", "RelativeMove", '<tptz:ProfileToken>{v0}</tptz:ProfileToken><tptz:Translation>'
                             '<tt:PanTilt x="{v1}" y="{v2}"/><tt:Zoom x="{v3}"/></tptz:Translation>'),
    ("tptz", "ContinuousMove", '<tptz:ProfileToken>{v0}</tptz:ProfileToken><tptz:Velocity>'
                               '<tt:PanTilt x="{v1}" y="{v2}"/><tt:Zoom x="{v3}"/></tptz:Velocity>'
                               "<tptz:Timeout>{v4}</tptz:Timeout>"),
    ("tptz", "Stop", "<tptz:ProfileToken>{v0}</tptz:ProfileToken><tptz:PanTilt>{v1}</tptz:PanTilt>"),
    ("tptz", "GetStatus", "<tptz:ProfileToken>{v0}</tptz:ProfileToken>"),
    ("tptz", "GetPresets", "<tptz:ProfileToken>{v0}</tptz:ProfileToken>"),
    ("tptz", "SetPreset", "<tptz:ProfileToken>{v0}</tptz:ProfileToken><tptz:PresetName>{v1}</tptz:PresetName>"),
    ("tptz", "GotoPreset", "<tptz:ProfileToken>{v0}</tptz:ProfileToken><tptz:PresetToken>{v1}</tptz:PresetToken>"),
    ("tptz", "GetConfigurations", ""),
    ("tptz", "GetConfigurationOptions", "<tptz:ConfigurationToken>{v0}</tptz:ConfigurationToken>"),
    ("tptz", "GetNodes", ""),
]
VALID = {"v0": "profile_1", "v1": "0.1", "v2": "-0.2", "v3": "0.3", "v4": "PT1S"}

HOSTILE = ["nan", "NaN", "inf", "-inf", "1e999", "-1e999", "1e-400", "", " ", "0x10", "1_000", "1" * 5000,
           "-" + "9" * 400, "PT1.2.3S", "P" + "9" * 5000 + "D", "PT-1S", "P1Y", "PT" + "9" * 30 + "S", "PT.S",
           "home", "ptz_config_1", "profile_1", "x" * 70, "x" * 200_000, "\u00e9\u4e2d\U0001f600", "true", "false",
           "2", "-2", "1.0000001", "-1.0000001", "0", "1e308", "4.9e-324", "P", "PT", "PT0S", "PT60.5S", "P1DT1H1M1.5S"]

value = st.one_of(st.sampled_from(HOSTILE), st.sampled_from(list(VALID.values())),
                  st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers().map(str),
                  st.text(max_size=40))


CREATED = ["99999-13-45T99:99:99Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "", "now",
           "2024-01-01T00:00:00", "2024-01-01T00:00:00.123456789Z", "1" * 5000]
NONCES = ["!!notbase64", "", "AAAA", "A" * 10_000, "=", "AAA"]


def token(kind: str, nonce: str = "AAAA", created: str = CREATED[0]) -> str:
    """A WS-Security header: the right PasswordText, a wrong one, a digest of garbage, or none."""
    if kind == "none":
        return ""
    if kind == "digest-garbage":
        inner = ('<wsse:Username>admin</wsse:Username><wsse:Password Type="...#PasswordDigest">AAAA</wsse:Password>'
                 f"<wsse:Nonce>{escape(nonce)}</wsse:Nonce><wsu:Created>{escape(created)}</wsu:Created>")
    else:
        pw = PASSWORD if kind == "text" else "wrong"
        inner = (f'<wsse:Username>admin</wsse:Username><wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/'
                 f'oasis-200401-wss-username-token-profile-1.0#PasswordText">{pw}</wsse:Password>')
    return ('<s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
            'secext-1.0.xsd" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-'
            f'1.0.xsd"><wsse:UsernameToken>{inner}</wsse:UsernameToken></wsse:Security></s:Header>')


def envelope(body: str, header: str = "", env: str = ENV) -> bytes:
    ns = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{env}" {ns}>{header}<s:Body>{body}</s:Body></s:Envelope>'.encode()


@st.composite
def mutated_request(draw) -> bytes:
    service, op, template = draw(st.sampled_from(OPERATIONS))
    values = dict(VALID)
    used = sorted(set(re.findall(r"\{(v[0-9])\}", template)))
    for key in draw(st.sets(st.sampled_from(used), max_size=2)) if used else ():   # one or two values spoilt
        values[key] = draw(value)
    if draw(st.booleans()):           # escaped as a client would, or pasted raw (often not XML any more)
        values = {k: escape(v, {'"': "&quot;"}) for k, v in values.items()}
    body = f"<{service}:{op}>{template.format(**values)}</{service}:{op}>"
    shape = draw(st.sampled_from(["as-is", "as-is", "two-ops", "foreign-ns", "soap11", "truncated", "empty-body"]))
    header = token(draw(st.sampled_from(["text", "text", "text", "wrong", "none", "digest-garbage"])),
                   draw(st.sampled_from(NONCES) | st.text(max_size=20)), draw(st.sampled_from(CREATED) | st.text(max_size=30)))
    if shape == "two-ops":
        body += body
    elif shape == "foreign-ns":
        body = body.replace(f"<{service}:", "<tt:").replace(f"</{service}:", "</tt:")
    elif shape == "empty-body":
        body = ""
    data = envelope(body, header, "http://schemas.xmlsoap.org/soap/envelope/" if shape == "soap11" else ENV)
    if shape == "truncated":
        data = data[:draw(st.integers(0, len(data) - 1))]
    return data


ENTITY_TRICKS = [
    # billion laughs
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">' + b"".join(
        b'<!ENTITY %c "%s">' % (ord("b") + i, (b"&%c;" % (ord("a") + i)) * 10) for i in range(9))
    + b']><s:Envelope xmlns:s="' + ENV.encode() + b'"><s:Body><x>&j;</x></s:Body></s:Envelope>',
    # external entity (XXE)
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><s:Envelope xmlns:s="'
    + ENV.encode() + b'"><s:Body><tds:GetDeviceInformation xmlns:tds="' + NS["tds"].encode() + b'">&x;'
    b"</tds:GetDeviceInformation></s:Body></s:Envelope>",
    # parameter entity with an external DTD
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd"> %p;]><r/>',
    # quadratic blow-up: one big entity used many times
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY big "' + b"x" * 50_000 + b'">]><s:Envelope xmlns:s="'
    + ENV.encode() + b'"><s:Body><x>' + b"&big;" * 2000 + b"</x></s:Body></s:Envelope>",
    # deep nesting
    envelope("<a>" * 20_000 + "</a>" * 20_000),
    # an undefined entity, a bad encoding declaration, UTF-16
    envelope("<x>&undefined;</x>"),
    b'<?xml version="1.0" encoding="x-nonsense"?><r/>',
    envelope("<tds:GetDeviceInformation/>", token("text")).decode().encode("utf-16"),
]

garbage = st.one_of(st.binary(max_size=3000), st.text(max_size=500).map(lambda t: t.encode("utf-8")),
                    st.sampled_from(ENTITY_TRICKS))
soap_case = st.one_of(mutated_request(), mutated_request(), garbage)


@pytest.fixture(scope="module")
def onvif(tmp_path_factory):
    sim = SimPtzCamera(CameraSpec(name="fuzzcam", driver="sim", model="PTZ", resolution=(160, 90), options=OPTIONS),
                       DriverContext(data_dir=tmp_path_factory.mktemp("fuzz-onvif"), time_factor=100.0),
                       telemetry_hz=0)
    server = OnvifDeviceServer(sim, "admin", Secret(PASSWORD)).start()
    yield server
    server.stop()
    sim.close()


def post(port: int, data: bytes, path: str = "/onvif/ptz_service") -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    try:
        conn.request("POST", path, body=data, headers={"Content-Type": "application/soap+xml; charset=utf-8"})
        reply = conn.getresponse()
        return reply.status, reply.getheader("Content-Type", ""), reply.read()
    finally:
        conn.close()


def check_answer(status: int, content_type: str, body: bytes) -> str:
    """The contract on one answer; returns its outcome ("200", "fault 400", "http 413"...)."""
    if content_type.startswith("application/soap+xml"):
        root = ET.fromstring(body)                              # well-formed, or this raises
        fault = root.find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
        assert (status == 200) == (fault is None), (status, body[:300])
        assert b"internal error" not in body, body[:500]
        assert status == 200 or 400 <= status < 600, status
        return "200" if status == 200 else f"fault {status}"
    assert 400 <= status < 500, (status, body[:300])
    return f"http {status}"


OUTCOMES: collections.Counter = collections.Counter()


@given(case=soap_case)
def test_every_soap_body_gets_a_whole_answer(onvif, caplog, capfd, case):
    caplog.set_level(logging.DEBUG, logger="camdeck.drivers.sim")
    status, content_type, body = post(onvif.port, case)      # a hang would be a socket timeout here
    OUTCOMES[check_answer(status, content_type, body)] += 1
    assert PASSWORD.encode() not in body                     # the device's password is never echoed
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bad, [r.getMessage() for r in bad]
    assert "Traceback" not in capfd.readouterr().err


def test_the_simulator_still_answers_afterwards(onvif, capfd):
    for op, body in (("GetSystemDateAndTime", "<tds:GetSystemDateAndTime/>"),
                     ("GetStatus", "<tptz:GetStatus><tptz:ProfileToken>profile_1</tptz:ProfileToken></tptz:GetStatus>")):
        status, _, reply = post(onvif.port, envelope(body, token("text")))
        assert status == 200 and f"{op}Response".encode() in reply
    assert "Traceback" not in capfd.readouterr().err
    with capfd.disabled():      # the figures for the closing note (pytest -s shows them)
        print(f"\nSOAP fuzz outcomes ({sum(OUTCOMES.values())} cases): {dict(sorted(OUTCOMES.items()))}")
