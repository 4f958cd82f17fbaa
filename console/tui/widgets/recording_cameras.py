"""Per-camera figures of a recording: frames, fps, dropped frames, file size, status."""
from __future__ import annotations

from typing import Iterable, Sequence

from textual.widgets import DataTable

COLUMNS = ("camera", "frames", "fps", "dropped", "size", "status")


def human_size(n: int) -> str:
    """Bytes as B/kB/MB/GB (decimal, as disk tools say)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


class RecordingCameraTable(DataTable):
    """One row per camera of the session, keyed by camera name; shows stats it is given."""

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
        for col in COLUMNS:
            self.add_column(col, key=col)

    def set_cameras(self, names: Sequence[str]) -> None:
        """Show these cameras, waiting."""
        self.clear()
        self._names = list(names)
        for i, name in enumerate(self._names, 1):
            self.add_row(f"{i} {name}", "0", "-", "0", "0 B", "waiting", key=name)

    def update_stats(self, stats: Iterable) -> None:
        """Refresh the rows from CameraStats objects (drivers.recording.encoders.CameraStats)."""
        for st in stats:
            if st.name not in self._names:
                continue
            status = st.status if not st.fault else f"fault: {st.fault}"
            for col, value in (("frames", str(st.frames)), ("fps", f"{st.fps:.1f}"), ("dropped", str(st.dropped)),
                               ("size", human_size(st.bytes_written)), ("status", status)):
                self.update_cell(st.name, col, value)

    def row_text(self, name: str) -> list[str]:
        """The cells of one camera's row, as text (for tests and the help line)."""
        return [str(c) for c in self.get_row(name)]
