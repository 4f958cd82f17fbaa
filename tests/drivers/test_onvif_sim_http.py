"""The ONVIF simulator's HTTP framing, over raw sockets: bodies are capped whatever the headers
say (a negative, non-numeric or missing Content-Length, chunked bodies), and a bad request gets
its 4xx answer instead of a handler traceback on the server's stderr."""
from __future__ import annotations

import http.client
import socket

import pytest

from camdeck.drivers.base import CameraSpec, Secret
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
from camdeck.drivers.sim.onvif_soap import MAX_BODY_BYTES
from camdeck.drivers.sim.ptz import SimPtzCamera

OPTIONS = {"deployment": "site", "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0),
           "hfov_deg": (60.0, 6.0), "speed_deg_s": 120.0, "telemetry_topic": "test/http"}
TIME_REQUEST = (b'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
                b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sim = SimPtzCamera(CameraSpec(name="cam", driver="sim", model="PTZ", resolution=(160, 90), options=OPTIONS),
                       DriverContext(data_dir=tmp_path_factory.mktemp("onvif-http")), telemetry_hz=0)
    server = OnvifDeviceServer(sim, "admin", Secret("pw-http")).start()
    yield server
    server.stop()
    sim.close()


def exchange(port: int, head: bytes, body: bytes = b"", *, timeout_s: float = 10.0) -> tuple[int, bytes, bool]:
    """Send ``head`` (request line and headers, without the blank line) and ``body``; return the
    status, the whole answer, and whether the server closed the connection after it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(head + b"\r\n\r\n" + body)
        answer = b""
        closed = False
        while True:
            try:
                piece = sock.recv(65536)
            except TimeoutError:
                break          # kept open (keep-alive) after what it said
            if not piece:
                closed = True
                break
            answer += piece
            if b"\r\n\r\n" in answer and _complete(answer):
                sock.settimeout(0.5)    # the answer is whole: does the server hang up?
    assert answer.startswith(b"HTTP/1."), f"no HTTP answer: {answer[:200]!r}"
    return int(answer.split(b" ", 2)[1]), answer, closed


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def post(length_header: bytes, extra: bytes = b"") -> bytes:
    return (b"POST /onvif/device_service HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/soap+xml\r\n" + length_header + extra)


def test_a_valid_request_is_answered(server):
    status, answer, _ = exchange(server.port, post(b"Content-Length: %d" % len(TIME_REQUEST)), TIME_REQUEST)
    assert status == 200 and b"GetSystemDateAndTimeResponse" in answer


def test_a_negative_content_length_is_refused_without_reading_on(server, capfd):
    """Once: read(-1) read to the end of the stream, past the 1 MiB cap (300 MiB went in).
    The body is never sent here: an answer at all proves nothing waits for it."""
    status, _, closed = exchange(server.port, post(b"Content-Length: -1"), timeout_s=5.0)
    assert status == 400 and closed
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("value", [b"abc", b"+5", b"0x10", b"5, 6", b"", b"1" * 40])
def test_a_content_length_that_is_no_length_is_400_without_a_traceback(server, capfd, value):
    status, _, closed = exchange(server.port, post(b"Content-Length: " + value), timeout_s=5.0)
    assert status == 400 and closed
    assert "Traceback" not in capfd.readouterr().err


def test_a_body_over_the_cap_is_413_before_it_is_read(server):
    status, _, closed = exchange(server.port, post(b"Content-Length: %d" % (MAX_BODY_BYTES + 1)), timeout_s=5.0)
    assert status == 413 and closed


def test_expect_100_continue_is_refused_when_the_body_is_too_large(server):
    status, answer, closed = exchange(server.port, post(b"Content-Length: %d" % (300 << 20), b"\r\nExpect: 100-continue"),
                                      timeout_s=5.0)
    assert status == 413 and b"100 Continue" not in answer and closed


def test_no_length_at_all_is_411(server):
    status, _, closed = exchange(server.port, post(b"Connection: keep-alive"), timeout_s=5.0)
    assert status == 411 and closed


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def test_a_chunked_body_is_read(server):
    status, answer, _ = exchange(server.port, post(b"Transfer-Encoding: chunked"), chunked(TIME_REQUEST, 17))
    assert status == 200 and b"GetSystemDateAndTimeResponse" in answer


def test_a_chunked_body_over_the_cap_is_413(server):
    """Chunks that add up past 1 MiB: the server stops reading at the cap, whatever follows."""
    piece = b"x" * 65536
    body = b"".join(b"%x\r\n" % len(piece) + piece + b"\r\n" for _ in range(MAX_BODY_BYTES // len(piece) + 1))
    status, _, closed = exchange(server.port, post(b"Transfer-Encoding: chunked"), body, timeout_s=5.0)
    assert status == 413 and closed


def test_one_huge_chunk_is_413_before_it_is_read(server):
    status, _, closed = exchange(server.port, post(b"Transfer-Encoding: chunked"), b"ffffffffff\r\n", timeout_s=5.0)
    assert status == 413 and closed


@pytest.mark.parametrize("head, body, expected", [
    (post(b"Transfer-Encoding: chunked"), b"zz\r\n", 400),                       # not hex
    (post(b"Transfer-Encoding: gzip"), b"", 501),                                # a coding it does not do
    (post(b"Transfer-Encoding: chunked", b"\r\nContent-Length: 5"), b"", 400),   # both: a smuggling shape
])
def test_bad_chunked_framing_is_refused(server, capfd, head, body, expected):
    status, _, closed = exchange(server.port, head, body, timeout_s=5.0)
    assert status == expected and closed
    assert "Traceback" not in capfd.readouterr().err


def test_it_still_answers_after_all_that(server):
    test_a_valid_request_is_answered(server)


def soap(server, body: str, header: str = "") -> tuple[int, bytes]:
    data = (f'<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            f'xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">'
            f"{header}<s:Body>{body}</s:Body></s:Envelope>").encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10.0)
    try:
        conn.request("POST", "/onvif/ptz_service", body=data, headers={"Content-Type": "application/soap+xml"})
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def text_token(password: str = "pw-http") -> str:
    return ('<s:Header><wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
            'secext-1.0.xsd"><wsse:UsernameToken><wsse:Username>admin</wsse:Username><wsse:Password Type="http://docs.'
            'oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">'
            f"{password}</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header>")


@pytest.mark.parametrize("timeout", ["PT1.2.3S", "PT.S", "P" + "9" * 5000 + "D"])
def test_a_bad_move_timeout_is_a_sender_fault(server, caplog, timeout):
    """Once ValueErrors out of float()/int() (the 4,300-digit limit): "internal error" faults."""
    status, answer = soap(server, "<tptz:ContinuousMove><tptz:ProfileToken>profile_1</tptz:ProfileToken>"
                                  '<tptz:Velocity><PanTilt x="0.1" y="0"/></tptz:Velocity>'
                                  f"<tptz:Timeout>{timeout}</tptz:Timeout></tptz:ContinuousMove>", text_token())
    assert status == 400 and b"bad duration" in answer
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_created_time_past_the_calendar_is_not_authorized(server, caplog):
    """wsu:Created 9999-12-31T23:59:59-14:00 is after year 9999 in UTC: once an OverflowError."""
    header = text_token().replace('#PasswordText">pw-http', '#PasswordDigest">AAAA').replace(
        "</wsse:Password>", "</wsse:Password><wsse:Nonce>AAAA</wsse:Nonce><wsu:Created xmlns:wsu=\"http://docs.oasis-"
        "open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\">9999-12-31T23:59:59-14:00</wsu:Created>")
    status, answer = soap(server, "<tds:GetDeviceInformation/>", header)
    assert status == 400 and b"NotAuthorized" in answer
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_an_unknown_encoding_declaration_is_a_sender_fault(server):
    data = b'<?xml version="1.0" encoding="x-nonsense"?><r/>'            # once a LookupError
    status, answer, _ = exchange(server.port, post(b"Content-Length: %d" % len(data)), data)
    assert status == 400 and b"WellFormed" in answer


def test_presets_stop_at_the_advertised_64(server):
    from camdeck.drivers.sim.onvif_server import MAX_PRESETS

    answers = [soap(server, f"<tptz:SetPreset><tptz:ProfileToken>profile_1</tptz:ProfileToken>"
                            f"<tptz:PresetName>p{i}</tptz:PresetName></tptz:SetPreset>", text_token())
               for i in range(MAX_PRESETS)]      # "home" is one of the 64 already
    assert [a[0] for a in answers[:-1]] == [200] * (MAX_PRESETS - 1)
    assert answers[-1][0] == 400 and b"TooManyPresets" in answers[-1][1]
