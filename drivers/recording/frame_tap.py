"""A recording camera that keeps the last frame the recorder captured, for a preview during a take.

A preview must never cost the recording a frame: a second ``capture()`` on a camera that is
recording takes frames the encoder would have had (a seq gap, counted as dropped). ``FrameTap``
wraps the camera a ``RecordingSession`` opens and remembers a reference to each frame its
capture thread receives; a preview reads ``latest()`` (no copy, no capture, no lock on the
capture path) at its own low rate. Everything else passes through to the camera.

Picamera2's hardware encoder never hands frames to Python, so on a Pi recording with it the
tap stays empty (``latest()`` gives ``(None, 0)``) and the preview says so.
"""
from __future__ import annotations

from typing import Any, Callable


class FrameTap:
    """``camera`` as a recording sees it, plus ``latest()``.

    Args:
        camera: any Camera (a pooled LentCamera in the TUI).
    """

    def __init__(self, camera: Any) -> None:
        self._camera = camera
        self._latest: tuple[Any, int] = (None, 0)
        self._count = 0

    def capture(self, timeout_s: float | None = None) -> Any:
        frame = self._camera.capture(timeout_s)
        # One tuple, assigned at once: a reader on another thread sees the frame and its count together.
        self._latest = (frame, self._count + 1)
        self._count += 1
        return frame

    def latest(self) -> tuple[Any, int]:
        """(the newest Frame the recorder captured, how many it has captured); (None, 0) before the first."""
        return self._latest

    @property
    def captured(self) -> int:
        """Frames the recorder has captured through this tap."""
        return self._count

    def __getattr__(self, name: str) -> Any:
        # Only for what this class does not define: name, info, controls, start, stop, dropped_frames, ...
        return getattr(self.__dict__["_camera"], name)


def tapping(open_camera: Callable[[Any, Any], Any], taps: dict[str, FrameTap]) -> Callable[[Any, Any], FrameTap]:
    """An ``open_camera(spec, ctx)`` that wraps each camera ``open_camera`` gives in a FrameTap,
    kept in ``taps`` by camera name (for the preview to read)."""

    def open_tapped(spec: Any, ctx: Any = None) -> FrameTap:
        tap = FrameTap(open_camera(spec, ctx))
        taps[spec.name] = tap
        return tap

    return open_tapped
