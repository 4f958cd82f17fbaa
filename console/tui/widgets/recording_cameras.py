"""Per-camera figures of a recording: frames, fps, dropped frames, file size, status.

Every value keeps its unit and every status its whole word at 80 columns (``428.1 MB``,
``recording``): the columns' minimum widths are those of the longest formatted value, and
the camera name and the status take what the terminal has left. A camera dropping more than
the take's limit (``record.max_drop_pct``) is flagged while it records and after: its
dropped count and status turn to the warning colour and the status says the share dropped.
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


def drop_pct(frames: int, dropped: int) -> float:
    """Dropped frames as a share (%) of the frames the camera made (recorded + dropped)."""
    made = frames + dropped
    return 100.0 * dropped / made if made else 0.0


class RecordingCameraTable(ConsoleTable):
    """One row per camera of the session, keyed by camera name; shows stats it is given."""

    COLUMNS = COLUMNS

    DEFAULT_CSS = """
    RecordingCameraTable {
        height: auto;
        max-height: 10;
    }
    """

    def __init__(self, drop_limit_pct: float | None = 1.0, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kwargs)
        self._names: list[str] = []
        self.drop_limit_pct = drop_limit_pct     # None: no limit, nothing flagged
        self.flagged: set[str] = set()           # cameras over the drop limit in the rows shown

    def on_mount(self) -> None:
        self.add_fitted_columns()

    def set_cameras(self, names: Sequence[str]) -> None:
        """Show these cameras, waiting."""
        self.add_fitted_columns()
        self.drop_rows()
        self.flagged = set()
        self._names = list(names)
        for i, name in enumerate(self._names, 1):
            self.put_row(name, [f"{i} {name}", "0", "-", "0", "0 B", "waiting"])

    def update_stats(self, stats: Iterable) -> None:
        """Refresh the rows from CameraStats objects (drivers.recording.camera_track.CameraStats)."""
        for st in stats:
            if st.name not in self._names:
                continue
            # A fault's reason can be long: the cell keeps "fault" and as much of the reason as
            # the width allows, an ellipsis marking the cut; the whole reason is in the status
            # line and the toast.
            status = st.status if not st.fault else Text(f"fault: {st.fault}", no_wrap=True, overflow="ellipsis")
            dropped: str | Text = fit_count(st.dropped, _WIDTH["dropped"])
            pct = drop_pct(st.frames, st.dropped)
            if self.drop_limit_pct is not None and pct > self.drop_limit_pct:
                self.flagged.add(st.name)
                dropped = Text(str(dropped), style="bold yellow")
                if not st.fault:
                    status = Text(f"{st.status}, {pct:.1f}% dropped", style="bold yellow", no_wrap=True,
                                  overflow="ellipsis")
            else:
                self.flagged.discard(st.name)
            for col, value in (("frames", fit_count(st.frames, _WIDTH["frames"])),
                               ("fps", fit_number(st.fps, _WIDTH["fps"])),
                               ("dropped", dropped),
                               ("size", human_size(st.bytes_written)), ("status", status)):
                self.put_cell(st.name, col, value)

    def row_text(self, name: str) -> list[str]:
        """The cells of one camera's row, as text (for tests and the help line)."""
        return self.row_cells(name)
