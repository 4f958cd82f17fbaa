"""Camera presets: each camera's own controls, saved under a name and applied to the cameras live.

A preset lives in ``<data_dir>/presets/<name>.json`` (schema 2)::

    {"schema_version": 2, "name": "dusk", "created": "2026-11-21T10:00:00Z",
     "cameras": {"lightroom": {"model": "IMX219", "controls": {"ExposureTime": 30000, "ScalerCrop": [680, 692, 1920, 1080]}},
                 "darkroom": {"model": "IMX708", "controls": {"ExposureTime": 30000, "LensPosition": 2.0}}}}

Each camera gets the controls saved from it, and only those: one sensor's ScalerCrop (native
sensor pixels of *that* sensor) never reaches another. When the camera of that name is now a
different model, its sensor-bound controls (``SENSOR_BOUND``) are withheld and said so.

Schema 1 files (``{"controls": {...}, "cameras": {NAME: overrides}, "source_camera": ...}``,
where ``controls`` went to every camera) are migrated on read: the source camera keeps all of
its controls, every other camera named gets the common ones without the sensor-bound ones
plus its overrides, and the common ones without the sensor-bound ones become ``default``: the
controls for a camera the preset does not name (schema 2 keeps that table for them). The file
is rewritten in schema 2 the next time the preset is saved.

Names pass ``camdeck.fileio.names.check_safe_name`` (the one safe-name check); a bad name or
file is ``BadPreset`` (bad input: exit 2 with the fix).
"""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from camdeck.drivers.errors import DriverError
from camdeck.fileio.atomic import write_text_atomic
from camdeck.fileio.bounded import CONFIG_CAP, UnreadableFile, load_json
from camdeck.fileio.names import UnsafeName, check_safe_name, is_safe_name, shown

SCHEMA_VERSION = 2
# Controls in one sensor's native pixel coordinates: meaningless (or out of range) on another.
SENSOR_BOUND = frozenset({"ScalerCrop", "AfWindows"})
# Controls that change what a take is (its frame rate): applied between takes, never during one.
BETWEEN_TAKES = frozenset({"FrameDurationLimits"})
MAX_CONTROLS = 64            # per camera: a real camera has a few dozen


class PresetError(DriverError):
    """Root of the preset errors."""


class PresetNotFound(PresetError):
    """No preset of that name: bad input."""

    bad_input = True


class BadPreset(PresetError):
    """A preset name or file that cannot be used: bad input."""

    bad_input = True


@dataclass(frozen=True)
class CameraPreset:
    """One camera's part of a preset: the model it was saved from and its controls."""

    model: str
    controls: Mapping[str, Any]


@dataclass(frozen=True)
class Preset:
    """A named set of controls, per camera.

    Attributes:
        name: the preset's (safe) name.
        cameras: camera name -> its CameraPreset.
        default: controls for a camera the preset does not name (never sensor-bound ones).
        created: ISO 8601 UTC time it was saved.
        path: the file it was loaded from, for messages.
        migrated_from: the schema version of the file it was read from, when older than 2.
        migration_note: what the migration could not keep, in words ("" when nothing).
    """

    name: str
    cameras: Mapping[str, CameraPreset] = field(default_factory=dict)
    default: Mapping[str, Any] = field(default_factory=dict)
    created: str = ""
    path: str = field(default="", compare=False)
    migrated_from: int | None = field(default=None, compare=False)
    migration_note: str = field(default="", compare=False)

    def describe(self) -> str:
        """``preset 'dusk' (data/presets/dusk.json)``: how messages name it."""
        return f"preset {self.name!r}" + (f" ({self.path})" if self.path else "")

    def controls_for(self, camera: str, model: str = "") -> dict[str, Any]:
        """The controls for camera ``camera`` (of sensor ``model`` when known): its own, else ``default``."""
        return self._split(camera, model)[0]

    def withheld_for(self, camera: str, model: str = "") -> tuple[str, ...]:
        """Sensor-bound controls saved from another model under this camera's name (not applied)."""
        return self._split(camera, model)[1]

    def _split(self, camera: str, model: str) -> tuple[dict[str, Any], tuple[str, ...]]:
        entry = self.cameras.get(camera)
        if entry is None:
            return dict(self.default), ()
        if model and entry.model and model.upper() != entry.model.upper():
            kept = {k: v for k, v in entry.controls.items() if k not in SENSOR_BOUND}
            return kept, tuple(sorted(k for k in entry.controls if k in SENSOR_BOUND))
        return dict(entry.controls), ()

    def without(self, names: Iterable[str]) -> "Preset":
        """This preset less the controls ``names`` (during a take: less ``BETWEEN_TAKES``)."""
        drop = frozenset(names)
        return replace(self, cameras={c: CameraPreset(e.model, {k: v for k, v in e.controls.items() if k not in drop})
                                      for c, e in self.cameras.items()},
                       default={k: v for k, v in self.default.items() if k not in drop})

    def holds(self, names: Iterable[str]) -> list[str]:
        """Which of ``names`` any camera of this preset (or its default) sets, sorted."""
        wanted = frozenset(names)
        found = {k for e in self.cameras.values() for k in e.controls if k in wanted}
        return sorted(found | {k for k in self.default if k in wanted})

    def to_json(self) -> dict[str, Any]:
        """The schema 2 document (what ``PresetStore.save`` writes)."""
        out: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "name": self.name, "created": self.created,
                               "cameras": {c: {"model": e.model, "controls": _jsonable(e.controls)}
                                           for c, e in self.cameras.items()}}
        if self.default:
            out["default"] = _jsonable(self.default)
        return out


