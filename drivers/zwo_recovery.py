"""The recovery ladder for ASI video reads: flush, restart video, reopen, then a clear error.

A USB3 camera that stops delivering frames usually recovers at one of three depths:
stale frames in the SDK's small buffer (flush), a stuck video stream (stop and start
video), or a wedged device handle (close, find the camera by serial again, reopen and
restore its settings). The ladder tries each once, shallowest first, and reports which
step brought frames back. A camera the SDK reports as removed goes straight to reopen.
"""
from __future__ import annotations

from typing import Callable, Protocol

from camdeck.drivers.errors import CameraDisconnected, CaptureTimeout
from camdeck.drivers.zwo_sdk import CAMERA_CLOSED, CAMERA_REMOVED, INVALID_ID, TIMEOUT, AsiCallError

STEPS = ("flush", "restart_video", "reopen")
GONE = (CAMERA_REMOVED, CAMERA_CLOSED, INVALID_ID)


class VideoOps(Protocol):
    """What the ladder needs from a camera."""

    def read(self, timeout_ms: int) -> bytearray: ...

    def flush(self) -> None: ...

    def restart_video(self) -> None: ...

    def reopen(self) -> None: ...


def read_with_recovery(ops: VideoOps, timeout_ms: int, *, camera: str,
                       on_step: Callable[[str], None] | None = None) -> tuple[bytearray, str | None]:
    """Read one frame, climbing the ladder on timeouts.

    Args:
        ops: the camera's read and recovery operations.
        timeout_ms: the SDK wait for each read (2 x exposure + 500 ms by default).
        camera: the camera's name, for messages.
        on_step: called with each step's name before it is tried.

    Returns:
        (frame bytes, the step that recovered or None when the first read worked).

    Raises:
        CaptureTimeout: every step was tried and no frame came.
        CameraDisconnected: the camera was removed and is not there to reopen.
    """
    try:
        return ops.read(timeout_ms), None
    except AsiCallError as err:
        if err.code not in (TIMEOUT, *GONE):
            raise
        steps = ("reopen",) if err.code in GONE else STEPS
    for step in steps:
        if on_step:
            on_step(step)
        getattr(ops, step)()          # reopen raises CameraDisconnected when the camera is gone
        try:
            return ops.read(timeout_ms), step
        except AsiCallError as err:
            if err.code in GONE:
                if step == "reopen":
                    raise disconnected_error(camera) from None
                continue
            if err.code != TIMEOUT:
                raise
    raise CaptureTimeout(
        f"camera {camera}: no frame within {timeout_ms} ms, even after flushing, restarting video and reopening",
        "check the USB3 cable and port (a USB2 link or a hub starves the camera), lower controls.bandwidth "
        "or the ROI, and run `camdeck doctor`")


def disconnected_error(camera: str) -> CameraDisconnected:
    """A new CameraDisconnected for ``camera``, with the fix."""
    return CameraDisconnected(f"camera {camera} was unplugged during capture",
                              "reconnect it (USB3 port, powered hub) and start the capture again; "
                              "`camdeck doctor` lists the cameras the SDK sees")
