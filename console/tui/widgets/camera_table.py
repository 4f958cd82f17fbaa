"""The camera table: one row per configured camera with its live state."""
from __future__ import annotations

from rich.text import Text

from camdeck.console.render import plain_label
from camdeck.console.tui.messages import CameraState
from camdeck.console.tui.widgets.fit_text import fit_count, fit_number, fit_significant
from camdeck.console.tui.widgets.tables import ColumnSpec, ConsoleTable

# The minimum widths keep every value whole at 80 columns (fps 999.9, exposure 30000 ms,
# drops 99999 then 100k, the longest state "not supported"); the camera name takes the rest.
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("name", "camera", 9, flex=2),
    ColumnSpec("driver", "driver", 9, flex=1),
    ColumnSpec("state", "state", 13),
    ColumnSpec("fps", "fps", 5),
    ColumnSpec("exposure", "exp ms", 6),
    ColumnSpec("gain", "gain", 5),
    ColumnSpec("temp", "°C", 5),
    ColumnSpec("dropped", "drop", 5),
)
WIDTH = {spec.key: spec.min_width for spec in COLUMNS}

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


def _right(text: str) -> Text:
    return Text(text, justify="right")


def state_cells(status: CameraState) -> dict[str, Text | str]:
    """The table's cells for one camera state (column key -> cell), each within its column's
    minimum width: numbers lose decimals, then switch to k/M, never digits."""
    none = "–"
    exposure_ms = None if status.exposure_us is None else status.exposure_us / 1000.0
    fps = status.fps
    gain = status.gain
    return {
        "name": plain_label(status.name),        # DataTable reads a str cell as markup: Text is literal
        "driver": plain_label(status.driver),
        "state": Text(status.state, style=_STATE_STYLES.get(status.state, "")),
        "fps": _right(none if fps is None else fit_number(fps, WIDTH["fps"], 1 if fps < 10 else 0)),
        "exposure": _right(none if exposure_ms is None else fit_significant(exposure_ms, WIDTH["exposure"])),
        "gain": _right(none if gain is None else fit_significant(float(gain), WIDTH["gain"])),
        "temp": _right(none if status.temperature_c is None else fit_number(status.temperature_c, WIDTH["temp"])),
        "dropped": _right(none if status.dropped is None else fit_count(status.dropped, WIDTH["dropped"])),
    }


class CameraTable(ConsoleTable):
    """Every configured camera; the highlighted row is the camera being previewed."""

    COLUMNS = COLUMNS
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
        self.add_fitted_columns()
        for status in self._initial:
            cells = state_cells(status)
            self.put_row(status.name, [cells[spec.key] for spec in COLUMNS])
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
        # streaming: a third of a thin link); the row is enough while it is shown (a row a filter
        # brings back rebuilds the table, which must repaint in full).
        self._row_only = status.name in self.rows      # type: ignore[operator]
        try:
            for spec in COLUMNS:
                key = spec.key
                if str(new_cells[key]) != str(old_cells.get(key)) or key == "state":
                    self.put_cell(status.name, key, new_cells[key])
        finally:
            self._row_only = False
        if status.name in self.rows:      # type: ignore[operator]  (a filter may hide it)
            self.refresh_row(self.get_row_index(status.name))

    def refresh(self, *regions, **kwargs):
        if self._row_only and not regions and not kwargs:
            return self      # update_state refreshes the row itself
        return super().refresh(*regions, **kwargs)
