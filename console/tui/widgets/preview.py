"""The live preview: draws cells a worker already fitted to this widget's size.

The widget does almost nothing per frame: it keeps the rows of segments and Textual asks
for one line at a time (``render_line``). A picture made as a change of the one on screen
(``PreviewCells.dirty``, console/render_cells.py) repaints only the spans that changed, so a
still scene costs a few bytes on a thin link instead of the whole picture.

When the widget's size changes, the next frame is rendered at the new size (workers read it
from a ``PreviewRequest``) and the picture on screen is redrawn from its source at once: a
frame rendered before the first layout, or the last frame of a stream that has stopped,
would otherwise stay at the old size.

The link meter is not drawn here: the status header shows it once, on every tab.
"""
from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from camdeck.console.render import PreviewCells
from camdeck.console.render_cells import render_cells


class PreviewView(Widget):
    """A picture made of terminal cells, centred; or a centred message when there is none."""

    DEFAULT_CSS = """
    PreviewView {
        width: 1fr;
        height: 1fr;
        background: $background;
        color: $text-muted;
    }
    """

    class Resized(Message):
        """The picture area changed size; workers render the next frame at this many cells."""

        def __init__(self, cols: int, rows: int) -> None:
            super().__init__()
            self.cols, self.rows = cols, rows

    def __init__(self, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._cells: PreviewCells | None = None
        self._strips: list[Strip] = []
        self._message = "no camera selected"
        self._lines: list[Strip] | None = None
        self._serial = 0
        self.frames_shown = 0
        self.partial_updates = 0

    @property
    def cells(self) -> PreviewCells | None:
        return self._cells

    @property
    def message(self) -> str:
        return self._message

    @property
    def picture_area(self) -> tuple[int, int]:
        """(cols, rows) a picture may use: the whole widget."""
        width, height = self.size
        return width, height

    def show_cells(self, cells: PreviewCells) -> None:
        """Draw a new picture (called on the UI thread with a worker's cells)."""
        area = self.picture_area
        if cells.source is not None and area[0] > 0 and area[1] > 0 and tuple(cells.area) != area:
            # Rendered for an old size (before the first layout, or a resize in between).
            cells = render_cells(cells.source, *area, depth=cells.depth or "truecolor", scale=cells.scale)
        old = self._cells
        # Regions still waiting to be painted accumulate in Textual, so a partial update on top
        # of one not yet painted is still complete.
        partial = cells.dirty is not None and old is not None and cells.base == old.serial
        self._serial += 1
        cells.serial = self._serial
        self._cells = cells
        self._strips = [Strip(row, cells.cols) for row in cells.as_segments(None)]
        self.frames_shown += 1
        if partial:
            self.partial_updates += 1
            regions = self._changed_regions(cells)
            self._lines = None
            if regions:
                self.refresh(*regions)
            return
        self._lines = None  # padded lines are built once per frame, at the first render_line
        self.refresh()

    def _changed_regions(self, cells: PreviewCells) -> list[Region]:
        width, height = self.picture_area
        top = max(0, (height - cells.rows) // 2)
        left = max(0, (width - cells.cols) // 2)
        return [Region(left + x0, top + row, x1 - x0, 1) for row, x0, x1 in cells.dirty or ()
                if top + row < height]

    def show_message(self, text: str) -> None:
        """Replace the picture with a one-paragraph message (camera not streaming, error)."""
        self._cells = None
        self._strips = []
        self._lines = None
        self._message = text
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self._lines = None
        cols, rows = self.picture_area
        self.post_message(self.Resized(cols, rows))
        cells = self._cells
        if cells is not None and cells.source is not None and cols > 0 and rows > 0:
            self.show_cells(cells)   # redrawn from its source at the new size

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines = None  # a new theme: padding and message colours change

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    def render_line(self, y: int) -> Strip:
        lines = self._lines
        if lines is None:
            lines = self._lines = self._layout_lines()
        return lines[y] if 0 <= y < len(lines) else Strip.blank(self.size.width)

    def _layout_lines(self) -> list[Strip]:
        """Every line of the widget for the current picture and size (computed once per frame:
        looking up the widget's style per line costs more than drawing the line)."""
        width, height = self.size
        base = self.rich_style
        blank_style = Style(bgcolor=base.bgcolor)
        blank = Strip.blank(width, blank_style)
        if not self._strips:
            lines = [self._message_line(y, width, height, base) for y in range(height)]
        else:
            ascii = self._cells is not None and self._cells.ascii
            top = max(0, (height - len(self._strips)) // 2)
            lines = [blank] * height
            for row, strip in enumerate(self._strips[:max(0, height - top)]):
                left = max(0, (width - strip.cell_length) // 2)
                if left:
                    strip = Strip([Segment(" " * left, blank_style), *strip], left + strip.cell_length)
                if ascii:
                    strip = strip.apply_style(base)
                lines[top + row] = strip.crop_extend(0, width, blank_style)
        return lines

    def _message_line(self, y: int, width: int, height: int, style: Style) -> Strip:
        lines = _wrap(self._message, max(1, width - 4))
        top = max(0, (height - len(lines)) // 2)
        row = y - top
        if 0 <= row < len(lines):
            text = lines[row].center(width)[:width]
            return Strip([Segment(text, style)], width)
        return Strip.blank(width, style)


def _wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap (textwrap without the import cost on every frame)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            while len(word) > width:
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:width])
                word = word[width:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= width:
                line += " " + word
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines
