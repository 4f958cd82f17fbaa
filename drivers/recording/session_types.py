"""What a recording session takes and reports: ``RecordingRequest``, ``RecordingEvent``,
``SessionResult``, and the clock that times it (``session_clock``).

Moved verbatim from drivers/recording/session.py (which re-exports them), so the session
module holds the session's steps only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from camdeck.drivers.base import CameraSpec, Clock, camera_clock
from camdeck.drivers.recording.camera_track import CameraStats
from camdeck.drivers.recording.presets import Preset
from camdeck.drivers.recording.take_end import outcome_text


@dataclass(frozen=True)
class RecordingRequest:
    """What to record.

    Attributes:
        session: the session name (safe characters only).
        folder: the output folder (created if missing).
        cameras: the camera specs, in file order (camera 1, camera 2, ...).
        duration_s: timer mode length in seconds, or None for manual mode.
        countdown_s: seconds of countdown before the cameras start (0: none).
        preset: controls applied to every camera before the start.
        overwrite: replace an existing session of the same name.
        flush_interval_s: files are fsync'd at least this often.
        min_free_bytes: recording stops (with a warning) when free space falls below.
        crf, encoder_preset, bitrate: libx264 settings (bitrate also for the Pi encoder).
        fps: every camera is pinned to this rate (FrameDurationLimits); None: each its own.
        max_drop_pct: a camera dropping more than this share of its frames makes the take
            "complete with drops" (not ok); None: no limit.
        format: "h264" (raw Annex B) or "mp4" (fragmented, pts = timestamps); drivers/recording/take.py.
        segment_s: split each camera's file at a keyframe every this many seconds (None: one file).
        pretrigger_s: arm first and keep this many seconds before the trigger (0: start at once).
    """

    session: str
    folder: Path
    cameras: Sequence[CameraSpec]
    duration_s: float | None = None
    countdown_s: float = 0.0
    preset: Preset | None = None
    overwrite: bool = False
    flush_interval_s: float = 1.0
    min_free_bytes: int = 200 * 10**6
    crf: int = 23
    encoder_preset: str = "ultrafast"
    bitrate: int | None = None
    fps: float | None = 30.0
    max_drop_pct: float | None = 1.0
    format: str = "h264"
    segment_s: float | None = None
    pretrigger_s: float = 0.0

    @property
    def mode(self) -> str:
        return "manual" if self.duration_s is None else "timer"


@dataclass(frozen=True)
class RecordingEvent:
    """What a session reports: ``kind`` is one of "opened", "countdown", "armed", "started",
    "progress", "camera_fault", "disk_low", "stopping", "finished", "cancelled"."""

    kind: str
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    countdown_s: float | None = None
    cameras: tuple[CameraStats, ...] = ()
    message: str = ""


@dataclass
class SessionResult:
    """The outcome of a session. ``ok`` is false after a camera fault, a disk-low or disk-full
    stop, an error, or too many dropped frames."""

    session: str
    folder: Path
    outcome: str     # complete, stopped, complete_with_drops, disk_low, disk_full, camera_fault, error, cancelled
    elapsed_s: float
    files: list[Path] = field(default_factory=list)
    data_file: Path | None = None
    cameras: tuple[CameraStats, ...] = ()
    warnings: list[str] = field(default_factory=list)
    result: str = ""              # the data file's Result line
    changes: list[str] = field(default_factory=list)     # the events-file lines of the take

    @property
    def ok(self) -> bool:
        return self.outcome in ("complete", "stopped")

    @property
    def result_text(self) -> str:
        """The data file's Result line for this outcome (``complete (stopped by the operator)``)."""
        return self.result or outcome_text(self.outcome, False)


def session_clock(ctx: Any, cameras: Sequence[Any] = ()) -> Clock:
    """The clock that times a session: the context's when one is injected, else the clock the
    first camera stamps frames with (a camera on another clock has its timestamps rebased
    to its first frame, see CameraTrack), else the OS's monotonic clock.

    Args:
        ctx: the DriverContext (its ``clock``, or None).
        cameras: the opened cameras, in file order.
    """
    if ctx.clock is not None:
        return ctx.clock
    if cameras:
        return camera_clock(cameras[0])
    return time.monotonic_ns
