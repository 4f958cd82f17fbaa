"""The camera table: one row per configured camera with its live state."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from camdeck.console.tui.messages import CameraState

# (key, header, width): short headers so the table fits 80 columns.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "camera", 11),
    ("driver", "driver", 7),
    ("state", "state", 13),
    ("fps", "fps", 5),
    ("exposure", "exp ms", 7),
    ("gain", "gain", 5),
    ("temp", "°C", 5),
    ("dropped", "drop", 5),
)

# state -> style name used for the state cell (theme-independent, readable on light and dark).
_STATE_STYLES = {
    "streaming": "bold green",
    "ready": "green",
    "paused": "yellow",
    "in use": "yellow",          # lent to another tab (a recording, a reconstruction)
    "opening": "dim",
    "closed": "dim",
    "timeout": "bold yellow",
    "not supported": "dim italic",
    "unavailable": "bold red",
    "disconnected": "bold red",
    "error": "bold red",
}


def _num(value: float | int | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def state_cells(status: CameraState) -> dict[str, Text | str]:
    """The table's cells for one camera state (column key -> cell)."""
    exposure_ms = None if status.exposure_us is None else status.exposure_us / 1000.0
    gain_fmt = "g" if status.gain is None or float(status.gain).is_integer() else ".2f"
    return {
        "name": status.name,
        "driver": status.driver,
        "state": Text(status.state, style=_STATE_STYLES.get(status.state, "")),
        "fps": Text(_num(status.fps, ".1f" if status.fps is not None and status.fps < 10 else ".0f"),
                    justify="right"),
        "exposure": Text(_num(exposure_ms, ".3g"), justify="right"),
        "gain": Text(_num(status.gain, gain_fmt), justify="right"),
        "temp": Text(_num(status.temperature_c, ".1f"), justify="right"),
        "dropped": Text(_num(status.dropped, "d"), justify="right"),
    }


class CameraTable(DataTable):
    """Every configured camera; the highlighted row is the camera being previewed."""

    _row_only = False    # inside update_state: a whole-table refresh is narrowed to the row

    DEFAULT_CSS = """
    CameraTable {
        height: auto;
        max-height: 9;
    }
    """

    def __init__(self, states: list[CameraState], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self._initial = states
        self._states: dict[str, CameraState] = {}

    def on_mount(self) -> None:
        for key, header, width in COLUMNS:
            self.add_column(header, key=key, width=width)
        for status in self._initial:
            cells = state_cells(status)
            self.add_row(*(cells[key] for key, _, _ in COLUMNS), key=status.name)
            self._states[status.name] = status

    def state_of(self, name: str) -> CameraState | None:
        return self._states.get(name)

    def selected_camera(self) -> str | None:
        """The camera under the cursor (None for an empty table)."""
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return row_key.value

    def update_state(self, status: CameraState) -> None:
        """Show a new state for one camera; only the cells that changed are redrawn."""
        old = self._states.get(status.name)
        if old == status:
            return
        self._states[status.name] = status
        new_cells = state_cells(status)
        old_cells = state_cells(old) if old is not None else {}
        # DataTable.update_cell repaints the whole table (about 12 KB at 80x24, every second while
        # streaming: a third of a thin link); the columns have fixed widths, so the row is enough.
        self._row_only = True
        try:
            for key, _, _ in COLUMNS:
                if str(new_cells[key]) != str(old_cells.get(key)) or key == "state":
                    self.update_cell(status.name, key, new_cells[key], update_width=False)
        finally:
            self._row_only = False
        self.refresh_row(self.get_row_index(status.name))

    def refresh(self, *regions, **kwargs):
        if self._row_only and not regions and not kwargs:
            return self      # update_state refreshes the row itself
        return super().refresh(*regions, **kwargs)
