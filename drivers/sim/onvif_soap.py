"""SOAP 1.2 plumbing of the ONVIF device simulator: parse requests, check WS-UsernameToken, build replies.

Shapes follow the ONVIF WSDLs (devicemgmt ver10, media ver10, ptz ver20, schema tt ver10):
reply elements sit in the service namespace, their contents in ``tt``. Faults declare the
``ter`` prefix they use (zeep otherwise reports an XML error instead of the fault).
"""
from __future__ import annotations

import base64
import binascii
import collections
import datetime as dt
import hashlib
import hmac
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
}
CONTENT_TYPE = "application/soap+xml; charset=utf-8"
# How far a digest token's wsu:Created may be from the device's clock: the window of gSOAP's
# WS-Security plugin (wsseapi.c, soap_wsse_session_verify), which many ONVIF cameras' firmware
# is built on: at most SOAP_WSSE_CLKSKEW = 300 s ahead ("Authorization request in future") and
# at most SOAP_WSSE_NONCETIME = 300 + 240 s old ("Authentication expired"). Clients do not
# make Created exact: onvif-zeep (adjust_time) and Home Assistant's onvif integration offset it
# by the camera's clock read once from GetSystemDateAndTime, which has whole seconds, and zeep
# writes Created in whole seconds too, so an honest token is up to ~2 s off on an idle machine,
# plus however long the connect-time reply and the request itself took. HA treats a camera
# within 5 s as in sync and only warns (or sets the camera's clock) beyond that. A 5 s window
# here refused honest requests that a loaded machine delayed by 3-5 s (seen on CI: the fleet
# tests' GetStatus). A client that ignores a skewed device clock (clock_skew_s of an hour, as
# the driver tests use) is still refused.
MAX_AHEAD_S = 300.0
MAX_AGE_S = 540.0
MAX_BODY_BYTES = 1 << 20

SPACE_ABS_PT = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
SPACE_ABS_Z = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"
SPACE_REL_PT = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace"
SPACE_REL_Z = "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace"
SPACE_VEL_PT = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace"
SPACE_VEL_Z = "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace"
SPACE_SPEED_PT = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace"
SPACE_SPEED_Z = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace"


class SoapFault(Exception):
    """A fault to send back: code (env:Sender | env:Receiver), ter subcodes, reason, HTTP status."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.status = status


def sender_fault(reason: str, *subcodes: str) -> SoapFault:
    return SoapFault("env:Sender", subcodes, reason, 400)


def not_authorized() -> SoapFault:
    return SoapFault("env:Sender", ("ter:NotAuthorized",), "Sender not Authorized", 400)


@dataclass
class Request:
    """A parsed SOAP request: the operation's namespace and local name, its element, the security header."""

    namespace: str
    operation: str
    body: ET.Element
    token: ET.Element | None


def parse_request(data: bytes) -> Request:
    """Parse a SOAP 1.2 envelope; SoapFault on anything that is not one."""
    if len(data) > MAX_BODY_BYTES:
        raise sender_fault("request too large", "ter:InvalidArgs")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise sender_fault(f"not XML: {err}", "ter:WellFormed") from None
    except (LookupError, ValueError) as err:   # an encoding declaration Python does not know, or cannot stream
        raise sender_fault(f"not XML this server reads: {' '.join(str(err).split())[:120]}", "ter:WellFormed") from None
    if root.tag != f"{{{NS['env']}}}Envelope":
        raise sender_fault("not a SOAP 1.2 envelope", "ter:WellFormed")
    body = root.find("env:Body", NS)
    if body is None or len(body) == 0:
        raise sender_fault("empty SOAP body", "ter:WellFormed")
    op = body[0]
    m = re.fullmatch(r"\{(.*)\}(.*)", op.tag)
    if not m:
        raise sender_fault("operation without a namespace", "ter:WellFormed")
    token = root.find("env:Header/wsse:Security/wsse:UsernameToken", NS)
    return Request(namespace=m.group(1), operation=m.group(2), body=op, token=token)


def parse_created(text: str) -> dt.datetime:
    """wsu:Created as an aware UTC datetime; accepts ``Z`` and ``+00:00`` forms, with or without fractions."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


class UsernameTokenChecker:
    """Checks WS-UsernameToken PasswordDigest (or PasswordText) against one user, with replay and skew limits."""

    def __init__(self, username: str, password: str) -> None:
        self._username = username
        self._password = password.encode("utf-8")
        # the last 4096 nonces: a replay behind as many newer requests inside the age window
        # passes (a simulator for tests and demos, not a security boundary)
        self._nonces: collections.deque[bytes] = collections.deque(maxlen=4096)
        self._seen: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, token: ET.Element | None, device_now: dt.datetime) -> None:
        """Raise ``not_authorized()`` unless the token is valid at the device's clock ``device_now`` (UTC)."""
        if token is None:
            raise not_authorized()
        user = token.findtext("wsse:Username", "", NS)
        pw = token.find("wsse:Password", NS)
        if pw is None or not hmac.compare_digest(user.encode(), self._username.encode()):
            raise not_authorized()
        kind = pw.get("Type", "")
        supplied = (pw.text or "").strip()
        if kind.endswith("#PasswordText"):
            if not hmac.compare_digest(supplied.encode(), self._password):
                raise not_authorized()
            return
        nonce_b64 = token.findtext("wsse:Nonce", "", NS).strip()
        created_text = token.findtext("wsu:Created", "", NS).strip()
        try:
            nonce = base64.b64decode(nonce_b64, validate=True)
            created = parse_created(created_text)
        except (binascii.Error, ValueError, OverflowError):   # OverflowError: year 9999 at -14:00 is past UTC's range
            raise not_authorized() from None
        age_s = (device_now - created).total_seconds()
        if age_s > MAX_AGE_S or -age_s > MAX_AHEAD_S:
            raise not_authorized()
        expected = base64.b64encode(hashlib.sha1(nonce + created_text.encode() + self._password).digest()).decode()
        if not hmac.compare_digest(expected.encode(), supplied.encode()):
            raise not_authorized()
        with self._lock:
            if nonce in self._seen:
                raise not_authorized()
            if len(self._nonces) == self._nonces.maxlen:
                self._seen.discard(self._nonces[0])
            self._nonces.append(nonce)
            self._seen.add(nonce)


