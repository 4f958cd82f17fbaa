"""Bounded option values: every duration, count, limit and timeout has an explicit range.

NaN and infinity are refused, and so is a number too large to mean anything (``--duration``
with 400 nines). Each error is one line naming the option, the range and the fix (exit 2).
Use them as typer callbacks (``callback=bounds.seconds("--timeout", 0.1, 3600)``) or call the
``parse_*`` functions on text. Keep this module free of heavy imports (``camdeck --help``).
"""
from __future__ import annotations

import math
import re
from typing import Callable, Optional

from camdeck.console.cli.common import BadInput

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, None: 1.0}
_DURATION = re.compile(r"\s*([0-9]{1,12}(?:\.[0-9]{1,9})?|\.[0-9]{1,9})\s*(ms|s|min|m|h)?\s*")


def show_seconds(value: float) -> str:
    """A duration as an operator reads it: 500ms, 90s, 30m, 2h."""
    if 0 < value < 1:
        return f"{value * 1000:g}ms"
    for unit, size in (("h", 3600.0), ("m", 60.0)):
        if value >= size and (value / size).is_integer():
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def _range_fix(option: str, lo: float, hi: float, show: Callable[[float], str]) -> str:
    return f"give {option} from {show(lo)} to {show(hi)}"


def parse_seconds(text: str, option: str, lo: float, hi: float) -> float:
    """'90s', '1.5m', '2h', '500ms' or a bare number of seconds -> seconds within [lo, hi]."""
    m = _DURATION.fullmatch(text or "")
    if not m:
        raise BadInput(f"{option} {_shown(text)}: not a duration; fix: write e.g. 90s, 500ms, 2m or 1h "
                       f"(from {show_seconds(lo)} to {show_seconds(hi)})")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if not lo <= value <= hi:
        raise BadInput(f"{option} {_shown(text.strip())}: out of range; fix: {_range_fix(option, lo, hi, show_seconds)}")
    return value


def check_number(value: float, option: str, lo: float, hi: float,
                 show: Callable[[float], str] = lambda v: f"{v:g}") -> float:
    """``value`` if it is a finite number within [lo, hi], else BadInput naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadInput(f"{option}: not a number; fix: {_range_fix(option, lo, hi, show)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{option} {value}: not a finite number; fix: {_range_fix(option, lo, hi, show)}")
    if not lo <= value <= hi:
        shown = show(value) if abs(value) < 1e15 else ("too large" if value > 0 else "too small")
        raise BadInput(f"{option} {shown}: out of range; fix: {_range_fix(option, lo, hi, show)}")
    return value


def parse_count(text: str, option: str, lo: int, hi: int) -> int:
    """A whole number within [lo, hi] from text."""
    t = (text or "").strip()
    if not re.fullmatch(r"[+-]?[0-9]{1,30}", t):
        raise BadInput(f"{option} {_shown(text)}: not a whole number; fix: give {option} from {lo} to {hi}")
    return int(check_number(int(t), option, lo, hi, show=lambda v: f"{int(v)}"))


def _shown(text: object) -> str:
    s = repr(text if isinstance(text, str) else str(text))
    return s if len(s) <= 42 else s[:40] + "…'"


# ---- typer callbacks: typer parses the type, these check the range (None passes through) ----

def seconds(option: str, lo: float, hi: float) -> Callable[[Optional[str]], Optional[float]]:
    """A callback for a duration given as text (``--every 5m``): seconds, or None when absent."""
    def check(value: Optional[str]) -> Optional[float]:
        return None if value is None else parse_seconds(str(value), option, lo, hi)
    return check


def number(option: str, lo: float, hi: float) -> Callable[[Optional[float]], Optional[float]]:
    """A callback for a float option (typer accepts 'nan' and 'inf'; this does not)."""
    def check(value: Optional[float]) -> Optional[float]:
        return None if value is None else float(check_number(value, option, lo, hi))
    return check


def count(option: str, lo: int, hi: int) -> Callable[[Optional[int]], Optional[int]]:
    """A callback for an int option (a 64-bit overflow or a negative limit is refused)."""
    def check(value: Optional[int]) -> Optional[int]:
        return None if value is None else int(check_number(value, option, lo, hi, show=lambda v: f"{int(v)}"))
    return check


def non_empty(option: str, example: str) -> Callable[[Optional[str]], Optional[str]]:
    """A callback for a text option whose absence means "all": given empty, it is a mistake
    (an unset shell variable), not a request for everything."""
    def check(value: Optional[str]) -> Optional[str]:
        if value is not None and not value.strip():
            raise BadInput(f"{option} is empty; fix: write {option} {example}, or leave {option} out")
        return value
    return check