@dataclass(frozen=True)
class AppliedPreset:
    """What ``apply_preset`` did to one camera."""

    camera: str
    applied: Mapping[str, Any]
    skipped: tuple[str, ...]            # controls this camera does not have
    withheld: tuple[str, ...] = ()      # sensor-bound controls saved from another model
    empty: bool = False                 # the preset holds nothing for this camera

    def note(self, preset_name: str) -> str | None:
        """One line for the data file's Notes and the operator, or None when all applied."""
        parts = []
        if self.empty:
            parts.append(f"holds no controls for {self.camera}")
        if self.skipped:
            parts.append(f"{self.camera} has no {', '.join(self.skipped)}")
        if self.withheld:
            parts.append(f"{', '.join(self.withheld)} withheld from {self.camera} (saved from another sensor)")
        return f"preset {preset_name!r}: " + "; ".join(parts) if parts else None


def _jsonable(controls: Mapping[str, Any]) -> dict[str, Any]:
    def plain(v: Any) -> Any:
        if hasattr(v, "tolist"):
            return v.tolist()
        if isinstance(v, (tuple, list)):
            return [plain(x) for x in v]
        return v

    return {str(k): plain(v) for k, v in controls.items()}


def _from_json(value: Any) -> Any:
    # JSON has no tuples; Picamera2 wants (min, max) pairs for FrameDurationLimits, ScalerCrop.
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def _finite(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(float(v))


def _value_ok(value: Any, level: int = 0) -> bool:
    """A control value a preset may hold: a bool, a finite number, a short text (an enum's
    name), or a list of up to 16 of them (pairs, rectangles; AfWindows: a list of rectangles)."""
    if isinstance(value, bool) or _finite(value):
        return True
    if isinstance(value, str):
        return len(value) <= 64 and value.isprintable()
    if isinstance(value, list) and level < 2:
        return len(value) <= 16 and all(not isinstance(v, str) and _value_ok(v, level + 1) for v in value)
    return False


def check_preset_name(name: object) -> str:
    """Return ``name`` if it is a safe preset name, else BadPreset (the one safe-name check)."""
    try:
        return check_safe_name(name, "preset name", "dusk")
    except UnsafeName as err:
        raise BadPreset(str(err)) from None


def _controls(table: Any, where: str, path: Path) -> dict[str, Any]:
    """A checked controls table of a preset file (``where`` names it in the message)."""
    fix = "fix or delete the file, or save the preset again"
    if not isinstance(table, dict):
        raise BadPreset(f"preset file {path}: {where} is not a table of controls", fix)
    if len(table) > MAX_CONTROLS:
        raise BadPreset(f"preset file {path}: {where} holds {len(table)} controls, more than {MAX_CONTROLS}", fix)
    for key, value in table.items():
        if not is_safe_name(key):
            raise BadPreset(f"preset file {path}: {where} has {shown(key)}, which is not a control name", fix)
        if not _value_ok(value):
            raise BadPreset(f"preset file {path}: {where}.{key} = {_shown_value(value)} is not a control value "
                            "(a number, true/false, a name or a list of numbers)", fix)
    return {k: _from_json(v) for k, v in table.items()}


def _shown_value(value: Any) -> str:
    """A value as one error line may show it: repr (control characters escaped), at most 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any) -> str:
    """A model name or a time stamp from a file, as shown to a person: printable, short, else empty."""
    return value[:40] if isinstance(value, str) and value.isprintable() else ""


def parse_preset(data: Any, name: str, path: Path) -> Preset:
    """A Preset from a preset file's JSON ``data``; schema 1 is migrated (see the module doc).

    Raises:
        BadPreset: naming the file, the table at fault and the fix.
    """
    if not isinstance(data, dict):
        raise BadPreset(f"preset file {path} is not a JSON object", "fix or delete the file, or save the preset again")
    version = data.get("schema_version", 1)
    created = _text(data.get("created", ""))
    cameras_raw = data.get("cameras", {})
    if not isinstance(cameras_raw, dict) or not all(is_safe_name(c) for c in cameras_raw):
        raise BadPreset(f"preset file {path}: 'cameras' is not a table of camera names",
                        "fix or delete the file, or save the preset again")
    if version == SCHEMA_VERSION:
        cameras = {}
        for cam, entry in cameras_raw.items():
            if not isinstance(entry, dict):
                raise BadPreset(f"preset file {path}: cameras.{cam} is not a table",
                                'write {"model": "IMX219", "controls": {...}} or save the preset again')
            cameras[cam] = CameraPreset(_text(entry.get("model", "")),
                                        _controls(entry.get("controls", {}), f"cameras.{cam}.controls", path))
        default = _controls(data.get("default", {}), "default", path)
        return Preset(name, cameras, _without_sensor_bound(default), created, str(path))
    if version != 1:
        raise BadPreset(f"preset file {path} has schema_version {_shown_value(version)}, this camdeck reads 1 and 2",
                        "upgrade camdeck, or save the preset again")
    if "controls" not in data:
        raise BadPreset(f"preset file {path} has no 'controls' table",
                        'write {"controls": {"ExposureTime": 20000, ...}} or save it again')
    common = _controls(data["controls"], "controls", path)
    source = data.get("source_camera", "")
    model = _text(data.get("model", ""))
    shared = _without_sensor_bound(common)
    cameras = {}
    for cam, overrides in cameras_raw.items():
        cameras[cam] = CameraPreset("", {**shared, **_controls(overrides, f"cameras.{cam}", path)})
    note = ""
    if isinstance(source, str) and is_safe_name(source):
        own = cameras.get(source)
        cameras[source] = CameraPreset(model, {**common, **(own.controls if own else {})})
    elif len(shared) < len(common):
        note = (f"{', '.join(sorted(set(common) - set(shared)))} dropped: the old file does not say which "
                "camera it was saved from; save the preset again")
    return Preset(name, cameras, shared, created, str(path), migrated_from=1, migration_note=note)


def _without_sensor_bound(controls: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in controls.items() if k not in SENSOR_BOUND}


def camera_preset(camera: Any, names: Iterable[str] | None = None) -> CameraPreset:
    """The current writable controls of a live ``camera`` (only ``names`` when given), with its model."""
    wanted = None if names is None else set(names)
    current = {c.name: c.value for c in camera.controls().values()
               if getattr(c, "writable", True) and c.value is not None and (wanted is None or c.name in wanted)}
    model = ""
    try:
        model = camera.info().model
    except Exception:  # info() is a nicety here, never a reason to lose the preset
        pass
    return CameraPreset(str(model), current)


class PresetStore:
    """The presets of one data folder (``<data_dir>/presets``)."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / "presets"

    def path(self, name: str) -> Path:
        """The file of preset ``name`` (BadPreset for an unsafe name)."""
        return self.folder / f"{check_preset_name(name)}.json"

    def names(self) -> list[str]:
        """Saved preset names, sorted (files whose names are not safe names are not presets)."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.json") if is_safe_name(p.stem) and p.is_file())

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def save(self, name: str, cameras: Mapping[str, CameraPreset] | None = None, *,
             default: Mapping[str, Any] | None = None, overwrite: bool = True) -> Preset:
        """Save (or replace) preset ``name`` atomically and return it.

        Args:
            cameras: camera name -> its own controls (and model).
            default: controls for cameras the preset does not name (sensor-bound ones are dropped).
            overwrite: replace an existing preset of that name.

        Raises:
            BadPreset: an unsafe name, nothing to save, or the preset exists and ``overwrite`` is false.
            OSError: the file cannot be written (full disk, permissions).
        """
        path = self.path(name)
        if not cameras and not default:
            raise BadPreset(f"preset {name!r}: no camera controls to save", "name at least one camera")
        if not overwrite and path.exists():
            raise BadPreset(f"preset {name!r} exists ({path})", "pass --overwrite to replace it, or choose another name")
        created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        preset = Preset(name=name, cameras=dict(cameras or {}), default=_without_sensor_bound(default or {}),
                        created=created, path=str(path))
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(preset.to_json(), indent=2) + "\n")
        return preset

    def save_from_cameras(self, name: str, cameras: Iterable[Any], *, names: Iterable[str] | None = None,
                          overwrite: bool = True) -> Preset:
        """Save each live camera's own current controls (only ``names`` when given) as preset ``name``."""
        wanted = None if names is None else list(names)
        return self.save(name, {cam.name: camera_preset(cam, wanted) for cam in cameras}, overwrite=overwrite)

    def load(self, name: str) -> Preset:
        """Read preset ``name`` (a schema 1 file is migrated, see the module doc).

        Raises:
            PresetNotFound: no such file (the message lists the saved ones).
            BadPreset: an unsafe name, or the file is not a preset (a FIFO, too big, not JSON, bad values).
        """
        path = self.path(name)
        if not path.exists():
            known = ", ".join(self.names()) or "none saved yet"
            raise PresetNotFound(f"no preset {name!r} in {self.folder}",
                                 f"use one of: {known} (camdeck presets list; save one with camdeck presets save)")
        try:
            data = load_json(path, what="preset file", cap=CONFIG_CAP)
        except UnreadableFile as err:
            raise BadPreset(f"preset file {err.path}: {err.problem}", "fix or delete the file, or save the preset again") from None
        return parse_preset(data, name, path)

    def delete(self, name: str) -> Path:
        """Remove preset ``name``; returns the file removed (PresetNotFound if absent)."""
        path = self.path(name)
        if not path.is_file():
            known = ", ".join(self.names()) or "none saved yet"
            raise PresetNotFound(f"no preset {name!r} in {self.folder}", f"use one of: {known}")
        path.unlink()
        return path


def _number(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def _range_text(ctrl: Any) -> str:
    unit = f" {ctrl.unit}" if getattr(ctrl, "unit", "") else ""
    return f"{ctrl.min:g} to {ctrl.max:g}{unit}"


def _model(camera: Any) -> str:
    try:
        return str(camera.info().model)
    except Exception:  # a camera that cannot say its model: sensor-bound controls are its own by name
        return ""


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
    for name, value in preset.controls_for(camera.name, _model(camera)).items():
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
    """Set ``preset``'s controls for ``camera`` on it (running or not): its own controls (or the
    preset's ``default`` when it names another camera); controls it lacks are skipped, sensor-bound
    ones saved from another model are withheld.

    Raises:
        ControlError: from the driver, when a value is out of range.
    """
    model = _model(camera)
    wanted = preset.controls_for(camera.name, model)
    available = camera.controls()
    applied = {k: v for k, v in wanted.items() if k in available}
    skipped = tuple(sorted(k for k in wanted if k not in available))
    if applied:
        camera.set_controls(**applied)
    return AppliedPreset(camera=camera.name, applied=applied, skipped=skipped,
                         withheld=preset.withheld_for(camera.name, model), empty=not wanted)
