"""Tables of the Monitoring tab: the fleet (one row per PTZ camera, its latest result) and one camera's history.

Rows whose offsets exceed the alert threshold are highlighted; failed runs show their reason.
Both tables are filled from ``monitoring.history.MonitoringRecord`` values that a worker read.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

ALERT_STYLE = "bold red"
FAILED_STYLE = "red"
OK_STYLE = "green"


def _deg(value: float | None, style: str = "") -> Text:
    return Text("–" if value is None else f"{value:+.3f}", style=style, justify="right")


def result_cell(record, threshold_deg: float) -> Text:
    """'ok', 'ALERT' or 'failed', styled."""
    if record is None:
        return Text("no runs", style="dim")
    if not record.success:
        return Text("failed", style=FAILED_STYLE)
    if record.is_alert(threshold_deg):
        return Text("ALERT", style=ALERT_STYLE)
    return Text("ok", style=OK_STYLE)


def short_time(timestamp: str) -> str:
    """``2026-11-21T10:00:00Z`` -> ``11-21 10:00`` (fits 80 columns)."""
    text = timestamp.replace("T", " ").rstrip("Z")
    return text[5:16] if len(text) >= 16 else text


class FleetTable(DataTable):
    """One row per configured PTZ camera; the highlighted row picks the camera shown below."""

    DEFAULT_CSS = """
    FleetTable {
        height: auto;
        max-height: 7;
    }
    """

    def __init__(self, devices: Sequence[str], threshold_deg: float, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.devices = list(devices)
        self.threshold_deg = threshold_deg

    def on_mount(self) -> None:
        for key, label, width in (("device", "device", 24), ("when", "last run", 11), ("mode", "mode", 7),
                                  ("result", "result", 7), ("worst", "max|°|", 7)):
            self.add_column(label, key=key, width=width)
        for device in self.devices:
            self.add_row(device, "–", "", Text("no runs", style="dim"), "", key=device)

    def show_latest(self, latest: dict) -> None:
        """Update each camera's row from its newest record (device id -> record or None)."""
        for device, record in latest.items():
            if device not in self.devices:
                continue
            worst = record.max_abs_offset_deg() if record is not None else None
            alert = record is not None and record.is_alert(self.threshold_deg)
            cells = {"when": short_time(record.timestamp) if record else "–",
                     "mode": record.mode if record else "", "result": result_cell(record, self.threshold_deg),
                     "worst": Text("" if worst is None else f"{worst:.3f}", justify="right",
                                   style=ALERT_STYLE if alert else "")}
            for column, value in cells.items():
                self.update_cell(device, column, value)

    @property
    def selected(self) -> str | None:
        if not self.devices or self.cursor_row < 0 or self.cursor_row >= len(self.devices):
            return None
        return str(self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value)


class HistoryTable(DataTable):
    """One camera's results, newest first; rows over the threshold in the alert style."""

    DEFAULT_CSS = """
    HistoryTable {
        height: 1fr;
        min-height: 3;
    }
    """

    def __init__(self, threshold_deg: float, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.threshold_deg = threshold_deg
        self.alert_rows: list[int] = []      # indices (newest first) of highlighted rows, for tests and help

    def on_mount(self) -> None:
        for key, label, width in (("when", "time", 11), ("mode", "mode", 7), ("pitch", "pitch°", 8),
                                  ("yaw", "yaw°", 8), ("roll", "roll°", 8), ("result", "result", 7),
                                  ("detail", "detail", 40)):
            self.add_column(label, key=key, width=width)

    def show_records(self, records: Iterable) -> None:
        """Replace the rows with ``records`` (newest first)."""
        self.clear()
        self.alert_rows = []
        for n, r in enumerate(records):
            alert = r.is_alert(self.threshold_deg)
            style = ALERT_STYLE if alert else ""
            if alert:
                self.alert_rows.append(n)
            detail = r.failure_logs if not r.success else r.files_location
            self.add_row(Text(short_time(r.timestamp), style=style), Text(r.mode, style=style),
                         _deg(r.pitch_offset_deg, style), _deg(r.yaw_offset_deg, style),
                         _deg(r.roll_offset_deg, style), result_cell(r, self.threshold_deg),
                         Text(detail, style=FAILED_STYLE if not r.success else "dim"), key=str(r.id))