# ------------------------------------------------------------ building replies

def envelope(body_xml: str) -> bytes:
    ns = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items() if p not in ("wsse", "wsu"))
    return (f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {ns}><env:Body>{body_xml}'
            f"</env:Body></env:Envelope>").encode("utf-8")


def fault_envelope(fault: SoapFault) -> bytes:
    sub = ""
    for code in reversed(fault.subcodes):
        sub = f"<env:Subcode><env:Value>{code}</env:Value>{sub}</env:Subcode>"
    body = (f"<env:Fault><env:Code><env:Value>{fault.code}</env:Value>{sub}</env:Code>"
            f'<env:Reason><env:Text xml:lang="en">{escape(fault.reason)}</env:Text></env:Reason></env:Fault>')
    return envelope(body)


def el(tag: str, content: str = "", **attrs: object) -> str:
    """``<tag a="..">content</tag>``; ``content`` is XML already, attribute values are escaped."""
    attr = "".join(f" {k}={quoteattr(str(v))}" for k, v in attrs.items() if v is not None)
    return f"<{tag}{attr}>{content}</{tag}>" if content != "" else f"<{tag}{attr}/>"


def text(tag: str, value: object) -> str:
    """``<tag>value</tag>`` with the value escaped (bools as true/false, floats as %.9g)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, float):
        value = f"{value:.9g}"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def num(x: float) -> str:
    return f"{float(x):.9g}"


def vector(pan_tilt: tuple[float, float] | None, zoom: float | None, pt_space: str, z_space: str,
           prefix: str = "tt") -> str:
    out = ""
    if pan_tilt is not None:
        out += el(f"{prefix}:PanTilt", x=num(pan_tilt[0]), y=num(pan_tilt[1]), space=pt_space)
    if zoom is not None:
        out += el(f"{prefix}:Zoom", x=num(zoom), space=z_space)
    return out


def range_1d(uri: str, lo: float, hi: float) -> str:
    return text("tt:URI", uri) + el("tt:XRange", text("tt:Min", num(lo)) + text("tt:Max", num(hi)))


def range_2d(uri: str, lo: float, hi: float) -> str:
    return range_1d(uri, lo, hi) + el("tt:YRange", text("tt:Min", num(lo)) + text("tt:Max", num(hi)))


def date_time(tag: str, value: dt.datetime) -> str:
    return el(tag, el("tt:Time", text("tt:Hour", value.hour) + text("tt:Minute", value.minute)
                      + text("tt:Second", value.second))
              + el("tt:Date", text("tt:Year", value.year) + text("tt:Month", value.month) + text("tt:Day", value.day)))


def utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ------------------------------------------------------------ reading request values

def find(elem: ET.Element, path: str) -> ET.Element | None:
    """Find by local names joined with '/', in any namespace (clients differ on prefixes)."""
    node: ET.Element | None = elem
    for part in path.split("/"):
        if node is None:
            return None
        node = next((c for c in node if c.tag.rsplit("}", 1)[-1] == part), None)
    return node


def find_text(elem: ET.Element, path: str, default: str = "") -> str:
    node = find(elem, path)
    return (node.text or "").strip() if node is not None else default


def float_attr(node: ET.Element | None, name: str) -> float | None:
    if node is None or node.get(name) is None:
        return None
    try:
        value = float(node.get(name))  # type: ignore[arg-type]
    except ValueError:
        raise sender_fault(f"{name}={node.get(name)!r} is not a number", "ter:InvalidArgVal") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise sender_fault(f"{name} is not finite", "ter:InvalidArgVal")
    return value


# Digits are bounded: int() refuses more than 4,300 of them, and no PTZ timeout needs 10 of them.
_DURATION = re.compile(r"P(?:([0-9]{1,9})D)?(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9}(?:\.[0-9]{1,9})?)S)?)?")


def parse_duration_s(text_value: str) -> float | None:
    """xs:duration such as PT1S, PT0.5S, PT1M30S -> seconds (None when empty); a sender fault otherwise."""
    if not text_value:
        return None
    m = _DURATION.fullmatch(text_value.strip())
    if not m:
        shown = text_value if len(text_value) <= 40 else text_value[:40] + "..."
        raise sender_fault(f"bad duration {shown!r}", "ter:InvalidArgVal")
    d, h, mi, s = m.groups()
    return int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
