"""The Calibration tab's model: what it calibrates, the views it holds, the messages its
workers post, and the result panel's text (console/tui/tabs/calibration.py is the tab)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from textual.message import Message


class SolveStopped(Exception):
    """The solve was stopped (the console is quitting); raised from its progress callback."""


@dataclass(frozen=True)
class Target:
    """What the tab calibrates: one camera, or the two cameras of a stereo rig (left first)."""

    key: str                 # "rig:asi-stereo" or "camera:still"
    label: str
    cameras: tuple[str, ...]

    @property
    def stereo(self) -> bool:
        return len(self.cameras) == 2


@dataclass
class CapturedView:
    """One accepted view: the frames (one per camera) and the first camera's corners."""

    arrays: list[np.ndarray]
    formats: list[str]
    corners: np.ndarray


# ---------------------------------------------------------------- messages (workers -> tab)

class ViewCaptured(Message):
    """A capture finished: the frames, whether every camera saw the board, and the picture."""

    def __init__(self, target: str, arrays: list, formats: list, detections: list, cells: Any) -> None:
        super().__init__()
        self.target, self.arrays, self.formats, self.detections, self.cells = target, arrays, formats, detections, cells


class SolveProgress(Message):
    """The solver reports a stage: "detect", "solve" or "refine", with done/total."""

    def __init__(self, stage: str, done: int, total: int) -> None:
        super().__init__()
        self.stage, self.done, self.total = stage, done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SolveProgress)


class Solved(Message):
    """The solve finished with ``result`` (IntrinsicsResult or StereoCalibration)."""

    def __init__(self, target: str, result: Any) -> None:
        super().__init__()
        self.target, self.result = target, result


class SetSaved(Message):
    """The set (and the result, when there is one) was written to ``folder``."""

    def __init__(self, folder: Path, files: int) -> None:
        super().__init__()
        self.folder, self.files = folder, files


def targets_of(settings) -> list[Target]:
    """Stereo rigs first (a pair), then every camera that is not a PTZ camera."""
    out = [Target(f"rig:{name}", f"{name} (pair)", tuple(rig.cameras))
           for name, rig in settings.rigs.items() if rig.type == "stereo" and len(rig.cameras) == 2]
    out += [Target(f"camera:{name}", name, (name,)) for name, spec in settings.cameras.items() if spec.kind != "ptz"]
    return out


class _OnLoan:
    """A camera across loans: every call goes to the LentCamera of the current capture."""

    def __init__(self, lent: Any) -> None:
        self.lent = lent

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") or attr == "lent":
            raise AttributeError(attr)
        return getattr(self.lent, attr)


def result_text(result: Any) -> str:
    """A few lines for the result panel: RMS, K and (for a pair) the baseline."""
    if hasattr(result, "baseline_mm"):
        K = result.K1
        lines = [f"[b]stereo[/b] rms {result.rms:.3f} px, {len(result.used)} pairs",
                 f"baseline {result.baseline_mm:.2f} mm"]
    else:
        K = result.K
        lines = [f"[b]intrinsics[/b] rms {result.rms:.3f} px, {len(result.views)} views"]
    lines.append(f"fx {K[0, 0]:.1f} fy {K[1, 1]:.1f}")
    lines.append(f"cx {K[0, 2]:.1f} cy {K[1, 2]:.1f}")
    rejected = getattr(result, "rejected", [])
    if rejected:
        lines.append(f"{len(rejected)} rejected")
    return "\n".join(lines)
