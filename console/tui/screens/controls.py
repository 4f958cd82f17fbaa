"""The camera form (key ``c``): one form per camera holding every control the driver reports,
each with the driver's range, applied live while editing so the preview beside it shows the
effect; plus the exposure/gain steps of the Cameras tab's e/E g/G keys.

``ControlsForm(camera, controls, ...)`` is built from the camera's ``controls()`` (read by the
caller's worker: a screen never touches a driver) through console/tui/screens/control_fields.py:
exposure, gain, auto exposure, ev, metering, focus/LensPosition, AF mode/range/speed/window,
brightness, contrast, saturation, sharpness, AWB and awbgains, denoise, zoom (ScalerCrop), frame
rate (FrameDurationLimits) and the resolution. A value outside the driver's range is refused in the
form with the range shown. Valid edits go to ``on_change`` as they are typed (a quarter second
after the last key), so the camera shows them at once; escape puts back what was changed. The
resolution and the frame rate change between takes only: while a take runs (``take_running``
says why) their rows are disabled and the form says so. The form docks on the right, so the
live preview stays in sight.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from camdeck.console.tui.messages import ControlField
from camdeck.console.tui.screens.control_fields import FormField, control_value, form_fields, parse_number
from camdeck.drivers.recording.presets import BETWEEN_TAKES     # with the resolution: between takes only

LIVE_DELAY_S = 0.25       # edits reach the camera this long after the last key (not at every digit)


class ControlsForm(ModalScreen[dict | None]):
    """Returns {control: value} for what changed (``"resolution": (w, h)`` too), or None when cancelled.

    Args:
        camera: the camera's name (the border title).
        controls: its ``controls()`` (name -> ControlRange), read by the caller.
        resolution: its output size (w, h), when it can be changed.
        resolutions: the sizes it offers (its sensor modes' sizes).
        take_running: why the resolution and frame rate cannot change now ("" when they can).
        on_change: called on the UI thread with {control: value} for each valid edit (live).
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    ControlsForm {
        align: right top;
    }
    ControlsForm > Vertical {
        width: 52;
        height: 100%;
        border: round $primary;
        background: $panel;
        padding: 0 1;
    }
    ControlsForm VerticalScroll {
        height: 1fr;
    }
    ControlsForm .row {
        height: 1;
    }
    ControlsForm .name {
        width: 14;
    }
    ControlsForm .row Input, ControlsForm .row Select {
        width: 14;
    }
    ControlsForm .row Input.half {
        width: 7;
    }
    ControlsForm .range {
        width: 1fr;
        color: $text-muted;
        padding-left: 1;
    }
    ControlsForm .error, ControlsForm .note {
        height: auto;
    }
    ControlsForm .error {
        color: $error;
    }
    ControlsForm .buttons {
        height: auto;
        align-horizontal: right;
    }
    """

    def __init__(self, camera: str, controls: Mapping[str, Any], *, resolution: tuple[int, int] | None = None,
                 resolutions: Sequence[tuple[int, int]] = (), take_running: str = "",
                 on_change: Callable[[dict], None] | None = None) -> None:
        super().__init__()
        self.camera = camera
        self.fields: list[FormField] = form_fields(controls)
        self.take_running = take_running
        self.resolution = tuple(resolution) if resolution else None
        self.resolutions = sorted({tuple(r) for r in resolutions} | ({self.resolution} if self.resolution else set()))
        self._on_change = on_change
        self._inputs: dict[str, Input] = {}              # one number per control
        self._pairs: dict[str, tuple[Input, Input]] = {}  # two numbers (ColourGains)
        self._choices: dict[str, Select | Checkbox] = {}  # enums and switches
        self._resolution_select: Select | None = None
        self._error = Label("", classes="error", markup=False)
        self._controls = controls
        self._pending: dict[str, Any] = {}     # valid edits waiting for LIVE_DELAY_S
        self._sent: dict[str, Any] = {}        # what went to the camera, to put back on escape
        self._timer: Any = None

    # ---------------------------------------------------------------- building
    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"{self.camera} controls"
            if self.take_running:
                yield Label(f"{self.take_running}: the resolution and frame rate change between takes",
                            classes="note", markup=False)
            with VerticalScroll():
                for field in self.fields:
                    yield self._row(field)
                if self.resolution:
                    self._resolution_select = Select([(f"{w}x{h}", (w, h)) for w, h in self.resolutions],
                                                     value=self.resolution, allow_blank=False, compact=True,
                                                     disabled=bool(self.take_running))
                    yield Horizontal(Label("resolution", classes="name"), self._resolution_select,
                                     Label("between takes", classes="range"), classes="row")
            yield self._error
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        # The scroller would take the focus first, and enter there does nothing: start on a field.
        self.query_one(VerticalScroll).can_focus = False
        first = next(iter(self._inputs.values()), None) or next(iter(self._choices.values()), None)
        if first is not None:
            first.focus()

    def _row(self, field: FormField) -> Horizontal:
        locked = bool(self.take_running) and field.control in BETWEEN_TAKES
        rng = "between takes" if locked else ("" if field.kind in ("bool", "enum") else field.range_text())
        if field.kind == "bool":
            widget: Any = Checkbox("", field.value, compact=True)
            self._choices[field.control] = widget
        elif field.kind == "enum":
            # No value when the driver's is not one of its choices: the blank entry (Select.BLANK in
            # Textual < 8, Select.NULL from 8 on; neither is named here).
            known = {"value": field.value} if field.value in field.choices else {}
            widget = Select([(c, c) for c in field.choices], compact=True, **known)
            self._choices[field.control] = widget
        elif field.kind == "pair":
            red, blue = (Input("" if field.value is None else f"{v:g}", type="number", compact=True, classes="half",
                               placeholder="auto") for v in (field.value or (None, None)))
            self._pairs[field.control] = (red, blue)
            return Horizontal(Label(field.label, classes="name"), red, blue, Label(rng, classes="range"), classes="row")
        else:
            shown = "" if field.value is None else (f"{int(field.value)}" if field.kind == "int" else f"{field.value:g}")
            widget = Input(shown, type="integer" if field.kind == "int" else "number", compact=True,
                           disabled=locked, placeholder="unchanged" if field.kind == "window" else "")
            self._inputs[field.control] = widget
        return Horizontal(Label(field.label, classes="name"), widget, Label(rng, classes="range", markup=False),
                          classes="row")

    # ---------------------------------------------------------------- reading the rows
    def _field(self, control: str) -> FormField:
        return next(f for f in self.fields if f.control == control)

    def _typed(self, field: FormField) -> Any:
        """The row as typed (a zoom factor, fps, percent, a choice), or None when left empty.

        Raises:
            ValueError: a number that is not one or is outside the driver's range (with the range).
        """
        if field.kind == "bool":
            return bool(self._choices[field.control].value)
        if field.kind == "enum":
            value = self._choices[field.control].value
            return value if value in field.choices else None      # blank: left as it is
        if field.kind == "pair":
            texts = [i.value.strip() for i in self._pairs[field.control]]
            return tuple(float(parse_number(t, field)) for t in texts) if any(texts) else None
        text = self._inputs[field.control].value.strip()
        return parse_number(text, field) if text else None

    def _changes(self) -> dict[str, Any]:
        """{control: value for the camera} for every row that differs from what the form opened
        with (ValueError for the first bad row)."""
        typed = {}
        for field in self.fields:
            if self.take_running and field.control in BETWEEN_TAKES:
                continue
            value = self._typed(field)
            if value is not None and value != field.value:
                typed[field.control] = value
        crop = self._controls["ScalerCrop"].value if "ScalerCrop" in self._controls else None
        if "ScalerCrop" in typed:
            crop = control_value(self._field("ScalerCrop"), typed["ScalerCrop"])
        return {name: control_value(self._field(name), value, crop) for name, value in typed.items()}

    # ---------------------------------------------------------------- live edits
    def on_input_changed(self, event: Input.Changed) -> None:
        self._edited()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select is not self._resolution_select:
            self._edited()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self._edited()

    def _edited(self) -> None:
        try:
            changes = self._changes()
        except ValueError as err:
            self._error.update(str(err))
            return
        self._error.update("")
        self._pending = {k: v for k, v in changes.items() if self._sent.get(k) != v}
        if self._pending and self._on_change is not None:
            if self._timer is not None:
                self._timer.stop()
            self._timer = self.set_timer(LIVE_DELAY_S, self._send)

    def _send(self) -> None:
        pending, self._pending = self._pending, {}
        if pending and self._on_change is not None:
            self._sent.update(pending)
            self._on_change(pending)

    # ---------------------------------------------------------------- ending
    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self._apply()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        """Escape: put back every control the live edits changed, then close."""
        if self._timer is not None:
            self._timer.stop()
        if self._sent and self._on_change is not None:
            back = {k: self._controls[k].value for k in self._sent if self._controls[k].value is not None}
            for auto in ("AeEnable", "AwbEnable"):     # setting exposure or colour gains turned these off
                if auto in self._controls and self._controls[auto].value is not None:
                    back[auto] = self._controls[auto].value
            self._on_change(back)
        self.dismiss(None)

    def _apply(self) -> None:
        try:
            values = self._changes()
        except ValueError as err:
            self._error.update(str(err))
            return
        if self._timer is not None:
            self._timer.stop()
        chosen = self._resolution_select.value if self._resolution_select is not None else None
        if chosen and chosen != self.resolution and not self.take_running:
            values["resolution"] = chosen
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


def show_controls_form(app: Any, camera: str, controls: Mapping[str, Any], size: tuple[int, int] | None,
                       sizes: Sequence[tuple[int, int]], *, apply: Callable[[dict], Any],
                       reopen: Callable[[tuple[int, int]], Any], take_running: str = "") -> None:
    """Push the camera form on ``app``: each live change goes to ``apply(values)``; on close, the
    rest goes to ``apply`` and a new resolution to ``reopen(resolution)`` (the camera restarts)."""
    def done(values: dict | None) -> None:
        if not values:
            return
        resolution = values.pop("resolution", None)
        if values:
            apply(values)
        if resolution:
            reopen(tuple(resolution))

    app.push_screen(ControlsForm(camera, controls, resolution=size, resolutions=sizes, take_running=take_running,
                                 on_change=apply), done)
