"""Control definitions and value checking for the simulated cameras.

Every rejected value raises a new ``ControlError`` naming the camera, the control, the
allowed range and the fix.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping

from camdeck.drivers.base import ControlRange
from camdeck.drivers.errors import ControlError

KINDS = ("int", "float", "bool", "pair", "rect")


@dataclass(frozen=True)
class ControlDef:
    """One control: its kind ("int", "float", "bool", "pair" of floats, "rect" of 4 ints),
    limits (per element for pair/rect) and default."""

    name: str
    kind: str
    min: Any
    max: Any
    default: Any
    unit: str = ""
    description: str = ""
    writable: bool = True

    def range_text(self) -> str:
        if self.kind == "bool":
            return "true or false"
        if self.kind == "pair":
            return f"two numbers, each from {self.min:g} to {self.max:g}"
        if self.kind == "rect":
            return "(x, y, width, height) in sensor pixels"
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.min:g} to {self.max:g}{unit}"

    def to_range(self, value: Any) -> ControlRange:
        return ControlRange(name=self.name, min=self.min, max=self.max, default=self.default, value=value,
                            unit=self.unit, writable=self.writable, description=self.description)


def _real(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def coerce(camera: str, ctrl: ControlDef, value: Any) -> Any:
    """The value converted to the control's type; ControlError when it does not fit."""

    def bad(problem: str) -> ControlError:
        return ControlError(f"camera {camera!r}: control {ctrl.name}={value!r} {problem}",
                            f"use {ctrl.range_text()}" + (f" ({ctrl.description})" if ctrl.description else ""))

    if not ctrl.writable:
        raise ControlError(f"camera {camera!r}: control {ctrl.name} is read-only",
                           "read it from controls() or from frame meta instead of setting it")
    if ctrl.kind == "bool":
        if isinstance(value, bool) or (isinstance(value, numbers.Integral) and int(value) in (0, 1)):
            return bool(value)
        raise bad("is not true or false")
    if ctrl.kind in ("int", "float"):
        v = _real(value)
        if v is None:
            raise bad("is not a number")
        if ctrl.kind == "int":
            v = int(round(v))
        if not ctrl.min <= v <= ctrl.max:
            raise bad("is out of range")
        return v
    if ctrl.kind == "pair":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise bad("is not a pair of numbers")
        vals = tuple(_real(x) for x in value)
        if any(x is None or not ctrl.min <= x <= ctrl.max for x in vals):
            raise bad("is out of range")
        return vals
    if ctrl.kind == "rect":
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise bad("is not (x, y, width, height)")
        vals = tuple(_real(x) for x in value)
        if any(x is None for x in vals):
            raise bad("is not four numbers")
        return tuple(int(round(x)) for x in vals)
    raise AssertionError(f"unknown control kind {ctrl.kind}")


def check_names(camera: str, table: Mapping[str, ControlDef], values: Mapping[str, Any]) -> None:
    """ControlError for the first name that is not a control of the camera."""
    for name in values:
        if name not in table:
            known = ", ".join(sorted(n for n, c in table.items() if c.writable))
            raise ControlError(f"camera {camera!r} has no control {name!r}",
                               f"use one of: {known}")
