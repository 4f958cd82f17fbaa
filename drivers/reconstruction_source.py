"""A stereo rig as a source of live-reconstruction samples (``fastcore.live.LiveSample``).

Shared by ``camdeck reconstruct`` and the TUI's Reconstruction tab: open the rig's pair,
start it, read each camera's pose, choose the grid centre, learn the Bayer pattern from
the first pair, then yield one LiveSample per synchronised pair until closed.

fastcore knows nothing about cameras, so this glue lives on the driver side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from drivers.base import CameraSpec, RigSpec
from drivers.errors import DriverError
from drivers.registry import DriverContext
from drivers.stereo import StereoFrame, StereoPair, open_stereo_rig

DEFAULT_DISTANCE_M = 2.5     # grid centre along the left camera's axis when nothing says better


class RigPoseUnknown(DriverError):
    """The rig's cameras report no pose, so nothing can be carved (bad input: exit 2)."""

    bad_input = True


@dataclass(frozen=True)
class StereoGeometry:
    """K (2, 3, 3), R (2, 3, 3) world->camera, t (2, 3) metres, grid_center (3,) metres."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    grid_center: np.ndarray


def stereo_geometry(pair: StereoPair, rig: RigSpec) -> StereoGeometry:
    """The poses of ``pair`` and the grid centre of ``rig``.

    The centre is ``rig.options["grid_center_m"]`` if given, else the simulated scene's
    ``LAB_CENTER`` for simulated cameras, else 2.5 m along the left camera's optical axis.

    Raises:
        RigPoseUnknown: a camera reports no pose (hardware without a calibration).
    """
    truths = [getattr(cam, "truth", None) for cam in (pair.left, pair.right)]
    if any(t is None for t in truths):
        raise RigPoseUnknown(f"rig {rig.name!r}: the cameras report no calibrated pose",
                             "calibrate the pair (camdeck calibrate stereo); live reconstruction of "
                             "hardware rigs needs poses")
    K = np.array([t.K for t in truths], dtype=np.float64)
    R = np.array([t.R for t in truths], dtype=np.float64)
    tr = np.array([np.asarray(t.t, dtype=np.float64).reshape(3) for t in truths])
    center = rig.options.get("grid_center_m")
    if center is None and getattr(truths[0], "scene", None) is not None:
        from drivers.sim.scene import LAB_CENTER
        center = LAB_CENTER
    if center is None:
        center = -R[0].T @ tr[0] + DEFAULT_DISTANCE_M * R[0][2]
    return StereoGeometry(K, R, tr, np.asarray(center, dtype=np.float64).reshape(3))


def bayer_of(frame_format: str) -> str | None:
    """"RAW8_RGGB" -> "RGGB"; any other format (RGB, MONO8) -> None."""
    return frame_format.split("_", 1)[1] if frame_format.startswith("RAW8_") else None


class StereoSource:
    """A started stereo pair that yields ``LiveSample``s; iterate it, then ``close()`` it.

    Attributes:
        rig: the RigSpec; pair: the StereoPair; geometry: StereoGeometry;
        bayer: the RAW8 pattern of the frames ("RGGB", ...) or None.
    """

    def __init__(self, rig: RigSpec, pair: StereoPair, geometry: StereoGeometry, first: StereoFrame,
                 timeout_s: float) -> None:
        self.rig = rig
        self.pair = pair
        self.geometry = geometry
        self.bayer = bayer_of(first.left.format)
        self.timeout_s = timeout_s
        self._pending: StereoFrame | None = first

    def __iter__(self) -> Iterator[Any]:
        from fastcore.live import LiveSample

        g = self.geometry
        while True:
            pair_frame, self._pending = self._pending or self.pair.capture_pair(timeout_s=self.timeout_s), None
            yield LiveSample([_view(pair_frame.left), _view(pair_frame.right)], g.K, g.R, g.t,
                             pair_frame.left.timestamp)

    def close(self) -> None:
        """Stop and close both cameras (safe to call twice)."""
        try:
            self.pair.stop()
        except DriverError:
            pass  # an unplugged camera cannot be stopped; closing is what matters
        finally:
            self.pair.close()

    def __enter__(self) -> "StereoSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_stereo_source(rig: RigSpec, cameras: Mapping[str, CameraSpec], ctx: DriverContext | None = None,
                       *, timeout_s: float = 5.0, open_camera: Callable[[CameraSpec, DriverContext], Any] | None = None
                       ) -> StereoSource:
    """Open, start and read the first pair of ``rig``: a source for ``LiveReconstruction.run``.

    Args:
        rig: a two-camera stereo RigSpec; cameras: the configured CameraSpecs by name;
        ctx: driver context (seed, time factor, clock); timeout_s: per-frame capture timeout;
        open_camera: opens a spec (default: drivers.registry.open_camera).
    Raises:
        DriverError: the rig is not stereo, a camera cannot be opened or gives no frame
            (CameraNotFound, CaptureTimeout, ...), or its poses are unknown (RigPoseUnknown).
    """
    pair = open_stereo_rig(rig, cameras, ctx, open_camera=open_camera)
    try:
        pair.start()
        geometry = stereo_geometry(pair, rig)
        first = pair.capture_pair(timeout_s=timeout_s)
    except BaseException:
        try:
            pair.stop()
        except Exception:
            pass
        pair.close()
        raise
    return StereoSource(rig, pair, geometry, first, timeout_s)


def _view(frame) -> np.ndarray:
    """RGB frames become BGR (what fastcore.live converts to gray); RAW and gray pass as they are."""
    return frame.array[..., ::-1] if frame.format == "RGB" else frame.array
