"""Messages that thread workers post to the UI.

Workers never touch widgets: they build one of these and call ``post_message`` (thread-safe).
High-rate messages define ``can_replace`` so a slow terminal (a thin SSH link) drops stale
frames instead of queueing them: when a newer message for the same camera waits behind an
older one, Textual handles only the newer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from textual.message import Message

from camdeck.console.render import PreviewCells


@dataclass(frozen=True)
class CameraState:
    """Everything the camera table shows for one camera: a full snapshot, never a delta.

    ``state`` is one of: "closed", "opening", "ready", "streaming", "paused", "timeout",
    "not supported", "unavailable", "disconnected", "error".
    """

    name: str
    driver: str
    model: str
    state: str
    fps: float | None = None
    exposure_us: float | None = None
    gain: float | None = None
    temperature_c: float | None = None
    dropped: int | None = None
    detail: str = ""


class CameraStatus(Message):
    """A camera's state changed (opened, failed, new measured fps, new controls).

    ``probe`` marks the one-off report of the probe worker, which must not overwrite what
    a stream has already reported.
    """

    def __init__(self, status: CameraState, probe: bool = False, source: Any = None) -> None:
        super().__init__()
        self.status = status
        self.probe = probe
        self.source = source  # the worker that sent it; a cancelled worker's news is stale

    def can_replace(self, message: Message) -> bool:
        # A status is a full snapshot, so a newer one for the same camera supersedes this.
        return isinstance(message, CameraStatus) and message.status.name == self.status.name


@dataclass(frozen=True)
class FrameStats:
    """Focus and exposure aids computed in the worker from one frame."""

    sharpness: float
    histogram: np.ndarray          # counts of luma in equal bins over 0-255
    dark_fraction: float           # photosites at or below the dark threshold
    clipped_fraction: float        # photosites at or above the clipping threshold
    seq: int
    format: str
    size: tuple[int, int]          # (width, height) of the frame, px


class PreviewFrame(Message):
    """A preview ready to draw: cells already fitted to the preview widget's size."""

    def __init__(self, camera: str, cells: PreviewCells, stats: FrameStats, status: CameraState | None,
                 source: Any = None) -> None:
        super().__init__()
        self.camera = camera
        self.cells = cells
        self.stats = stats
        self.status = status  # carried along so frames stay consecutive in the queue and can merge
        self.source = source  # the stream worker; a cancelled worker's frames are stale

    def can_replace(self, message: Message) -> bool:
        # Never drop a frame that carries a status when the newer one does not.
        return (isinstance(message, PreviewFrame) and message.camera == self.camera
                and (self.status is None or message.status is not None))


@dataclass(frozen=True)
class ControlField:
    """One editable control: the driver's name for it, what to call it, its limits and value."""

    control: str          # "exposure_us" / "ExposureTime", "gain" / "AnalogueGain"
    label: str            # "exposure (us)", "gain"
    minimum: float
    maximum: float
    value: float
    integer: bool


class CameraControls(Message):
    """The editable controls of a camera, read by a worker after opening or changing them."""

    def __init__(self, camera: str, exposure: ControlField | None, gain: ControlField | None) -> None:
        super().__init__()
        self.camera = camera
        self.exposure = exposure
        self.gain = gain
