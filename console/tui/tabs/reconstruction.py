"""The Reconstruction tab. A placeholder until the fastcore issue brings the real one (same class and constructor)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

TEXT = (
    "[b]Reconstruction[/b] arrives with the fastcore issue.\n\n"
    "This tab will show:\n"
    "  • live voxel reconstruction from the stereo rig (chosen backend)\n"
    "  • ASCII density slices; keys move the slice and change the axis\n"
    "  • a max-projection view, the carve rate and the grid statistics\n"
    "  • saving grids as .npy / .bin at a chosen interval\n"
    "\n[dim]Until then: `camdeck reconstruct --rig asi-stereo`.[/dim]"
)


class ReconstructionTab(VerticalScroll):
    """What will appear here, said plainly; nothing here touches a camera."""

    DEFAULT_CSS = """
    ReconstructionTab {
        height: 1fr;
        padding: 1 2;
    }
    ReconstructionTab > Static {
        width: 1fr;
        max-width: 90;
    }
    """

    def __init__(self, settings, **kwargs) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def compose(self) -> ComposeResult:
        yield Static(TEXT, classes="placeholder")
