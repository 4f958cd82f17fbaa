"""Camera presets: named sets of controls saved as JSON and applied to a camera live.

A preset lives in ``<data_dir>/presets/<name>.json``::

    {"name": "dusk", "created": "2026-11-21T10:00:00Z", "source_camera": "lightroom",
     "model": "IMX219", "controls": {"ExposureTime": 30000, "AnalogueGain": 4.0},
     "cameras": {"darkroom": {"LensPosition": 2.0}}}

``controls`` apply to every camera; ``cameras`` holds per-camera overrides. Applying a
preset sets only the controls the camera has (the others are reported, not forced), so
one preset serves a pair of different sensors.
"""
from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from camdeck.drivers.errors import DriverError
from camdeck.fileio.atomic import write_text_atomic

PRESET_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class PresetError(DriverError):
    """Root of the preset errors."""


class PresetNotFound(PresetError):
    """No preset of that name: bad input."""

    bad_input = True


class BadPreset(PresetError):
    """A preset name or file that cannot be used: bad input."""

    bad_input = True


@dataclass(frozen=True)
class Preset:
    """A named set of camera controls."""

    name: str
    controls: Mapping[str, Any]
    cameras: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source_camera: str = ""
    model: str = ""
    created: str = ""
    path: str = field(default="", compare=False)    # the file it was loaded from, for messages

    def describe(self) -> str:
        """``preset 'dusk' (data/presets/dusk.json)``: how messages name it."""
        return f"preset {self.name!r}" + (f" ({self.path})" if self.path else "")

    def controls_for(self, camera: str) -> dict[str, Any]:
        """The controls for camera ``camera``: the common ones, then its overrides."""
        out = dict(self.controls)
        out.update(self.cameras.get(camera, {}))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "created": self.created, "source_camera": self.source_camera,
                "model": self.model, "controls": _jsonable(self.controls),
                "cameras": {k: _jsonable(v) for k, v in self.cameras.items()}}


@dataclass(frozen=True)
class AppliedPreset:
    """What ``apply_preset`` did to one camera."""

    camera: str
    applied: Mapping[str, Any]
    skipped: tuple[str, ...]   # controls this camera does not have


