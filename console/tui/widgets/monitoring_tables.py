"""Tables of the Monitoring tab: the fleet (one row per PTZ camera, its latest result) and one camera's history.

Rows whose offsets exceed the alert threshold are highlighted; failed runs show their reason.
Both tables are filled from ``monitoring.history.MonitoringRecord`` values that a worker read.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from rich.text import Text

from camdeck.console.tui.widgets.fit_text import fit_number
from camdeck.console.tui.widgets.tables import ColumnSpec, ConsoleTable

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


FLEET_COLUMNS = (
    ColumnSpec("device", "device", 14, flex=1),
    ColumnSpec("when", "last run", 11),
    ColumnSpec("mode", "mode", 7),
    ColumnSpec("result", "result", 7),       # "no runs", "failed", "ALERT", "ok"
    ColumnSpec("worst", "max|°|", 7),
)
HISTORY_COLUMNS = (
    ColumnSpec("when", "time", 11),
    ColumnSpec("mode", "mode", 7),
    ColumnSpec("pitch", "pitch°", 8),        # "+180.000"
    ColumnSpec("yaw", "yaw°", 8),
    ColumnSpec("roll", "roll°", 8),
    ColumnSpec("result", "result", 6),
    ColumnSpec("detail", "detail ⏎", 8, flex=1),
)


class FleetTable(ConsoleTable):
    """One row per configured PTZ camera; the highlighted row picks the camera shown below."""

    COLUMNS = FLEET_COLUMNS

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
        self.latest: dict = {}          # device -> its newest MonitoringRecord (or None)

    def on_mount(self) -> None:
        self.add_fitted_columns()
        for device in self.devices:
            self.put_row(device, [device, "–", "", Text("no runs", style="dim"), ""])

    def show_latest(self, latest: dict) -> None:
        """Update each camera's row from its newest record (device id -> record or None)."""
        for device, record in latest.items():
            if device not in self.devices:
                continue
            self.latest[device] = record
            worst = record.max_abs_offset_deg() if record is not None else None
            alert = record is not None and record.is_alert(self.threshold_deg)
            cells = {"when": short_time(record.timestamp) if record else "–",
                     "mode": record.mode if record else "", "result": result_cell(record, self.threshold_deg),
                     "worst": Text("" if worst is None else fit_number(worst, 7, 3), justify="right",
                                   style=ALERT_STYLE if alert else "")}
            for column, value in cells.items():
                self.put_cell(device, column, value)

    @property
    def selected(self) -> str | None:
        if not self.row_count or self.cursor_row < 0 or self.cursor_row >= self.row_count:
            return None
        return str(self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value)


class HistoryTable(ConsoleTable):
    """One camera's results, newest first; rows over the threshold in the alert style.

    The detail cell shows what fits; enter opens the whole record (a failure's reason and
    fix in full: ``RecordDetail``)."""

    COLUMNS = HISTORY_COLUMNS

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
        self.records: dict[str, object] = {}  # row key -> the MonitoringRecord it shows

    def on_mount(self) -> None:
        self.add_fitted_columns()

    def show_records(self, records: Iterable) -> None:
        """Replace the rows with ``records`` (newest first)."""
        self.add_fitted_columns()
        self.drop_rows()
        self.alert_rows = []
        self.records = {}
        for n, r in enumerate(records):
            alert = r.is_alert(self.threshold_deg)
            style = ALERT_STYLE if alert else ""
            if alert:
                self.alert_rows.append(n)
            detail = r.failure_logs if not r.success else r.files_location
            self.records[str(r.id)] = r
            self.put_row(str(r.id), [Text(short_time(r.timestamp), style=style), Text(r.mode, style=style),
                                     _deg(r.pitch_offset_deg, style), _deg(r.yaw_offset_deg, style),
                                     _deg(r.roll_offset_deg, style), result_cell(r, self.threshold_deg),
                                     Text(" ".join(detail.split()), style=FAILED_STYLE if not r.success else "dim",
                                          no_wrap=True, overflow="ellipsis")])

    def selected_record(self):
        """The record under the cursor, or None."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.records.get(str(key))
