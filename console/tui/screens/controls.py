"""A small form to type exposure and gain values for one camera (key ``c``)."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from camdeck.console.tui.messages import ControlField


def _show(value: float, field: ControlField) -> str:
    return f"{int(value):,}" if field.integer else f"{value:g}"


def parse_value(text: str, field: ControlField) -> float | int:
    """The typed value, checked against the field's limits.

    Raises:
        ValueError: not a number, or outside the limits (the message says which).
    """
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{field.label}: {text!r} is not a number") from None
    if not field.minimum <= value <= field.maximum:
        raise ValueError(f"{field.label}: {value:g} is outside "
                         f"{_show(field.minimum, field)} … {_show(field.maximum, field)}")
    return int(round(value)) if field.integer else value


class ControlsForm(ModalScreen[dict | None]):
    """Returns {control: value} for the fields that changed, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    ControlsForm {
        align: center middle;
    }
    ControlsForm > Vertical {
        width: 48;
        height: auto;
        border: round $primary;
        background: $panel;
        padding: 0 1;
    }
    ControlsForm Input {
        width: 1fr;
    }
    ControlsForm .error {
        color: $error;
        height: auto;
    }
    ControlsForm Horizontal {
        height: auto;
        align-horizontal: right;
    }
    """

    def __init__(self, camera: str, fields: list[ControlField]) -> None:
        super().__init__()
        self.camera = camera
        self.fields = fields
        self._inputs: dict[str, Input] = {}
        self._error = Label("", classes="error")

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"{self.camera} controls"
            for field in self.fields:
                yield Label(f"{field.label} ({_show(field.minimum, field)} … {_show(field.maximum, field)})")
                box_input = Input(value=f"{field.value:g}", type="integer" if field.integer else "number")
                self._inputs[field.control] = box_input
                yield box_input
            yield self._error
            with Horizontal():
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self._apply()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _apply(self) -> None:
        values: dict = {}
        try:
            for field in self.fields:
                typed = self._inputs[field.control].value
                value = parse_value(typed, field)
                if value != field.value:
                    values[field.control] = value
        except ValueError as err:
            self._error.update(str(err))
            return
        self.dismiss(values)


def _nice_step(raw: float) -> float:
    """The 1-2-5 series value nearest below ``raw`` (0.1, 0.2, 0.5, 1, 2, 5, 10, ...)."""
    import math

    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for mult in (5, 2, 1):
        if mult * power <= raw:
            return mult * power
    return power


def step_exposure(field: ControlField, direction: int) -> float | int:
    """Exposure one third of a stop longer (direction > 0) or shorter, within the limits."""
    factor = 2 ** (1 / 3) if direction > 0 else 2 ** (-1 / 3)
    value = min(field.maximum, max(field.minimum, field.value * factor))
    if field.integer:
        value = int(round(value))
        if value == field.value and field.minimum <= value + direction <= field.maximum:
            value += 1 if direction > 0 else -1
    return value


def step_gain(field: ControlField, direction: int) -> float | int:
    """Gain one step (1/50 of its range, rounded to 1-2-5) up or down, within the limits."""
    step = _nice_step((field.maximum - field.minimum) / 50.0)
    if field.integer:
        step = max(1, int(step))
    value = field.value + (step if direction > 0 else -step)
    value = min(field.maximum, max(field.minimum, value))
    return int(round(value)) if field.integer else round(value, 6)
