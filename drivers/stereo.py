"""Synchronised stereo pairs from two free-running cameras, paired by timestamp.

Neither the ASI662MC nor the simulator has a hardware trigger, so pairs are made in software:
a pair is two frames whose exposure start times differ by at most ``max_skew_ms``. When the
skew is larger, the older frame is dropped and the next frame of that camera is taken (each
such retry counts as a dropped pair).

``set_controls`` applies the values to both cameras and then discards every frame whose
exposure started before the change, so the next pair reflects the new controls.

Works with any Camera (real zwoasi cameras too); timestamps must share a clock (monotonic ns).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from camdeck.drivers import registry
from camdeck.drivers.base import Camera, CameraSpec, Frame, RigSpec, camera_clock
from camdeck.drivers.errors import CaptureTimeout, ControlError, DriverError
from camdeck.drivers.registry import DriverContext, find_spec

MAX_PAIRING_ATTEMPTS = 16


@dataclass(frozen=True)
class StereoFrame:
    """A synchronised pair. ``skew_ns`` = right.timestamp - left.timestamp."""

    left: Frame
    right: Frame
    skew_ns: int

    @property
    def skew_ms(self) -> float:
        return self.skew_ns / 1e6


@dataclass(frozen=True)
class StereoStats:
    """Pairing statistics since start: pairs delivered, pairs dropped for skew, frames flushed
    after control changes, and the skew (ms, absolute) of the last pair, the mean and the max."""

    pairs: int = 0
    dropped_pairs: int = 0
    flushed_frames: int = 0
    last_skew_ms: float = 0.0
    mean_skew_ms: float = 0.0
    max_skew_ms: float = 0.0


class StereoPair:
    """Two cameras captured as pairs.

    Args:
        left, right: opened cameras (started by ``start()`` if not already).
        max_skew_ms: largest accepted difference of exposure start times, ms (> 0).
    """

    def __init__(self, left: Camera, right: Camera, max_skew_ms: float = 5.0) -> None:
        if not max_skew_ms > 0:
            raise ValueError(f"max_skew_ms must be > 0, got {max_skew_ms}")
        self.left = left
        self.right = right
        self.max_skew_ms = float(max_skew_ms)
        self._lock = threading.RLock()
        self._flush_after_ns: dict[int, int] = {}   # id(camera) -> discard frames older than this
        self._reset_stats()

    def _reset_stats(self) -> None:
        self._pairs = 0
        self._dropped = 0
        self._flushed = 0
        self._last_ns = 0        # absolute skews kept in integer ns: a float running sum can
        self._sum_ns = 0         # round the mean above the max (3.8942050000000004 > 3.894205)
        self._max_ns = 0

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start both cameras, back to back so their frame clocks line up."""
        with self._lock:
            self._reset_stats()
            self.left.start()
            self.right.start()

    def stop(self) -> None:
        with self._lock:
            for cam in (self.left, self.right):
                cam.stop()

    def close(self) -> None:
        """Close both cameras (the second even when closing the first fails)."""
        with self._lock:
            try:
                self.left.close()
            finally:
                self.right.close()

    def __enter__(self) -> "StereoPair":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- capture
    @property
    def stats(self) -> StereoStats:
        with self._lock:
            mean_ns = self._sum_ns / self._pairs if self._pairs else 0.0
            return StereoStats(self._pairs, self._dropped, self._flushed, self._last_ns / 1e6,
                               mean_ns / 1e6, self._max_ns / 1e6)

    def capture_pair(self, timeout_s: float | None = None) -> StereoFrame:
        """The next pair within ``max_skew_ms``.

        Args:
            timeout_s: per-frame capture timeout (None: each camera's default).

        Raises:
            CaptureTimeout: a camera gave no frame in time, or no pair within the skew limit
                after MAX_PAIRING_ATTEMPTS retries.
        """
        limit_ns = int(self.max_skew_ms * 1e6)
        with self._lock:
            left = self._fresh(self.left, timeout_s)
            right = self._fresh(self.right, timeout_s)
            for attempt in range(MAX_PAIRING_ATTEMPTS + 1):   # the pair after the last retry is checked too
                skew = right.timestamp - left.timestamp
                if abs(skew) <= limit_ns:
                    self._record(abs(int(skew)))
                    return StereoFrame(left, right, int(skew))
                self._dropped += 1
                if attempt == MAX_PAIRING_ATTEMPTS:
                    break
                if skew > 0:
                    left = self._fresh(self.left, timeout_s)
                else:
                    right = self._fresh(self.right, timeout_s)
            raise CaptureTimeout(
                f"no stereo pair of {self.left.name!r} and {self.right.name!r} within {self.max_skew_ms:g} ms "
                f"after {MAX_PAIRING_ATTEMPTS} tries (last skew {(right.timestamp - left.timestamp) / 1e6:.3g} ms)",
                "give both cameras the same exposure and ROI so their frame rates match, or raise max_skew_ms",
            )

    def set_controls(self, **values: Any) -> None:
        """Apply the same controls to both cameras, then discard frames exposed before the change.

        Raises:
            ControlError: a camera rejects a value (the other camera may already have it:
                set it again once fixed).
        """
        with self._lock:
            for cam in (self.left, self.right):
                try:
                    cam.set_controls(**values)
                except ControlError as err:
                    raise ControlError(f"stereo pair: {err.message}", err.fix) from None
                self._flush_after_ns[id(cam)] = _camera_now_ns(cam)

    def _fresh(self, cam: Camera, timeout_s: float | None) -> Frame:
        """Next frame of ``cam`` whose exposure started after the last control change."""
        after = self._flush_after_ns.get(id(cam))
        while True:
            frame = cam.capture(timeout_s)
            if after is None or frame.timestamp >= after:
                self._flush_after_ns.pop(id(cam), None)
                return frame
            self._flushed += 1

    def _record(self, skew_ns: int) -> None:
        self._pairs += 1
        self._last_ns = skew_ns
        self._sum_ns += skew_ns
        self._max_ns = max(self._max_ns, skew_ns)


def _camera_now_ns(cam: Camera) -> int:
    """The camera's time base now: the clock it stamps frames with (drivers.base.camera_clock)."""
    return int(camera_clock(cam)())


def open_stereo_rig(rig: RigSpec, cameras: Mapping[str, CameraSpec], ctx: DriverContext | None = None, *,
                    open_camera: Callable[[CameraSpec, DriverContext], Camera] | None = None) -> StereoPair:
    """Open the two cameras of a stereo rig (any driver) as a StereoPair (not started).

    Args:
        open_camera: opens a spec (default: drivers.registry.open_camera); the TUI passes its
            camera pool's, which lends cameras it already holds.
    Raises:
        DriverError: the rig is not a two-camera stereo rig, or a camera cannot be opened
            (CameraNotFound, DriverUnavailable, ...).
    """
    if rig.type != "stereo" or len(rig.cameras) != 2:
        raise DriverError(f"rig {rig.name!r} is not a two-camera stereo rig (type {rig.type!r})",
                          "use a [rigs.NAME] table with type = \"stereo\" and two cameras")
    ctx = ctx or DriverContext()
    opener = open_camera or registry.open_camera
    left = opener(find_spec(cameras, rig.cameras[0]), ctx)
    try:
        right = opener(find_spec(cameras, rig.cameras[1]), ctx)
    except BaseException:
        left.close()
        raise
    return StereoPair(left, right, float(rig.options.get("max_skew_ms", 5.0)))
