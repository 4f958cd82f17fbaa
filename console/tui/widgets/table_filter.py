"""The ``/`` filter line under a table (k9s's filter): typing narrows the rows at once, enter
goes back to the table keeping the filter, escape clears it and goes back."""
from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Input

from camdeck.console.tui.widgets.tables import ConsoleTable


class TableFilter(Input):
    """A one-line Input bound to ``table``; hidden until ``open()``, shown while it filters."""

    BINDINGS = [Binding("escape", "clear_filter", "Clear the filter", show=False)]

    DEFAULT_CSS = """
    TableFilter {
        height: 1;
        width: 100%;
        display: none;
    }
    TableFilter.-open {
        display: block;
    }
    """

    def __init__(self, table: ConsoleTable, **kwargs) -> None:
        super().__init__(placeholder="/ filter rows: enter keeps it, esc clears it", compact=True, **kwargs)
        self.table = table

    def open(self) -> None:
        """Show the line and give it the keyboard (the ``/`` key)."""
        self.add_class("-open")
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()
        if not self.value.strip():
            self.remove_class("-open")

    def action_clear_filter(self) -> None:
        self.table.focus()          # before hiding: a hidden focused widget would drop the keyboard
        self.value = ""
        self.table.set_filter("")
        self.remove_class("-open")
