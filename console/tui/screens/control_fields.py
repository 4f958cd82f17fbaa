"""The camera form's fields, made from what the driver says about each control (no Textual here).

``form_fields(controls)`` turns a camera's ``controls()`` (name -> ControlRange: min, max,
default, value, unit, and, when the driver's control table gives them, ``kind`` and ``choices``)
into ``FormField`` rows in the origin's order: exposure, gain, auto exposure, ev, metering,
focus and autofocus, picture (brightness, contrast, saturation, sharpness), white balance,
denoise, zoom, frame rate; then any other writable control. Nothing is hard-coded about
ranges: every limit shown or checked is the driver's.

Three controls are shown as what an operator thinks in, and converted back:
- ``ScalerCrop`` (a rectangle of sensor pixels) as a zoom factor: 1 = the unzoomed view (the
  control's default), more = a centred crop of it, up to the smallest rectangle it allows;
- ``FrameDurationLimits`` (min, max frame duration, us) as a frame rate, fixing both limits;
- ``AfWindows`` (rectangles) as one centred window, in percent of the zoomed view.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

ORDER = ("ExposureTime", "exposure_us", "AnalogueGain", "gain", "AeEnable", "ExposureValue", "AeMeteringMode",
         "LensPosition", "AfMode", "AfRange", "AfSpeed", "AfWindows", "Brightness", "Contrast", "Saturation",
         "Sharpness", "AwbEnable", "AwbMode", "ColourGains", "wb_r", "wb_b", "NoiseReductionMode",
         "ScalerCrop", "FrameDurationLimits")
LABELS = {"ExposureTime": "exposure", "exposure_us": "exposure", "AnalogueGain": "gain", "gain": "gain",
          "AeEnable": "auto exposure", "ExposureValue": "ev", "AeMeteringMode": "metering",
          "LensPosition": "focus (LensPosition)", "AfMode": "AF mode", "AfRange": "AF range", "AfSpeed": "AF speed",
          "AfWindows": "AF window", "AwbEnable": "auto WB", "AwbMode": "AWB mode",
          "ColourGains": "awbgains r, b", "NoiseReductionMode": "denoise", "ScalerCrop": "zoom",
          "FrameDurationLimits": "frame rate", "Brightness": "brightness", "Contrast": "contrast",
          "Saturation": "saturation", "Sharpness": "sharpness"}


@dataclass(frozen=True)
class FormField:
    """One row of the form.

    Attributes:
        control: the driver's control name.
        label: what the row says.
        kind: "int", "float", "bool", "enum", "pair" (two numbers), "zoom", "fps" or "window".
        minimum, maximum: the limits of what is typed (for zoom/fps/window: in those units).
        value: the current value, as typed (zoom factor, fps, percent; a pair as a tuple).
        unit: shown after the range.
        choices: an enum's names.
        source: the ControlRange it was made from (for the conversions back).
    """

    control: str
    label: str
    kind: str
    minimum: float | None
    maximum: float | None
    value: Any
    unit: str = ""
    choices: tuple[str, ...] = ()
    source: Any = None

    def range_text(self) -> str:
        """"30 … 11,766,829 us", "one of Auto, Daylight, ...": the range the driver allows."""
        if self.kind == "bool":
            return "on or off"
        if self.kind == "enum":
            return "one of " + ", ".join(self.choices)
        unit = f" {self.unit}" if self.unit else ""
        return f"{show_number(self.minimum, self.kind)} … {show_number(self.maximum, self.kind)}{unit}"


def show_number(value: float | None, kind: str = "float") -> str:
    if value is None:
        return "?"
    if kind == "int" or (isinstance(value, int) and not isinstance(value, bool)) or abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _kind_of(rng: Any) -> str:
    """The driver's kind for the control, else what its limits and value show."""
    kind = getattr(rng, "kind", "") or ""
    if kind:
        return kind
    if getattr(rng, "choices", ()):
        return "enum"
    if isinstance(rng.value, bool) or isinstance(rng.default, bool) or isinstance(rng.max, bool):
        return "bool"
    if isinstance(rng.max, (tuple, list)) and len(rng.max) == 4:
        return "rects" if rng.name == "AfWindows" else "rect"
    sample = rng.value if rng.value is not None else rng.default
    if isinstance(sample, (tuple, list)) and len(sample) == 2 or rng.name == "ColourGains":
        return "pair"
    if all(isinstance(v, int) for v in (rng.min, rng.max)) and (sample is None or isinstance(sample, int)):
        return "int"
    return "float"


def _unzoomed(rng: Any) -> tuple[int, int, int, int]:
    """The view at zoom 1: the control's default when it is a rectangle, else its maximum."""
    default = rng.default if isinstance(rng.default, (tuple, list)) and len(rng.default) == 4 else rng.max
    return tuple(int(v) for v in default)  # type: ignore[return-value]


def crop_for_zoom(rng: Any, zoom: float) -> tuple[int, int, int, int]:
    """ScalerCrop for ``zoom``: the unzoomed view shrunk ``zoom`` times about its centre."""
    x, y, w, h = _unzoomed(rng)
    cw, ch = max(1, int(round(w / zoom))), max(1, int(round(h / zoom)))
    return x + (w - cw) // 2, y + (h - ch) // 2, cw, ch


