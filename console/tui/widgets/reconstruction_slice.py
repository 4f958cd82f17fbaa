"""The voxel slice panel: ASCII rows a worker already rendered, centred in a bordered box.

The widget draws text only; the tab's workers call ``render_view`` (console.render) at the
size this widget reports through ``Resized``. The border title says what is shown.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

from camdeck.console.render import voxel_slice_ascii

AXES = ("x", "y", "z")


@dataclass(frozen=True)
class SliceView:
    """What to draw: ``axis`` x/y/z, ``index`` along it (mode "slice"), ``mode`` "slice" or
    "max", and the room for it in characters (``cols`` x ``rows``)."""

    axis: str = "z"
    index: int = 0
    mode: str = "slice"
    cols: int = 40
    rows: int = 18

    def title(self, n: int) -> str:
        """E.g. "z = 31 / 63" for a slice, "max along z" for the projection."""
        return f"max along {self.axis}" if self.mode == "max" else f"{self.axis} = {self.index} / {n - 1}"


def picture_size(cols: int, rows: int) -> tuple[int, int]:
    """The largest (width, height) of a square grid's picture in ``cols`` x ``rows`` cells
    (a cell is about twice as tall as wide, so the picture is two columns per row)."""
    height = max(1, min(rows, cols // 2))
    return max(1, min(cols, 2 * height)), height


def render_view(grid: np.ndarray, view: SliceView) -> list[str]:
    """ASCII rows of ``grid`` (N, N, N) as ``view`` asks, fitted to its room (worker threads call this)."""
    width, height = picture_size(view.cols, view.rows)
    index = min(max(view.index, 0), grid.shape[AXES.index(view.axis)] - 1)
    return voxel_slice_ascii(grid, view.axis, index, view.mode, width, height)


class SlicePanel(Static, can_focus=True):
    """Shows rendered rows, or a message (nothing carved yet, camera fault)."""

    DEFAULT_CSS = """
    SlicePanel {
        width: 1fr;
        height: 1fr;
        border: round $primary-darken-1;
        border-title-align: left;
        border-subtitle-align: right;
        content-align: center middle;
        text-align: center;
        color: $text;
        background: $background;
    }
    SlicePanel:focus {
        border: round $accent;
    }
    """

    class Resized(Message):
        """The room for the picture changed: render the next one at ``cols`` x ``rows``."""

        def __init__(self, cols: int, rows: int) -> None:
            super().__init__()
            self.cols, self.rows = cols, rows

    def __init__(self, message: str, **kwargs) -> None:
        super().__init__(Text(message), **kwargs)
        self.rows: list[str] = []
        self.message = message
        self.pictures_shown = 0

    def show_rows(self, rows: list[str], title: str) -> None:
        """Draw a picture (a worker's rows) under ``title``."""
        self.rows = rows
        self.message = ""
        self.pictures_shown += 1
        self.border_title = title
        self.update(Text("\n".join(rows), no_wrap=True, overflow="crop"))

    def show_message(self, text: str) -> None:
        self.rows = []
        self.message = text
        self.update(Text(text))

    @property
    def text(self) -> str:
        """What the panel shows, as plain text (the picture's rows, or the message)."""
        return "\n".join(self.rows) if self.rows else self.message

    def on_resize(self, event: events.Resize) -> None:
        region = self.content_region
        self.post_message(self.Resized(max(1, region.width), max(1, region.height)))
