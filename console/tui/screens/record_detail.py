"""One monitoring result in full (enter on a history or fleet row): a failure's whole reason
and its fix, which the table can only begin."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def record_text(record: Any, threshold_deg: float) -> Text:
    """The record as labelled lines; a failure's "; fix: ..." on a line of its own."""
    text = Text()

    def line(label: str, value: str, style: str = "") -> None:
        text.append(f"{label:<9}", style="bold")
        text.append(f"{value}\n", style=style)

    line("camera", f"{record.deployment}/{record.device_id}")
    line("time", record.timestamp)
    line("mode", record.mode)
    if record.success:
        alert = record.is_alert(threshold_deg)
        line("result", f"ALERT: over {threshold_deg:g}°" if alert else "ok", "bold red" if alert else "green")
        for axis in ("pitch", "yaw", "roll"):
            line(axis, f"{getattr(record, f'{axis}_offset_deg'):+.3f}°")
        for name in ("frames", "inliers", "confidence"):
            value = getattr(record, name, None)
            if value is not None:
                line(name, f"{value:g}" if isinstance(value, float) else str(value))
    else:
        line("result", "failed", "bold red")
        reason, _, fix = " ".join(record.failure_logs.split()).partition("; fix: ")
        line("reason", reason or "(none recorded)", "red")
        if fix:
            line("fix", fix, "yellow")
    if record.files_location:
        line("files", record.files_location, "dim")
    return text


class RecordDetail(ModalScreen[None]):
    """Shows ``record_text``; escape, enter or q closes it; arrows scroll a long one."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("enter", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    RecordDetail {
        align: center middle;
    }
    RecordDetail > VerticalScroll {
        width: 76;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        background: $panel;
        padding: 0 1;
    }
    RecordDetail Static {
        width: 1fr;
        height: auto;
    }
    """

    def __init__(self, record: Any, threshold_deg: float) -> None:
        super().__init__()
        self.record = record
        self.text = record_text(record, threshold_deg)

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "monitoring result"
            box.border_subtitle = "esc closes"
            yield Static(self.text)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
