"""The figures beside the slice: rig, state, grid, view, frame, fps, latency, carve time, occupancy."""
from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table
from textual.widgets import Static


@dataclass(frozen=True)
class LiveFigures:
    """The job's latest numbers (from a ReconstructionEvent)."""

    frame: int = 0
    fps: float = 0.0
    latency_ms: float = 0.0
    carve_ms: float = 0.0
    occupied_fraction: float = 0.0


class ReconstructionStats(Static):
    """A two-column table, redrawn whole from plain values (never a delta)."""

    DEFAULT_CSS = """
    ReconstructionStats {
        width: 100%;
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.values: dict[str, str] = {}

    def show(self, *, rig: str, state: str, grid_size: int, extent_m: float, view: str,
             figures: LiveFigures | None, saved: str = "") -> None:
        voxel_cm = extent_m / grid_size * 100
        self.values = {
            "rig": rig,
            "state": state,
            "grid": f"{grid_size}³, {voxel_cm:.2g} cm voxels",
            "view": view,
            "frame": str(figures.frame) if figures else "–",
            "fps": f"{figures.fps:.1f}" if figures else "–",
            "latency": f"{figures.latency_ms:.1f} ms" if figures else "–",
            "carve": f"{figures.carve_ms:.1f} ms" if figures else "–",
            "occupied": f"{figures.occupied_fraction:.1%}" if figures else "–",
            "saved": saved or "–",
        }
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in self.values.items():
            table.add_row(name, value)
        self.update(table)
