"""The simulated PTZ cameras' persistent state: the mount's bump, the lighting and the presets,
one JSON file each under ``DATA_DIR/sim/`` (bumps.json, lighting.json, presets.json), keyed
by camera name.

It lives apart from :mod:`drivers.sim.ptz` because the files outlive the camera and have a
second writer: ``camdeck sim bump`` and ``camdeck sim light`` change them without opening a
camera, and a running :class:`drivers.sim.ptz.SimPtzCamera` picks the change up at its next
frame through :class:`StateFiles`.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from camdeck.calibration import rotations as rot
from camdeck.fileio.atomic import write_text_atomic
from camdeck.fileio.bounded import CONFIG_CAP, UnreadableFile, load_json
from camdeck.drivers.errors import DriverError
from camdeck.drivers.sim.ptz_world import Lighting


@dataclass(frozen=True)
class Bump:
    """A mount knocked off its calibrated alignment; degrees, composed as ``delta_R(pitch, yaw, roll)``."""

    pitch_deg: float = 0.0
    yaw_deg: float = 0.0
    roll_deg: float = 0.0

    def matrix(self) -> np.ndarray:
        return rot.delta_R(self.pitch_deg, self.yaw_deg, self.roll_deg)


def sim_state_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "sim"


def _read_state(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = load_json(path, cap=CONFIG_CAP)        # regular file, bounded size and depth
    except UnreadableFile as err:
        raise DriverError(f"{path}: cannot be read as JSON ({err.problem})",
                          f"delete {path} to reset the simulator's state") from None
    if not isinstance(data, dict):
        raise DriverError(f"{path}: expected a JSON object", f"delete {path} to reset the simulator's state")
    return data


def _write_state(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))


def read_bump(data_dir: Path, camera: str) -> Bump:
    """The persisted bump of ``camera`` (zero when none)."""
    entry = _read_state(sim_state_dir(data_dir) / "bumps.json").get(camera) or {}
    try:
        return Bump(float(entry.get("pitch_deg", 0.0)), float(entry.get("yaw_deg", 0.0)),
                    float(entry.get("roll_deg", 0.0)))
    except (TypeError, ValueError):
        raise DriverError(f"bumps.json: the entry of {camera!r} is not numbers",
                          f"run `camdeck sim bump {camera} --reset`") from None


def write_bump(data_dir: Path, camera: str, bump: Bump | None) -> Bump:
    """Persist ``bump`` for ``camera`` (None resets it); returns the bump now in force."""
    path = sim_state_dir(data_dir) / "bumps.json"
    data = _read_state(path)
    if bump is None or bump == Bump():
        data.pop(camera, None)
        bump = Bump()
    else:
        data[camera] = asdict(bump)
    _write_state(path, data)
    return bump


def read_lighting(data_dir: Path, camera: str) -> Lighting:
    """The persisted lighting of ``camera`` (``DATA_DIR/sim/lighting.json``; identity when none)."""
    entry = _read_state(sim_state_dir(data_dir) / "lighting.json").get(camera) or {}
    gains = entry.get("colour_gains", (1.0, 1.0, 1.0))
    return Lighting(gain=float(entry.get("gain", 1.0)), gamma=float(entry.get("gamma", 1.0)),
                    colour_gains=tuple(float(g) for g in gains), offset=float(entry.get("offset", 0.0)))


def write_lighting(data_dir: Path, camera: str, lighting: Lighting | None) -> Lighting:
    path = sim_state_dir(data_dir) / "lighting.json"
    data = _read_state(path)
    if lighting is None or lighting.is_identity:
        data.pop(camera, None)
        lighting = Lighting()
    else:
        data[camera] = {"gain": lighting.gain, "gamma": lighting.gamma,
                        "colour_gains": list(lighting.colour_gains), "offset": lighting.offset}
    _write_state(path, data)
    return lighting


def read_presets(data_dir: Path, camera: str) -> dict[str, tuple[float, ...]]:
    """The stored presets of ``camera`` by name (``DATA_DIR/sim/presets.json``; "home" is not stored)."""
    stored = _read_state(sim_state_dir(data_dir) / "presets.json").get(camera) or {}
    return {k: tuple(float(x) for x in v) for k, v in stored.items()}


def write_preset(data_dir: Path, camera: str, name: str, position: tuple[float, ...]) -> None:
    """Store ``position`` (pan, tilt, zoom) as the preset ``name`` of ``camera``."""
    path = sim_state_dir(data_dir) / "presets.json"
    data = _read_state(path)
    data.setdefault(camera, {})[name] = list(position)
    _write_state(path, data)


class StateFiles:
    """One camera's bump and lighting as the files say now: each file is read again only when
    its modification time changed, so a camera can ask at every frame.

    Args:
        data_dir: the DATA_DIR holding ``sim/``.
        camera: the camera's name (the files' key).
    """

    def __init__(self, data_dir: Path, camera: str) -> None:
        self.data_dir = data_dir
        self.camera = camera
        self._cache: dict[str, tuple[float, Any]] = {}

    def bump(self) -> Bump:
        """The current bump (bumps.json)."""
        return self._read("bumps.json", read_bump)

    def lighting(self) -> Lighting:
        """The current lighting (lighting.json)."""
        return self._read("lighting.json", read_lighting)

    def _read(self, name: str, reader: Callable[[Path, str], Any]) -> Any:
        path = sim_state_dir(self.data_dir) / name
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = -1
        cached = self._cache.get(name)
        if cached is None or cached[0] != mtime:
            cached = (mtime, reader(self.data_dir, self.camera))
            self._cache[name] = cached
        return cached[1]
