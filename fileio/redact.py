"""Secret redaction in one place: every message, log line and JSON payload goes through here.

What is masked, always with ``***``:
- the userinfo of a URL (``redis://user:pw@host``, ``redis://:pw@host``, even a password with
  ``@`` or ``:`` in it): everything between ``//`` and the last ``@`` of the authority;
- a secret query parameter (``?password=…``, ``token=…``, ``secret=…``, ``key=…``, ``sig=…``);
- every value registered with ``remember`` (the config's secrets, planted once it loads);
- in a mapping, the value of every key in ``SECRET_KEYS`` (``redact_mapping``).

Error lines name the key, never its value (``describe_value`` shows a type, not a secret).
fileio imports nothing of ours, so every package can use it.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

MASK = "***"

# Config keys whose values are secrets, wherever they stand (cameras.X.password, slack.token,
# slack.webhook_url, mqtt.password and any *_secret / *_token / *_key). A URL (redis.url) is not
# a secret as a whole: ``scrub`` masks its password and secret query parameters.
SECRET_KEYS = frozenset({"password", "passwd", "token", "secret", "webhook_url", "api_key",
                         "access_key", "secret_key", "aws_secret_access_key", "auth", "credentials"})
_SECRET_SUFFIXES = ("password", "token", "secret", "_key", "webhook_url")

# scheme://userinfo@host: the userinfo may itself hold '@' and ':' (a careless password);
# the authority ends at the first '/', '?', '#' or blank, so the last '@' before it closes the userinfo.
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s]*)@")
_QUERY_SECRET = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|token|secret|key|sig|signature|auth"
                           r"|access_token|api_key)=)(?P<value>[^&#\s'\"]*)", re.IGNORECASE)
_remembered: set[str] = set()


def remember(values: Iterable[Any]) -> None:
    """From now on, mask each of ``values`` wherever it appears (short ones would blank out text)."""
    for value in values:
        text = value if isinstance(value, str) else str(value) if value is not None else ""
        if len(text) >= 3:
            _remembered.add(text)


def forget_all() -> None:
    """Drop every remembered value (tests, and a config reload)."""
    _remembered.clear()


def _userinfo(match: re.Match[str]) -> str:
    info = match.group("userinfo")
    user, colon, _password = info.partition(":")
    if not colon:                      # a user name only (or a token used as a user): mask it all
        return f"{match.group('head')}{MASK}@"
    return f"{match.group('head')}{user}:{MASK}@"


def redact_url(url: str) -> str:
    """``url`` with its password (userinfo) and secret query parameters masked."""
    text = _URL_USERINFO.sub(_userinfo, url)
    return _QUERY_SECRET.sub(lambda m: m.group("head") + MASK, text)


def scrub(text: str) -> str:
    """``text`` with URL passwords, secret query parameters and remembered secrets masked."""
    if not text:
        return text
    text = redact_url(text)
    for value in sorted(_remembered, key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    return text


def is_secret_key(key: str) -> bool:
    """True for a key whose value is a secret (``password``, ``slack.token``, ``redis.url``…)."""
    last = str(key).rsplit(".", 1)[-1].lower()
    return last in SECRET_KEYS or last.endswith(_SECRET_SUFFIXES)


def redact_mapping(value: Any, key: str = "") -> Any:
    """A copy of ``value`` with secret keys' values masked and every string scrubbed."""
    if isinstance(value, Mapping):
        return {k: (MASK if is_secret_key(str(k)) and v not in (None, "") and not isinstance(v, Mapping)
                    else redact_mapping(v, str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_mapping(v, key) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def describe_value(key: str, value: Any) -> str:
    """How an error line may show ``value`` of ``key``: the value itself, or only its type for a secret."""
    if is_secret_key(key):
        return f"a value of type {type(value).__name__} (not shown: {key.rsplit('.', 1)[-1]} is a secret)"
    return scrub(repr(value))
