"""The keys screen (``?``): every key of the console, on one page."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Everywhere", (
        ("1 … 5", "Cameras, Recording, Calibration, Reconstruction, Monitoring"),
        ("ctrl+p", "command palette (themes, ASCII preview, pause)"),
        ("?", "this page"),
        ("q", "quit"),
    )),
    ("Cameras", (
        ("↑ ↓", "choose the camera to preview"),
        ("e / E", "exposure down / up (1/3 stop)"),
        ("g / G", "gain down / up"),
        ("c", "type exposure and gain values"),
        ("p", "pause / resume the preview"),
        ("a", "half-block colour / plain-ASCII preview"),
    )),
)


def keys_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for section, rows in KEYS:
        table.add_row(Text(section, style="underline"), "")
        for key, what in rows:
            table.add_row(key, what)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    """Lists the keys; any of escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("q", "dismiss", "Close", show=False),
        Binding("question_mark", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 74;
        max-width: 100%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        border-title-align: center;
        background: $panel;
        padding: 0 1;
    }
    HelpScreen Static {
        width: 1fr;
        height: auto;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "camdeck keys"
            box.border_subtitle = "esc closes"
            yield Static(keys_table())
