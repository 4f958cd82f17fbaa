"""The keys screen (``?``): every key of the console, on one page.

The page is read from the running app, so it cannot go stale: the app's own bindings
first ("Everywhere"), then, for each tab in order, the bindings its class declares
(those hidden from the footer too). A binding's ``tooltip`` is its longer description.
"""
from __future__ import annotations

from typing import Iterable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Static

Rows = list[tuple[str, str]]

# Longer words for footer labels that are terse on purpose ("Exp-"), by action name. Only
# the wording lives here; which keys exist always comes from the bindings.
DESCRIPTIONS = {
    "exposure": "exposure down / up (1/3 stop)",
    "gain": "gain down / up",
    "edit_controls": "the camera form: every control with its range, live on the preview",
    "toggle_pause": "pause / resume the preview",
    "toggle_ascii": "half-block colour / plain-ASCII preview",
}


def key_label(binding: Binding) -> str:
    """How a key is written on the page: its footer display, modifiers spelled out ("ctrl+r")."""
    if binding.key_display:
        return binding.key_display
    *modifiers, key = binding.key.split("+")
    return "+".join([*modifiers, format_key(key)])


def binding_rows(bindings: Iterable) -> Rows:
    """(keys, what) rows of BINDINGS, in order. Keys share a row when they form a footer
    group ("x y z") or call the same action ("e E" for exposure(-1), exposure(1); one "+"
    for "plus,equals_sign")."""
    merged: dict[object, tuple[list[str], list[str]]] = {}   # row -> (keys, descriptions), in order
    for b in Binding.make_bindings(bindings):
        if b.system:
            continue
        name = b.action.split("(", 1)[0]
        row = ("group", b.group.description) if b.group is not None else ("action", name)
        keys, whats = merged.setdefault(row, ([], []))
        label = key_label(b)
        what = b.tooltip or DESCRIPTIONS.get(name) or b.description or name
        if label not in keys:
            keys.append(label)
        if what not in whats:
            whats.append(what)
    return [(" ".join(keys), " / ".join(whats)) for keys, whats in merged.values()]


def app_rows(app: App) -> Rows:
    """The app's keys: the tab-switching keys on one row, then the others, then the palette."""
    tab_keys = [b for b in Binding.make_bindings(app.BINDINGS) if b.action.startswith("show_tab(")]
    rows: Rows = []
    if tab_keys:
        rows.append((f"{key_label(tab_keys[0])} … {key_label(tab_keys[-1])}",
                     ", ".join(b.description for b in tab_keys)))
    rows += binding_rows(b for b in Binding.make_bindings(app.BINDINGS) if not b.action.startswith("show_tab("))
    if app.ENABLE_COMMAND_PALETTE:
        rows.append((key_label(Binding(app.COMMAND_PALETTE_BINDING, "command_palette")),
                     "command palette (themes, ASCII preview, pause)"))
    return rows


def tab_sections(app: App) -> list[tuple[str, Rows]]:
    """(title, rows) for each tab of the app's TabbedContent, in order."""
    from textual.widgets import TabbedContent, TabPane

    sections = []
    screens = [s for s in app.screen_stack if not isinstance(s, HelpScreen)]
    for tabs in (t for screen in screens for t in screen.query(TabbedContent)):
        for pane in tabs.query(TabPane):
            body = next(iter(pane.children), None)
            declared = type(body).__dict__.get("BINDINGS") if body is not None else None
            if not declared:
                continue
            label = tabs.get_tab(pane).label.plain
            key, _, title = label.partition(" ")
            sections.append((f"{title} ({key})" if key.isdigit() and title else label, binding_rows(declared)))
    return sections


def keys_table(sections: list[tuple[str, Rows]]) -> Group:
    """Each section: its underlined title on a line of its own, then a keys | what grid
    (titles kept out of the key column, so it stays as narrow as the longest key)."""
    width = max((len(key) for _, rows in sections for key, _ in rows), default=1)
    parts = []
    for section, rows in sections:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True, min_width=width)
        table.add_column()
        for key, what in rows:
            table.add_row(key, what)
        parts += [Text(section, style="underline"), table, Text("")]
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Lists the keys; any of escape, q or ? closes it; arrows and page keys scroll it."""

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

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[tuple[str, Rows]] = []

    def compose(self) -> ComposeResult:
        self.sections = [("Everywhere", app_rows(self.app)), *tab_sections(self.app)]
        with VerticalScroll() as box:
            box.border_title = "camdeck keys"
            box.border_subtitle = "↑↓ scroll · esc closes"
            yield Static(keys_table(self.sections))

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()

    def plain_text(self) -> str:
        """The page as plain lines: "keys  what" under each section title."""
        lines = []
        for section, rows in self.sections:
            lines.append(section)
            lines += [f"{keys}  {what}" for keys, what in rows]
        return "\n".join(lines)
