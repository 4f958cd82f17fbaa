"""A yes/no question in a modal: the console's one confirm dialog.

``ConfirmScreen(title, lines, yes=..., no=...)`` returns True for yes (y, or its button) and
False for no (n, escape, or its button); no is focused, so enter keeps things as they are.
ConfirmOverwrite (replace a session's files) and the quit guard (stop running jobs and quit)
are both this screen.
"""
from __future__ import annotations

from typing import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; returns True for yes, False for no (the default: escape, n, enter).

    Args:
        title: the border title.
        lines: the text, one Label per line (the last is usually the question).
        yes, no: the buttons' labels.
        yes_id, no_id: the buttons' ids.
    """

    BINDINGS = [
        Binding("escape", "no", "No"),
        Binding("n", "no", "No", show=False),
        Binding("y", "yes", "Yes", show=False),
    ]

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen > Vertical {
        width: 60;
        max-width: 100%;
        height: auto;
        border: round $warning;
        background: $panel;
        padding: 0 1;
    }
    ConfirmScreen Label {
        width: 1fr;
    }
    ConfirmScreen Horizontal {
        height: auto;
        align-horizontal: right;
    }
    """

    def __init__(self, title: str, lines: Sequence[str], *, yes: str = "Yes", no: str = "No",
                 yes_id: str = "yes", no_id: str = "no") -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.yes_label, self.no_label = yes, no
        self.yes_id, self.no_id = yes_id, no_id

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            for line in self.lines:
                yield Label(line, markup=False)
            with Horizontal():
                yield Button(self.yes_label, variant="warning", id=self.yes_id)
                yield Button(self.no_label, variant="primary", id=self.no_id)

    def on_mount(self) -> None:
        self.query_one(f"#{self.no_id}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == self.yes_id)

    def action_no(self) -> None:
        self.dismiss(False)

    def action_yes(self) -> None:
        self.dismiss(True)


class ConfirmQuit(ConfirmScreen):
    """Asks before quitting while jobs run; True stops them (cleanly) and quits."""

    def __init__(self, jobs: list[str]) -> None:
        super().__init__("quit camdeck?", ["Still running:", *(f"  • {job}" for job in jobs),
                                           "Stop them cleanly and quit? (y / n)"],
                         yes="Stop and quit", no="Keep running", yes_id="quit", no_id="stay")
        self.jobs = jobs
