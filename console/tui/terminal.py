"""What the terminal can do: refuse one that cannot draw a full-screen console, and the
smallest size the console lays out in.

No Textual here: the CLI checks the terminal before it imports the TUI.
"""
from __future__ import annotations

import os
from typing import Mapping

# TERM values that promise no cursor addressing: a full-screen app would print escape codes as text.
REFUSED_TERMS = frozenset({"", "dumb", "unknown"})
MIN_COLS, MIN_ROWS = 64, 18      # below this the tabs cannot show their tables and preview together


def terminal_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why this terminal cannot run ``camdeck tui`` (one line with the fix), or None when it can.

    Args:
        environ: the environment to read ``TERM`` from (default ``os.environ``).
    """
    env = os.environ if environ is None else environ
    term = env.get("TERM", "")
    if term.strip().lower() in REFUSED_TERMS:
        shown = f"TERM={term}" if term else "TERM is not set, so the terminal"
        return (f"{shown} cannot draw the full-screen console; fix: run camdeck tui in a terminal emulator "
                "that sets TERM (or set TERM=xterm-256color if yours can), or use the commands "
                "instead (camdeck cameras list, camdeck record ...)")
    return None


def too_small(cols: int, rows: int) -> bool:
    """True when a ``cols`` x ``rows`` terminal is below the console's minimum size."""
    return cols < MIN_COLS or rows < MIN_ROWS


def too_small_message(cols: int, rows: int) -> str:
    """What the console shows instead of its tabs in a terminal that is too small."""
    return (f"terminal too small: {cols}x{rows}\n"
            f"camdeck needs at least {MIN_COLS}x{MIN_ROWS}:\n"
            "enlarge the window or use a smaller font\n(q quits)")
