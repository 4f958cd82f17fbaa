"""fileio.redact: the one place secrets are masked (URLs, query parameters, remembered values, keys)."""
from __future__ import annotations

import pytest

from camdeck.fileio import redact


@pytest.mark.parametrize("url, shown, hidden", [
    ("redis://:redis@pw789@host:6379/0", "redis://:***@host:6379/0", ["redis@pw789", "pw789"]),
    ("redis://user:s3cret@10.0.0.2/1", "redis://user:***@10.0.0.2/1", ["s3cret"]),
    ("redis://host/0?password=hunter22&db=1", "redis://host/0?password=***&db=1", ["hunter22"]),
    ("https://hooks.example/x?token=abc123", "https://hooks.example/x?token=***", ["abc123"]),
    ("rediss://tokenonly@host:6380/0", "rediss://***@host:6380/0", ["tokenonly"]),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", []),
])
def test_urls_lose_their_passwords_and_secret_parameters(url, shown, hidden):
    text = redact.redact_url(url)
    assert text == shown
    assert not any(h in text for h in hidden)


def test_scrub_masks_urls_inside_text_and_remembered_values():
    redact.remember(["31415926pw", "xy"])          # too short to mask ("xy") is ignored
    try:
        line = redact.scrub("connect redis://:a:b@c@host/0 failed; password 31415926pw; xy stays")
        assert "a:b@c" not in line and "31415926pw" not in line and "xy stays" in line
    finally:
        redact.forget_all()


def test_mappings_mask_secret_keys_and_scrub_strings():
    got = redact.redact_mapping({"cameras": {"c1": {"password": 1234, "host": "10.0.0.1"}},
                                 "slack": {"token": "xoxb-1", "channel": "#ops"},
                                 "redis": {"url": "redis://:pw9999@h/0"}})
    assert got["cameras"]["c1"] == {"password": "***", "host": "10.0.0.1"}
    assert got["slack"] == {"token": "***", "channel": "#ops"}
    assert got["redis"]["url"] == "redis://:***@h/0"


def test_an_error_line_names_a_secret_key_never_its_value():
    assert "31415926" not in redact.describe_value("cameras.x.password", 31415926)
    assert "int" in redact.describe_value("cameras.x.password", 31415926)
    assert "['a']" in redact.describe_value("cameras.x.port", ["a"])
    assert redact.is_secret_key("slack.webhook_url") and not redact.is_secret_key("redis.url")
