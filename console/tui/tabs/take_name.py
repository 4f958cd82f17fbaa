"""The session name for the next take: after ``take_001`` records, the form says ``take_002``,
so the next ctrl+r never meets the overwrite dialog by accident."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Callable

STAMP_FORMAT = "session-%Y%m%d-%H%M%S"          # the form's default name
_STAMP = re.compile(r"^session-\d{8}-\d{6}$")
_TRAILING = re.compile(r"^(.*?)(\d+)$")
MAX_TRIES = 10_000


def default_session_name(now: datetime | None = None) -> str:
    """``session-YYYYmmdd-HHMMSS`` for ``now`` (default: the local time)."""
    return (now or datetime.now()).strftime(STAMP_FORMAT)


def _increment(name: str) -> str:
    """``take_001`` -> ``take_002`` (zero padding kept; ``take_999`` -> ``take_1000``);
    a name without a trailing number gets ``_002`` (it was take 1)."""
    match = _TRAILING.match(name)
    if not match:
        return f"{name}_002"
    head, digits = match.groups()
    return f"{head}{int(digits) + 1:0{len(digits)}d}"


def next_take_name(name: str, taken: Callable[[str], bool] = lambda _: False,
                   now: datetime | None = None) -> str:
    """The name after ``name``, skipping any for which ``taken(name)`` is true (files exist).

    A default stamp name (``session-20261203-101500``) becomes a fresh stamp; any other name
    counts up (``take_001`` -> ``take_002``, ``dawn`` -> ``dawn_002``).
    """
    candidate = name
    if _STAMP.match(name):
        fresh = default_session_name(now)
        if fresh != name and not taken(fresh):
            return fresh
    for _ in range(MAX_TRIES):
        candidate = _increment(candidate)
        if not taken(candidate):
            return candidate
    return candidate
