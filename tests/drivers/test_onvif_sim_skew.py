"""The ONVIF simulator's WS-UsernameToken window: a digest token is taken within gSOAP's limits
(wsu:Created up to 300 s ahead of the device clock, up to 540 s old), so a request that a loaded
machine delayed by a few seconds is answered, while a client that ignores a skewed device clock
or replays a token is refused."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import xml.etree.ElementTree as ET

import pytest

from camdeck.drivers.sim.onvif_soap import NS, SoapFault, UsernameTokenChecker

PASSWORD = "skew-test-pw"
DEVICE_NOW = dt.datetime(2026, 12, 3, 12, 0, 0, tzinfo=dt.timezone.utc)


def digest_token(created: dt.datetime, password: str = PASSWORD, nonce: bytes | None = None) -> ET.Element:
    """A UsernameToken as zeep writes it: Created in whole seconds, digest = SHA1(nonce + created + password)."""
    nonce = os.urandom(16) if nonce is None else nonce
    created_text = created.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    digest = base64.b64encode(hashlib.sha1(nonce + created_text.encode() + password.encode()).digest()).decode()
    token = ET.Element(f"{{{NS['wsse']}}}UsernameToken")
    ET.SubElement(token, f"{{{NS['wsse']}}}Username").text = "admin"
    pw = ET.SubElement(token, f"{{{NS['wsse']}}}Password")
    pw.set("Type", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest")
    pw.text = digest
    ET.SubElement(token, f"{{{NS['wsse']}}}Nonce").text = base64.b64encode(nonce).decode()
    ET.SubElement(token, f"{{{NS['wsu']}}}Created").text = created_text
    return token


@pytest.mark.parametrize("offset_s", [-539, -60, -4.5, 0, 4.5, 60, 299])
def test_a_token_within_the_window_is_taken(offset_s):
    checker = UsernameTokenChecker("admin", PASSWORD)
    checker.check(digest_token(DEVICE_NOW + dt.timedelta(seconds=offset_s)), DEVICE_NOW)   # no fault


@pytest.mark.parametrize("offset_s", [-541, -3600, 301, 3600])
def test_a_token_outside_the_window_is_refused(offset_s):
    checker = UsernameTokenChecker("admin", PASSWORD)
    with pytest.raises(SoapFault) as fault:
        checker.check(digest_token(DEVICE_NOW + dt.timedelta(seconds=offset_s)), DEVICE_NOW)
    assert fault.value.subcodes == ("ter:NotAuthorized",)


def test_a_replayed_or_wrong_token_is_refused_inside_the_window():
    checker = UsernameTokenChecker("admin", PASSWORD)
    nonce = os.urandom(16)
    checker.check(digest_token(DEVICE_NOW, nonce=nonce), DEVICE_NOW)
    for token in (digest_token(DEVICE_NOW, nonce=nonce), digest_token(DEVICE_NOW, password="wrong")):
        with pytest.raises(SoapFault) as fault:
            checker.check(token, DEVICE_NOW + dt.timedelta(seconds=1))
        assert fault.value.subcodes == ("ter:NotAuthorized",)
