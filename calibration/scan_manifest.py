"""Scan manifests (docs/design.md, "scans"): ``manifest.json`` read, bounded and checked.

The file is read with ``fileio.bounded.load_json`` (a regular file of at most 16 MiB, nesting
at most 64 deep, no NaN/Infinity); each frame's pan, tilt and zoom must be finite and in range,
its K a pinhole matrix, its dist an OpenCV model, and its image and features paths must stay
inside the scan folder. ``calibrate align``, ``offsets`` and the fleet read scans through here.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camdeck.calibration.errors import CalibrationFileError, CalibrationInputError
from camdeck.fileio.bounded import is_under

@dataclass(frozen=True)
class ScanFrame:
    """One frame of a scan manifest.

    Attributes:
        index: the frame's index in the manifest.
        image: absolute path of the image file.
        pan_deg, tilt_deg: PTZ position, degrees (docs/design.md conventions).
        zoom: 0..1.
        K: (3, 3) float64 intrinsics, pixels.
        timestamp: ISO 8601 string, or "".
        features: absolute path of the frame's features .npz, or None.
        dist: (1, N) float64 OpenCV distortion coefficients of a calibrated lens, or None (pinhole).
    """

    index: int
    image: Path
    pan_deg: float
    tilt_deg: float
    zoom: float
    K: np.ndarray
    timestamp: str = ""
    features: Path | None = None
    dist: np.ndarray | None = None


@dataclass(frozen=True)
class ScanManifest:
    """A scan folder's manifest.json (docs/design.md, "scans"), validated; paths made absolute."""

    folder: Path
    deployment: str
    camera: str
    kind: str
    image_size: tuple[int, int]
    frames: tuple[ScanFrame, ...]
    raw: dict = field(default_factory=dict, repr=False)

    def frame(self, index: int) -> ScanFrame:
        for frame in self.frames:
            if frame.index == index:
                return frame
        raise CalibrationInputError(f"{self.folder}: no frame with index {index}",
                                    f"use an index of the manifest (0..{len(self.frames) - 1})")


def read_scan_manifest(folder: str | Path) -> ScanManifest:
    """Read and check ``folder/manifest.json``.

    The file is read with ``fileio.bounded.load_json`` (a regular file of at most 16 MiB,
    nesting at most 64 deep, no NaN/Infinity); every frame's pan, tilt and zoom must be finite
    and in range, and its image and features paths must stay inside the folder.

    Raises:
        CalibrationFileError: the folder or manifest is missing, not a regular file, not JSON,
            too large or too deep, or a key is missing or malformed (the message names the file
            and the key).
    """
    from camdeck.fileio.bounded import MANIFEST_CAP, UnreadableFile, load_json

    folder = Path(folder)
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise CalibrationFileError(f"scan {folder}: folder not found", "pass a scan folder (images/, manifest.json)")
    if not os.path.lexists(path):
        raise CalibrationFileError(f"scan {folder}: manifest.json is missing",
                                   "collect the scan again (camdeck monitor collect-references)")
    try:
        data = load_json(path, cap=MANIFEST_CAP)
    except UnreadableFile as err:
        raise CalibrationFileError(f"{path}: {err.problem}", "collect the scan again") from None
    if not isinstance(data, dict):
        raise CalibrationFileError(f"{path}: not a JSON object", "collect the scan again")
    try:
        size = _image_size(data.get("image_size"))
        if not isinstance(data["frames"], list):
            raise ValueError("frames is not a list")
        frames = tuple(_read_frame(folder, i, f) for i, f in enumerate(data["frames"]))
    except KeyError as err:
        raise CalibrationFileError(f"{path}: key {err.args[0]!r} is missing", "collect the scan again") from None
    except (TypeError, ValueError, OverflowError) as err:
        raise CalibrationFileError(f"{path}: malformed ({' '.join(str(err).split())[:200]})",
                                   "collect the scan again") from None
    if not frames:
        raise CalibrationFileError(f"{path}: holds no frames", "collect the scan again")
    return ScanManifest(folder=folder, deployment=str(data.get("deployment", "")), camera=str(data.get("camera", "")),
                        kind=str(data.get("kind", "")), image_size=size, frames=frames, raw=data)


#: Ranges of a frame's position (docs/design.md conventions): any pan a turret reports, tilt
#: within a half turn either way, zoom normalised to 0..1.
FRAME_RANGES = {"pan_deg": (-360.0, 360.0), "tilt_deg": (-180.0, 180.0), "zoom": (0.0, 1.0)}
MAX_SIDE_PX = 65535


def _image_size(value: Any) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIDE_PX for v in value)):
        raise ValueError(f"image_size is not [width, height] in pixels (1..{MAX_SIDE_PX})")
    return int(value[0]), int(value[1])


def _number(entry: dict, key: str, position: int, default: float | None = None) -> float:
    """A frame's finite number within FRAME_RANGES (KeyError when absent and no default)."""
    value = entry[key] if default is None else entry.get(key, default)
    lo, hi = FRAME_RANGES[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"frames[{position}].{key} is not a finite number")
    if not lo <= value <= hi:
        raise ValueError(f"frames[{position}].{key} {value:g} is outside [{lo:g}, {hi:g}]")
    return float(value)


def _inside(folder: Path, value: Any, what: str) -> Path:
    """``folder / value`` for a relative path that stays inside ``folder`` (design: paths are relative)."""
    if not isinstance(value, str) or not value or "\0" in value:
        raise ValueError(f"{what} is not a relative path")
    path = folder / value
    if Path(value).is_absolute() or not is_under(path, folder):
        raise ValueError(f"{what} {value!r} points outside the scan folder")
    return path


def _read_frame(folder: Path, position: int, entry: Any) -> ScanFrame:
    if not isinstance(entry, dict):
        raise ValueError(f"frames[{position}] is not an object")
    K = np.asarray(entry["K"], dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"frames[{position}].K is not a 3x3 intrinsic matrix")
    index = entry.get("index", position)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 10 ** 9:
        raise ValueError(f"frames[{position}].index is not a whole number from 0")
    features = entry.get("features")
    dist = entry.get("dist")
    if dist is not None:
        dist = np.asarray(dist, dtype=np.float64).reshape(1, -1)
        if dist.shape[1] not in (4, 5, 8, 12, 14) or not np.all(np.isfinite(dist)):
            raise ValueError(f"frames[{position}].dist is not 4, 5, 8, 12 or 14 OpenCV distortion coefficients")
    return ScanFrame(index=index, image=_inside(folder, entry["image"], f"frames[{position}].image"),
                     pan_deg=_number(entry, "pan_deg", position), tilt_deg=_number(entry, "tilt_deg", position),
                     zoom=_number(entry, "zoom", position, 0.0), K=K, timestamp=str(entry.get("timestamp", "")),
                     features=_inside(folder, features, f"frames[{position}].features") if features else None,
                     dist=dist)