def window_for_percent(crop: tuple[int, int, int, int], percent: float) -> tuple[tuple[int, int, int, int]]:
    """AfWindows: one window of ``percent`` of the view ``crop``'s width and height, centred."""
    x, y, w, h = crop
    cw, ch = max(1, int(w * percent / 100)), max(1, int(h * percent / 100))
    return ((x + (w - cw) // 2, y + (h - ch) // 2, cw, ch),)


def _field(rng: Any) -> FormField | None:
    kind = _kind_of(rng)
    label = LABELS.get(rng.name, rng.name)
    unit = rng.unit or ""
    if kind == "bool":
        return FormField(rng.name, label, "bool", None, None, bool(rng.value), source=rng)
    if kind == "enum":
        choices = tuple(getattr(rng, "choices", ()) or ())
        return FormField(rng.name, label, "enum", None, None, rng.value, choices=choices, source=rng) if choices else None
    if kind == "rect" and rng.name == "ScalerCrop":
        x, y, w, h = _unzoomed(rng)
        min_w, min_h = (rng.min[2], rng.min[3]) if isinstance(rng.min, (tuple, list)) else (64, 64)
        current = rng.value if isinstance(rng.value, (tuple, list)) else (x, y, w, h)
        zoom = round(w / max(1, current[2]), 3)
        return FormField(rng.name, label, "zoom", 1.0, round(min(w / min_w, h / min_h), 3), zoom, "x", source=rng)
    if kind == "rects" and rng.name == "AfWindows":
        return FormField(rng.name, label, "window", 1.0, 100.0, None, "%", source=rng)   # empty: unchanged
    lo, hi = _real(rng.min), _real(rng.max)
    if lo is None or hi is None:
        return None          # limits the form cannot show (a control it does not know how to edit)
    if kind == "pair" and rng.name == "FrameDurationLimits":
        value = rng.value if isinstance(rng.value, (tuple, list)) else rng.default
        fps = round(1e6 / value[0], 3) if isinstance(value, (tuple, list)) and value[0] else None
        return FormField(rng.name, label, "fps", round(1e6 / hi, 6), round(1e6 / lo, 3), fps, "fps", source=rng)
    if kind == "pair":
        value = tuple(rng.value) if isinstance(rng.value, (tuple, list)) else None
        return FormField(rng.name, label, "pair", lo, hi, value, unit, source=rng)
    if kind in ("int", "float"):
        return FormField(rng.name, label, kind, lo, hi, rng.value, unit, source=rng)
    return None


def form_fields(controls: Mapping[str, Any]) -> list[FormField]:
    """The form's rows for a camera's ``controls()``: writable controls it can edit, in ORDER first."""
    names = [n for n in ORDER if n in controls] + sorted(n for n in controls if n not in ORDER)
    fields = []
    for name in names:
        rng = controls[name]
        if not getattr(rng, "writable", True):
            continue
        made = _field(rng)
        if made is not None:
            fields.append(made)
    return fields


def parse_number(text: str, field: FormField) -> float | int:
    """A typed number checked against ``field``'s limits (the driver's).

    Raises:
        ValueError: not a number, or outside the limits (the message says which, with the range).
    """
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"{field.label}: {text.strip()[:20]!r} is not a number; allowed {field.range_text()}") from None
    if not math.isfinite(value) or not field.minimum <= value <= field.maximum:
        raise ValueError(f"{field.label}: {text.strip()[:20]} is outside {field.range_text()}")
    return int(round(value)) if field.kind == "int" else value


def control_value(field: FormField, typed: Any, zoom_crop: tuple[int, int, int, int] | None = None) -> Any:
    """The value to set on the camera for ``typed`` (zoom -> ScalerCrop, fps -> FrameDurationLimits,
    percent -> AfWindows within the view ``zoom_crop``, else ``typed`` itself)."""
    if field.kind == "zoom":
        return crop_for_zoom(field.source, float(typed))
    if field.kind == "fps":
        frame_us = int(round(1e6 / float(typed)))
        return (frame_us, frame_us)
    if field.kind == "window":
        return window_for_percent(zoom_crop or _unzoomed(field.source), float(typed))
    return typed


def read_form_data(camera: Any) -> tuple[dict[str, Any], tuple[int, int] | None, list[tuple[int, int]]]:
    """What the form needs from an open camera (its caller's worker thread: driver calls):
    ``controls()``, the output size and the sizes its sensor modes offer (none when it does not say)."""
    controls = dict(camera.controls())
    size = None
    try:
        size = tuple(camera.info().output_size)
    except Exception:  # a camera that cannot say its size keeps it: the row is left out
        pass
    sizes: list[tuple[int, int]] = []
    modes = getattr(camera, "sensor_modes", None)
    if callable(modes) and size is not None:
        try:
            sizes = [tuple(m["size"]) for m in modes()]
        except Exception:  # sensor modes are an extra; the current size is always offered
            sizes = []
    return controls, size, sizes
