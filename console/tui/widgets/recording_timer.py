"""The Recording tab's large timer: countdown, elapsed and remaining time."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Digits, Label


def clock_text(seconds: float | None) -> str:
    """Seconds as M:SS (H:MM:SS past an hour); "-:--" for None."""
    if seconds is None:
        return "-:--"
    s = max(0, int(seconds + 0.5))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class RecordingTimer(Vertical):
    """A caption line and a three-row Digits clock; it only shows what it is told."""

    DEFAULT_CSS = """
    RecordingTimer {
        height: auto;
        width: 28;
        padding: 0 1;
    }
    RecordingTimer > Label {
        width: 100%;
        color: $text-muted;
    }
    RecordingTimer.countdown Digits {
        color: $warning;
    }
    RecordingTimer.recording Digits {
        color: $error;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption = Label("ready")
        self.digits = Digits("0:00")
        self.text = "0:00"

    def compose(self) -> ComposeResult:
        yield self.caption
        yield self.digits

    def _show(self, text: str, caption: str, mode: str) -> None:
        self.text = text
        self.digits.update(text)
        self.caption.update(caption)
        self.set_class(mode == "countdown", "countdown")
        self.set_class(mode == "recording", "recording")

    def show_idle(self, caption: str = "ready") -> None:
        self._show("0:00", caption, "idle")

    def show_countdown(self, seconds: float) -> None:
        self._show(clock_text(seconds), "starting in", "countdown")

    def show_running(self, elapsed_s: float, remaining_s: float | None) -> None:
        """Timer mode shows the time left (elapsed in the caption); manual mode the elapsed time."""
        if remaining_s is None:
            self._show(clock_text(elapsed_s), "REC elapsed (manual)", "recording")
        else:
            self._show(clock_text(remaining_s), f"REC remaining, elapsed {clock_text(elapsed_s)}", "recording")

    def show_finished(self, elapsed_s: float, caption: str) -> None:
        self._show(clock_text(elapsed_s), caption, "idle")
