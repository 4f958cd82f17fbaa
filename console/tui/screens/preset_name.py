"""Asks for the name to save a preset under (ctrl+o on the Recording tab).

``PresetNameScreen(cameras, existing)`` returns the name typed, checked with the one safe-name
check (camdeck.fileio.names), or None on escape. An unsafe name is refused in the dialog with
the rule; a name already saved says that it will be replaced (the tab asks before replacing).
"""
from __future__ import annotations

from typing import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class PresetNameScreen(ModalScreen[str | None]):
    """One text field for the preset's name; enter saves, escape cancels.

    Args:
        cameras: the cameras whose controls will be saved (shown in the dialog).
        existing: the names already saved.
        value: the name to start with (the preset picked in the list, if any).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    PresetNameScreen {
        align: center middle;
    }
    PresetNameScreen > Vertical {
        width: 60;
        height: auto;
        border: round $primary;
        background: $panel;
        padding: 0 1;
    }
    PresetNameScreen .hint {
        color: $text-muted;
    }
    PresetNameScreen .error {
        color: $error;
        height: auto;
    }
    """

    def __init__(self, cameras: Sequence[str], existing: Sequence[str], value: str = "") -> None:
        super().__init__()
        self.cameras = list(cameras)
        self.existing = set(existing)
        self.field = Input(value, placeholder="preset name, e.g. dusk", id="preset-name")
        self.error = Label("", classes="error", markup=False)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "save preset"
            yield Label(f"each camera's own controls: {', '.join(self.cameras) or 'none'}")
            yield self.field
            yield Label("enter saves, esc cancels", classes="hint")
            yield self.error

    def on_mount(self) -> None:
        self.field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        name = event.value.strip()
        self.error.update(f"replaces the saved preset {name!r}" if name in self.existing else "")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from camdeck.fileio.names import UnsafeName, check_safe_name

        try:
            name = check_safe_name(event.value.strip(), "preset name", "dusk")
        except UnsafeName as err:
            self.error.update(str(err))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)
