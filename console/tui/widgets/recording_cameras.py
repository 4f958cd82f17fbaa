"""Per-camera figures of a recording: frames, fps, dropped frames, file size, status.

Every value keeps its unit and every status its whole word at 80 columns (``428.1 MB``,
``recording``): the columns' minimum widths are those of the longest formatted value, and
the camera name and the status take what the terminal has left.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from rich.text import Text

from camdeck.console.tui.widgets.fit_text import fit_count, fit_number, human_size
from camdeck.console.tui.widgets.tables import ColumnSpec, ConsoleTable

COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("camera", "camera", 10, flex=1),
    ColumnSpec("frames", "frames", 6),
    ColumnSpec("fps", "fps", 5),
    ColumnSpec("dropped", "dropped", 7),
    ColumnSpec("size", "size", 8),          # human_size: at most "999.9 MB"
    ColumnSpec("status", "status", 10, flex=2),
)
_WIDTH = {spec.key: spec.min_width for spec in COLUMNS}


class RecordingCameraTable(ConsoleTable):
    """One row per camera of the session, keyed by camera name; shows stats it is given."""

    COLUMNS = COLUMNS

    DEFAULT_CSS = """
    RecordingCameraTable {
        height: auto;
        max-height: 10;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)
        self._names: list[str] = []

    def on_mount(self) -> None:
        self.add_fitted_columns()

    def set_cameras(self, names: Sequence[str]) -> None:
        """Show these cameras, waiting."""
        self.add_fitted_columns()
        self.drop_rows()
        self._names = list(names)
        for i, name in enumerate(self._names, 1):
            self.put_row(name, [f"{i} {name}", "0", "-", "0", "0 B", "waiting"])

    def update_stats(self, stats: Iterable) -> None:
        """Refresh the rows from CameraStats objects (drivers.recording.encoders.CameraStats)."""
        for st in stats:
            if st.name not in self._names:
                continue
            # A fault's reason can be long: the cell keeps "fault" and as much of the reason as
            # the width allows, an ellipsis marking the cut; the whole reason is in the status
            # line and the toast.
            status = st.status if not st.fault else Text(f"fault: {st.fault}", no_wrap=True, overflow="ellipsis")
            for col, value in (("frames", fit_count(st.frames, _WIDTH["frames"])),
                               ("fps", fit_number(st.fps, _WIDTH["fps"])),
                               ("dropped", fit_count(st.dropped, _WIDTH["dropped"])),
                               ("size", human_size(st.bytes_written)), ("status", status)):
                self.put_cell(st.name, col, value)

    def row_text(self, name: str) -> list[str]:
        """The cells of one camera's row, as text (for tests and the help line)."""
        return self.row_cells(name)
