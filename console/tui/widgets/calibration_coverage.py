"""Calibration coverage as terminal cells: the corner heat map and the X / Y / size / skew bars.

Pure drawing: the data comes from ``calibration.coverage.Coverage`` (built on the UI thread
from a worker's detections); nothing here touches a camera.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.text import Text
from textual.widgets import Static

HEAT_RAMP = " ░▒▓█"
ASCII_HEAT_RAMP = " .:*#"
BAR_LABELS = {"x": "X", "y": "Y", "size": "size", "skew": "skew"}


def heat_map_text(heat: np.ndarray, *, ascii: bool = False, cell_width: int = 2) -> Text:
    """Rows of characters for a (rows, cols) heat map in [0, 1] (0: no corner has landed there).

    A cell with any corner gets at least the first non-blank character, so empty regions of
    the sensor stand out.
    """
    ramp = ASCII_HEAT_RAMP if ascii else HEAT_RAMP
    top = len(ramp) - 1
    text = Text()
    rows = np.asarray(heat, dtype=np.float64)
    for r, row in enumerate(rows):
        line = []
        for value in row:
            level = 0 if value <= 0 else max(1, int(round(value * top)))
            line.append(ramp[level] * cell_width)
        text.append("│" + "".join(line) + "│")
        if r < len(rows) - 1:
            text.append("\n")
    border = "─" * (rows.shape[1] * cell_width if rows.ndim == 2 else 0)
    return Text("┌" + border + "┐\n") + text + Text("\n└" + border + "┘")


def bar_text(name: str, lo: float, hi: float, progress: float, width: int = 20) -> Text:
    """One coverage bar: the covered range drawn on a 0-1 track, and the progress as percent."""
    width = max(4, int(width))
    a = int(np.clip(np.floor(lo * width), 0, width - 1))
    b = int(np.clip(np.ceil(hi * width), a + 1, width))
    track = "·" * a + "█" * (b - a) + "·" * (width - b)
    style = "green" if progress >= 1.0 else "yellow" if progress >= 0.5 else "red"
    text = Text(f"{BAR_LABELS.get(name, name):>4} ")
    text.append(track, style=style)
    text.append(f" {int(round(100 * progress)):3d}%")
    return text


class CoverageView(Static):
    """The heat map of where corners landed on the sensor, and the four coverage bars."""

    DEFAULT_CSS = """
    CoverageView {
        width: auto;
        height: auto;
        padding: 0 1;
    }
    """

    def show(self, heat: np.ndarray, bars: Sequence, views: int, filled: float, *, ascii: bool = False) -> None:
        """Draw the coverage of ``views`` views (bars: CoverageBar items)."""
        text = Text(f"coverage: {views} views, {int(round(100 * filled))}% of the sensor\n", style="bold")
        text += heat_map_text(heat, ascii=ascii)
        for bar in bars:
            text.append("\n")
            text += bar_text(bar.name, bar.lo, bar.hi, bar.progress, width=heat.shape[1] * 2 - 8)
        self.update(text)
