"""The side panel of the Cameras tab: controls, focus aid, histogram and clipping warning."""
from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from camdeck.console.render import histogram_bars
from camdeck.console.tui.messages import CameraState, FrameStats

CLIP_WARN_FRACTION = 0.01     # warn when 1 % of photosites sit at the top of the range
DARK_WARN_FRACTION = 0.25     # and when a quarter are crushed to black


class CameraPanel(Widget):
    """Details of the previewed camera. Redrawn from plain data; never talks to a driver."""

    DEFAULT_CSS = """
    CameraPanel {
        width: 28;
        height: 1fr;
        padding: 0 1;
        background: $surface;
    }
    """

    def __init__(self, *, ascii: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ascii = ascii
        self._state: CameraState | None = None
        self._stats: FrameStats | None = None
        self._label = ""
        self._peak_sharpness = 0.0

    def select(self, state: CameraState | None, label: str = "") -> None:
        """A new camera is previewed: forget the previous one's focus peak and histogram."""
        self._state = state
        self._stats = None
        self._label = label
        self._peak_sharpness = 0.0
        self._redraw()

    def update_state(self, state: CameraState) -> None:
        if self._state is not None and state.name == self._state.name and state != self._state:
            self._state = state
            self._redraw()

    def update_stats(self, stats: FrameStats) -> None:
        self._stats = stats
        self._peak_sharpness = max(self._peak_sharpness, stats.sharpness)
        self._redraw()

    @property
    def peak_sharpness(self) -> float:
        return self._peak_sharpness

    def _redraw(self) -> None:
        self.refresh()

    def render(self) -> Text:
        return self.render_text()

    def render_text(self) -> Text:
        """The panel's text for its current width (26 columns before the first layout)."""
        width = max(8, self.content_size.width or 26)
        text = Text(no_wrap=True, overflow="ellipsis")
        state = self._state
        if state is None:
            text.append("no camera", style="dim")
            return text
        text.append(state.name, style="bold")
        text.append(f"  {state.model}\n", style="dim")
        if self._label:
            text.append(f"{self._label}\n", style="italic dim")
        exp = "–" if state.exposure_us is None else f"{state.exposure_us / 1000.0:.3g} ms"
        gain = "–" if state.gain is None else f"{state.gain:g}"
        text.append("exposure ", style="dim")
        text.append(f"{exp:<9}", style="bold")
        text.append(" e/E\n", style="dim")
        text.append("gain     ", style="dim")
        text.append(f"{gain:<9}", style="bold")
        text.append(" g/G\n", style="dim")
        stats = self._stats
        if stats is None:
            text.append("\nwaiting for a frame…", style="dim")
            return text
        w, h = stats.size
        text.append(f"{w}x{h} {stats.format} #{stats.seq}\n", style="dim")
        self._append_focus(text, stats, width)
        self._append_histogram(text, stats, width)
        return text

    def _append_focus(self, text: Text, stats: FrameStats, width: int) -> None:
        peak = self._peak_sharpness or 1.0
        ratio = min(1.0, stats.sharpness / peak) if peak > 0 else 0.0
        bar_w = max(4, width - 15)
        filled = int(round(ratio * bar_w))
        full, empty = ("#", "-") if self.ascii else ("█", "░")
        text.append("focus ", style="dim")
        text.append(f"{stats.sharpness:7.1f} ", style="bold")
        text.append(full * filled, style="green" if ratio > 0.9 else "yellow")
        text.append(empty * (bar_w - filled) + "\n", style="dim")

    def _append_histogram(self, text: Text, stats: FrameStats, width: int) -> None:
        for line in histogram_bars(stats.histogram, width, 3, ascii=self.ascii):
            text.append(line + "\n", style="cyan")
        text.append(_scale_line(width, self.ascii) + "\n", style="dim")
        if stats.clipped_fraction >= CLIP_WARN_FRACTION:
            text.append(f" CLIPPING {stats.clipped_fraction:.1%} ", style="bold white on red")
        elif stats.dark_fraction >= DARK_WARN_FRACTION:
            text.append(f" DARK {stats.dark_fraction:.0%} ", style="bold black on yellow")
        else:
            text.append(f"clip {stats.clipped_fraction:.1%}", style="dim")


def _scale_line(width: int, ascii: bool) -> str:
    """'0 ·····128····· 255' under the histogram, so an empty range still shows its extent."""
    dot = "." if ascii else "·"
    if width < 12:
        return dot * width
    inner = width - len("0") - len("255")
    left = (inner - 3) // 2
    return "0" + dot * left + "128" + dot * (inner - 3 - left) + "255"
