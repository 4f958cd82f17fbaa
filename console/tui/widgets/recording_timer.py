"""The Recording tab's large timer: countdown, elapsed and remaining time; the origin's timer steps.

The origin's timer runs 1 to 60 minutes in 0.5 minute steps: ``TIMER_STEPS`` are the values the
Recording tab's time field offers (``timer_suggester``, completed as it is typed). The field
still takes any duration up to 60 minutes (``90s``), as ``camdeck record --duration`` does.
A take that ended badly (drops over the limit, a full disk, a fault) leaves the clock flagged.
"""
from __future__ import annotations

TIMER_STEPS: tuple[str, ...] = tuple(f"{n / 2:g}m" for n in range(2, 121))     # 1m, 1.5m, ... 60m
FLAG_WORDS = ("drops", "fault", "disk", "error")


def timer_suggester():
    """A Textual suggester offering the origin's timer steps (1m to 60m in 0.5 m steps)."""
    from textual.suggester import SuggestFromList

    return SuggestFromList(TIMER_STEPS, case_sensitive=False)


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
    RecordingTimer.flagged Label {
        color: $warning;
        text-style: bold;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.caption = Label("ready")
        self.digits = Digits("0:00")
        self.text = "0:00"
        self.flagged = False

    def compose(self) -> ComposeResult:
        yield self.caption
        yield self.digits

    def _show(self, text: str, caption: str, mode: str, flagged: bool = False) -> None:
        self.text = text
        self.digits.update(text)
        self.caption.update(caption)
        self.set_class(mode == "countdown", "countdown")
        self.set_class(mode == "recording", "recording")
        self.set_class(flagged, "flagged")
        self.flagged = flagged

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

    def show_finished(self, elapsed_s: float, caption: str, flagged: bool | None = None) -> None:
        """The take's length and how it ended; ``flagged`` (default: the caption names drops, a
        fault, the disk or an error) shows the caption in the warning colour."""
        if flagged is None:
            flagged = any(word in caption for word in FLAG_WORDS)
        self._show(clock_text(elapsed_s), caption, "idle", flagged)
