"""Asks before a recording replaces an existing session's files (the TUI's --overwrite)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmOverwrite(ModalScreen[bool]):
    """Returns True to replace the files, False to keep them (the default: escape, n)."""

    BINDINGS = [
        Binding("escape", "keep", "Keep"),
        Binding("n", "keep", "Keep", show=False),
        Binding("y", "replace", "Replace", show=False),
    ]

    DEFAULT_CSS = """
    ConfirmOverwrite {
        align: center middle;
    }
    ConfirmOverwrite > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $panel;
        padding: 0 1;
    }
    ConfirmOverwrite Label {
        width: 1fr;
    }
    ConfirmOverwrite Horizontal {
        height: auto;
        align-horizontal: right;
    }
    """

    def __init__(self, session: str, files: list[str]) -> None:
        super().__init__()
        self.session = session
        self.files = files

    def compose(self) -> ComposeResult:
        shown = ", ".join(self.files[:4]) + (f" and {len(self.files) - 4} more" if len(self.files) > 4 else "")
        with Vertical() as box:
            box.border_title = "session exists"
            yield Label(f"Session {self.session!r} already has files: {shown}.")
            yield Label("Replace them? (y / n)")
            with Horizontal():
                yield Button("Replace", variant="warning", id="replace")
                yield Button("Keep", variant="primary", id="keep")

    def on_mount(self) -> None:
        self.query_one("#keep", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "replace")

    def action_keep(self) -> None:
        self.dismiss(False)

    def action_replace(self) -> None:
        self.dismiss(True)
