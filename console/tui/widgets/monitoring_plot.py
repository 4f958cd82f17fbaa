"""Offsets over time for one camera: a sparkline per axis (pitch, yaw, roll), alerts in colour.

Bars are |offset| on a scale that always shows the alert threshold (at half height when every
value is below it); a bar over the threshold is drawn in the alert style, a failed run as a
dim cross. Plain ASCII characters replace the block glyphs on poor terminals.
"""
from __future__ import annotations

from typing import Sequence

from rich.text import Text
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"
ASCII_LEVELS = " .:-=+*#@"
FAILED_CELL = ("×", "x")
ALERT_STYLE = "bold red"
OK_STYLE = "green"
AXES = ("pitch", "yaw", "roll")


def plot_scale_deg(values: Sequence[float | None], threshold_deg: float) -> float:
    """The full-height value, degrees: twice the threshold, or the largest |value| when larger."""
    finite = [abs(v) for v in values if v is not None]
    return max([2.0 * threshold_deg] + finite)


def sparkline_text(values: Sequence[float | None], threshold_deg: float, scale_deg: float,
                   ascii_only: bool = False) -> Text:
    """One sparkline: a cell per value (oldest left), bar height ∝ |value| / scale.

    Args:
        values: offsets in degrees, None for a failed run.
        threshold_deg: cells with |value| over it take the alert style.
        scale_deg: the value drawn at full height (> 0).
        ascii_only: use ``ASCII_LEVELS`` instead of block glyphs.
    """
    levels = ASCII_LEVELS if ascii_only else BLOCKS
    text = Text()
    for v in values:
        if v is None:
            text.append(FAILED_CELL[1 if ascii_only else 0], style="dim red")
            continue
        frac = min(1.0, abs(v) / scale_deg) if scale_deg > 0 else 0.0
        index = max(1, int(round(frac * (len(levels) - 1)))) if abs(v) > 0 else 1
        text.append(levels[index], style=ALERT_STYLE if abs(v) > threshold_deg else OK_STYLE)
    return text


class OffsetsPlot(Widget):
    """Three labelled sparklines of one camera's offsets, newest at the right.

    Call :meth:`show` with the camera's results (oldest first) to redraw.
    """

    DEFAULT_CSS = """
    OffsetsPlot {
        height: 4;
        width: 1fr;
        padding: 0 1;
    }
    """

    def __init__(self, threshold_deg: float, ascii_only: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold_deg = float(threshold_deg)
        self.ascii_only = ascii_only
        self.title = ""
        self._series: dict[str, list[float | None]] = {axis: [] for axis in AXES}

    def show(self, title: str, series: dict[str, Sequence[float | None]]) -> None:
        """Draw ``series`` (axis -> offsets in degrees, oldest first; None for failed runs)."""
        self.title = title
        self._series = {axis: list(series.get(axis, ())) for axis in AXES}
        self.refresh()

    @property
    def series(self) -> dict[str, list[float | None]]:
        return {k: list(v) for k, v in self._series.items()}

    def render(self) -> Text:
        width = max(10, self.size.width - 2)
        every = [v for axis in AXES for v in self._series[axis]]
        scale = plot_scale_deg(every, self.threshold_deg)
        out = Text()
        out.append(f"{self.title or 'offsets'}  ", style="bold")
        out.append(f"|offset| 0..{scale:.2f}°, alert over {self.threshold_deg:g}°", style="dim")
        label_w, value_w = 6, 9
        room = max(1, width - label_w - value_w)
        for axis in AXES:
            values = self._series[axis][-room:]
            out.append("\n")
            out.append(f"{axis:<{label_w}}", style="bold")
            out.append_text(sparkline_text(values, self.threshold_deg, scale, self.ascii_only))
            out.append(" " * (room - len(values)))
            last = next((v for v in reversed(values) if v is not None), None)
            if last is None:
                out.append(f"{'–':>{value_w}}", style="dim")
            else:
                out.append(f"{last:>+{value_w - 1}.3f}°", style=ALERT_STYLE if abs(last) > self.threshold_deg else "")
        return out
