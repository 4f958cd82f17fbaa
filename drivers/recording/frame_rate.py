"""Pinning every camera of a take to one frame rate (FrameDurationLimits), so all record alike.

Left alone, each camera runs at its sensor mode's fastest rate for the exposure it has: the
recorder pair ran at 47.57 (IMX219) and 50 fps (IMX708) in the same take, so their files did
not line up frame for frame. A camera with ``FrameDurationLimits`` (every Pi camera) is set to
``(1e6 / fps, 1e6 / fps)`` microseconds before the take; the notes say what could not be pinned.
"""
from __future__ import annotations

from typing import Any

from camdeck.drivers.errors import ControlError


def frame_duration_us(fps: float) -> int:
    """The frame duration (whole microseconds) of ``fps`` frames per second."""
    return int(round(1e6 / float(fps)))


def pin_frame_rate(camera: Any, fps: float) -> list[str]:
    """Set ``camera``'s FrameDurationLimits to one frame at ``fps``.

    Args:
        camera: an opened camera (not started, or between takes).
        fps: frames per second, > 0.

    Returns:
        notes for the data file: the camera has no FrameDurationLimits (it runs at its own
        rate), its exposure is longer than a frame (the sensor shortens it), or its sensor
        mode cannot run that fast (it runs at the rate it reports).

    Raises:
        ControlError: the camera refused the value (a rule its ranges do not show).
    """
    controls = camera.controls()
    limits = controls.get("FrameDurationLimits")
    if limits is None:
        return [f"{camera.name} has no FrameDurationLimits: it records at its own rate"]
    frame_us = frame_duration_us(fps)
    try:
        camera.set_controls(FrameDurationLimits=(frame_us, frame_us))
    except ControlError as err:
        raise ControlError(f"camera {camera.name!r} cannot run at {fps:g} fps: {err.message}",
                           err.fix or "choose another --fps") from None
    notes = []
    exposure = controls.get("ExposureTime")
    if exposure is not None and isinstance(exposure.value, (int, float)) and exposure.value > frame_us:
        notes.append(f"{camera.name}: ExposureTime {exposure.value} us is longer than a frame at {fps:g} fps "
                     f"({frame_us} us); the sensor shortens it")
    period_s = getattr(camera, "frame_period_s", None)
    if isinstance(period_s, (int, float)) and period_s > 0 and abs(1.0 / period_s - fps) > 0.01 * fps:
        notes.append(f"{camera.name} cannot run at {fps:g} fps in its sensor mode: it records at "
                     f"{1.0 / period_s:.2f} fps")
    return notes