def _jsonable(controls: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in controls.items():
        if hasattr(v, "tolist"):
            v = v.tolist()
        elif isinstance(v, tuple):
            v = list(v)
        out[str(k)] = v
    return out


def _from_json(value: Any) -> Any:
    # JSON has no tuples; Picamera2 wants (min, max) pairs for FrameDurationLimits, ScalerCrop.
    return tuple(value) if isinstance(value, list) else value


def check_preset_name(name: str) -> str:
    """Return ``name`` if it is a safe preset name, else BadPreset."""
    if not isinstance(name, str) or not PRESET_NAME_RE.fullmatch(name) or ".." in name:
        raise BadPreset(f"preset name {name!r} is not allowed",
                        "use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit")
    return name


class PresetStore:
    """The presets of one data folder (``<data_dir>/presets``)."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / "presets"

    def path(self, name: str) -> Path:
        return self.folder / f"{check_preset_name(name)}.json"

    def names(self) -> list[str]:
        """Saved preset names, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if PRESET_NAME_RE.fullmatch(p.stem))

    def save(self, name: str, controls: Mapping[str, Any], *, cameras: Mapping[str, Mapping[str, Any]] | None = None,
             source_camera: str = "", model: str = "") -> Preset:
        """Save (or replace) preset ``name`` atomically and return it."""
        created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        preset = Preset(name=check_preset_name(name), controls=dict(controls), cameras=dict(cameras or {}),
                        source_camera=source_camera, model=model, created=created)
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path(name), json.dumps(preset.to_json(), indent=2) + "\n")
        return preset

    def load(self, name: str) -> Preset:
        """Read preset ``name``.

        Raises:
            PresetNotFound: no such file (the message lists the saved ones).
            BadPreset: the file is not a preset.
        """
        path = self.path(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            known = ", ".join(self.names()) or "none saved yet"
            raise PresetNotFound(f"no preset {name!r} in {self.folder}",
                                 f"use one of: {known} (save one from the Recording tab)") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BadPreset(f"preset file {path} cannot be read ({err})", "fix or delete the file") from None
        controls = data.get("controls") if isinstance(data, dict) else None
        cameras = data.get("cameras", {}) if isinstance(data, dict) else None
        if not isinstance(controls, dict) or not isinstance(cameras, dict) or \
                not all(isinstance(v, dict) for v in cameras.values()):
            raise BadPreset(f"preset file {path} has no 'controls' table",
                            'write {"controls": {"ExposureTime": 20000, ...}} or save it again')
        return Preset(name=name, controls={k: _from_json(v) for k, v in controls.items()},
                      cameras={c: {k: _from_json(v) for k, v in t.items()} for c, t in cameras.items()},
                      source_camera=str(data.get("source_camera", "")), model=str(data.get("model", "")),
                      created=str(data.get("created", "")), path=str(path))

    def delete(self, name: str) -> None:
        """Remove preset ``name`` (PresetNotFound if absent)."""
        path = self.path(name)
        if not path.exists():
            raise PresetNotFound(f"no preset {name!r} in {self.folder}", "check the name")
        path.unlink()

    def save_from_camera(self, name: str, camera: Any, *, names: list[str] | None = None) -> Preset:
        """Save the current writable controls of a live ``camera`` as preset ``name``."""
        current = {c.name: c.value for c in camera.controls().values() if c.writable and c.value is not None
                   and (names is None or c.name in names)}
        model = ""
        try:
            model = camera.info().model
        except Exception:  # info() is a nicety here, never a reason to lose the preset
            pass
        return self.save(name, current, source_camera=camera.name, model=model)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def _range_text(ctrl: Any) -> str:
    unit = f" {ctrl.unit}" if getattr(ctrl, "unit", "") else ""
    return f"{ctrl.min:g} to {ctrl.max:g}{unit}"


def check_preset(camera: Any, preset: Preset) -> None:
    """Check ``preset``'s values for ``camera`` against the camera's own control ranges
    (``camera.controls()``), without setting anything. Controls the camera lacks are not
    checked (``apply_preset`` skips them).

    Numbers must lie within ``min`` to ``max`` (each element of a pair such as
    FrameDurationLimits, when the limits are numbers); read-only controls cannot be set.
    Limits that are not numbers (a rectangle's) are left to the driver.

    Raises:
        BadPreset: naming the preset (and its file), the camera, the control and the allowed range.
    """
    available = camera.controls()
    for name, value in preset.controls_for(camera.name).items():
        ctrl = available.get(name)
        if ctrl is None:
            continue

        def bad(problem: str, allowed: str) -> BadPreset:
            return BadPreset(f"{preset.describe()}: {name}={value!r} {problem} for camera {camera.name!r}",
                             f"use {allowed} (edit the preset file or save the preset again)")

        if not getattr(ctrl, "writable", True):
            raise bad("cannot be set (read-only)", f"a preset without {name}")
        lo, hi = _number(ctrl.min), _number(ctrl.max)
        if lo is None or hi is None:
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        numbers_ = [_number(v) for v in items]
        if not items or any(v is None for v in numbers_):
            raise bad("is not a number", _range_text(ctrl))
        if any(not lo <= v <= hi for v in numbers_):
            raise bad("is out of range", _range_text(ctrl))


def apply_preset(camera: Any, preset: Preset) -> AppliedPreset:
    """Set ``preset``'s controls on ``camera`` (running or not); controls it lacks are skipped.

    Raises:
        ControlError: from the driver, when a value is out of range.
    """
    wanted = preset.controls_for(camera.name)
    available = camera.controls()
    applied = {k: v for k, v in wanted.items() if k in available}
    skipped = tuple(sorted(k for k in wanted if k not in available))
    if applied:
        camera.set_controls(**applied)
    return AppliedPreset(camera=camera.name, applied=applied, skipped=skipped)
