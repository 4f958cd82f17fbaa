"""Numbers and words that fit a table cell without losing their unit or their meaning.

A cell that is too narrow must never show ``47.`` for 47.3 fps or ``428.`` for 428.1 MB:
each formatter here returns text no longer than the width it is given (for widths of at
least 4), dropping decimals first, then switching to k/M/G, and never the unit.
"""
from __future__ import annotations

_SI = (("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12))


def fit_number(value: float, width: int, decimals: int = 1) -> str:
    """``value`` in at most ``width`` characters: fewer decimals first, then a k/M/G/T suffix.

    Args:
        value: the number.
        width: the most characters (at least 4 for any value below 1e15).
        decimals: the decimals wanted when they fit.
    """
    for d in range(decimals, -1, -1):
        text = f"{value:.{d}f}"
        if len(text) <= width:
            return text
    for suffix, scale in _SI:
        scaled = value / scale
        for d in (1, 0):
            text = f"{scaled:.{d}f}{suffix}"
            if len(text) <= width and abs(scaled) < 1000:
                return text
    return f"{value:.0e}"


def fit_significant(value: float, width: int, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, never in exponent form, in ``width``
    characters (an exposure of 30000 ms reads 30000, not 3e+04)."""
    text = f"{value:.{digits}g}"
    if "e" not in text and len(text) <= width:
        return text
    decimals = max(0, digits - 1 - len(str(int(abs(value))))) if abs(value) >= 1 else digits
    return fit_number(value, width, decimals)


def fit_count(n: int, width: int) -> str:
    """A whole count in ``width`` characters (123456 in 5 reads 123k)."""
    return fit_number(float(n), width, 0) if len(str(n)) > width else str(n)


def human_size(n: int) -> str:
    """Bytes as B/kB/MB/GB/TB (decimal, as disk tools say), at most 8 characters."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            text = f"{value:.1f} {unit}"
            return text if len(text) <= 8 else f"{value:.0f} {unit}"   # 999.96 rounds to 1000.0
    return f"{n} B"


def duration_text(seconds: float | None) -> str:
    """A span as ``45s``, ``12m``, ``3h20m``, ``5d`` (time until the disk is full, say)."""
    if seconds is None:
        return "–"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400 * 2:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m:02d}m"
    return f"{s // 86400}d"
