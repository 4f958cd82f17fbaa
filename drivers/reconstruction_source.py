"""A stereo rig as a source of live-reconstruction samples (``fastcore.live.LiveSample``).

Shared by ``camdeck reconstruct`` and the TUI's Reconstruction tab: open the rig's pair,
start it, read the first pair, learn the rig's geometry and the Bayer pattern, then yield
one LiveSample per synchronised pair until closed.

Geometry: simulated cameras know their true pose (world frame). Hardware cameras do not:
their poses come from the rig's ``calibration`` (a ``stereo.npz`` written by ``camdeck
calibrate stereo``), in the left camera's frame (left at the origin, right at R, T), with
the lens distortion it measured removed from every frame before carving.

fastcore knows nothing about cameras, so this glue lives on the driver side.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from camdeck.drivers.base import CameraSpec, RigSpec
from camdeck.drivers.errors import DriverError
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.stereo import StereoFrame, StereoPair, open_stereo_rig

DEFAULT_DISTANCE_M = 2.5     # grid centre along the left camera's axis when nothing says better


class RigPoseUnknown(DriverError):
    """The rig's cameras report no pose, so nothing can be carved (bad input: exit 2)."""

    bad_input = True


@dataclass(frozen=True)
class StereoGeometry:
    """K (2, 3, 3), R (2, 3, 3) world->camera, t (2, 3) metres, grid_center (3,) metres.

    frame: "world" (the simulator's truth) or "left camera" (a calibration file).
    undistort: None, or per camera the ``cv2.remap`` maps that remove its lens distortion.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    grid_center: np.ndarray
    frame: str = "world"
    undistort: tuple | None = None


def stereo_geometry(pair: StereoPair, rig: RigSpec, frame_size: tuple[int, int] | None = None) -> StereoGeometry:
    """The poses of ``pair`` and the grid centre of ``rig``.

    A rig with a ``calibration`` file carves with it, whatever its cameras are (simulated ones
    too: that is how a calibration made with ``camdeck calibrate`` is checked against the
    simulator's truth); a file that is missing or corrupt is an error naming the key. Without
    one, simulated cameras give their true poses and other cameras cannot carve. The centre
    is ``rig.options["grid_center_m"]`` if given, else the ``subject_center_m`` of the left
    camera's truth (the simulated scene's centre; in the left camera's frame when a calibration
    file sets the frame), else 2.5 m along the left camera's optical axis.

    Raises:
        RigPoseUnknown: no pose known (hardware without a calibration), or the calibration
            file cannot be used.
    """
    truths = [getattr(cam, "truth", None) for cam in (pair.left, pair.right)]
    if rig.options.get("calibration") or any(t is None for t in truths):
        geometry = calibrated_geometry(rig, frame_size)
        subject = getattr(truths[0], "subject_center_m", None)
        if rig.options.get("grid_center_m") is None and subject is not None:
            # What the left camera looks at, moved into its own frame (where the calibration lives).
            R0, t0 = np.asarray(truths[0].R, np.float64), np.asarray(truths[0].t, np.float64).reshape(3)
            center = R0 @ np.asarray(subject, np.float64).reshape(3) + t0
            geometry = StereoGeometry(geometry.K, geometry.R, geometry.t, center, geometry.frame, geometry.undistort)
        return geometry
    K = np.array([t.K for t in truths], dtype=np.float64)
    R = np.array([t.R for t in truths], dtype=np.float64)
    tr = np.array([np.asarray(t.t, dtype=np.float64).reshape(3) for t in truths])
    center = rig.options.get("grid_center_m")
    if center is None:               # a camera that knows its truth may know what it looks at
        center = getattr(truths[0], "subject_center_m", None)
    if center is None:
        center = -R[0].T @ tr[0] + DEFAULT_DISTANCE_M * R[0][2]
    return StereoGeometry(K, R, tr, np.asarray(center, dtype=np.float64).reshape(3))


def calibrated_geometry(rig: RigSpec, frame_size: tuple[int, int] | None = None) -> StereoGeometry:
    """The rig's geometry from its ``calibration`` file (``stereo.npz``), in the left camera's frame.

    Raises:
        RigPoseUnknown: no calibration configured, the file is missing or unreadable, or it
            was made at another frame size than ``frame_size`` (w, h).
    """
    from camdeck.calibration.errors import CalibrationError
    from camdeck.calibration.stereo import load_stereo

    key = f"rigs.{rig.name}.calibration"
    path = rig.options.get("calibration")
    if not path:
        raise RigPoseUnknown(f"rig {rig.name!r}: its cameras report no pose and {key} is not set",
                             f"calibrate the pair (camdeck calibrate stereo ... --out stereo.npz), then set "
                             f"{key} = \"stereo.npz\" in config.toml")
    try:
        cal = load_stereo(path)
    except CalibrationError as err:
        raise RigPoseUnknown(f"{key}: {err.message}", err.fix or "run camdeck calibrate stereo again") from None
    if frame_size is not None and tuple(frame_size) != tuple(cal.image_size):
        raise RigPoseUnknown(f"{key}: {path} was calibrated at {cal.image_size[0]}x{cal.image_size[1]} px, "
                             f"the cameras give {frame_size[0]}x{frame_size[1]}",
                             "calibrate again at this ROI and binning, or set the cameras back to the "
                             "calibrated size")
    K = np.array([cal.K1, cal.K2], dtype=np.float64)
    R = np.array([np.eye(3), cal.R], dtype=np.float64)
    t = np.array([np.zeros(3), np.asarray(cal.T, dtype=np.float64).reshape(3) / 1000.0])
    center = rig.options.get("grid_center_m")
    center = np.asarray(center if center is not None else (0.0, 0.0, DEFAULT_DISTANCE_M), dtype=np.float64)
    undistort = None
    if np.any(cal.dist1) or np.any(cal.dist2):
        import cv2

        undistort = tuple(cv2.initUndistortRectifyMap(Kv, dv, None, Kv, tuple(cal.image_size), cv2.CV_16SC2)
                          for Kv, dv in ((cal.K1, cal.dist1), (cal.K2, cal.dist2)))
    return StereoGeometry(K, R, t, center.reshape(3), frame="left camera", undistort=undistort)


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
        while True:
            # No local keeps the pair: while the generator waits at yield, the consumer alone
            # holds the frames, and can let them go before it asks for the next pair.
            yield self._next_sample()

    def _next_sample(self) -> Any:
        from camdeck.fastcore.live import LiveSample

        g = self.geometry
        pair_frame, self._pending = self._pending or self.pair.capture_pair(timeout_s=self.timeout_s), None
        return LiveSample([_view(pair_frame.left), _view(pair_frame.right)], g.K, g.R, g.t,
                          pair_frame.left.timestamp, g.undistort)

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
        first = pair.capture_pair(timeout_s=timeout_s)
        height, width = first.left.array.shape[:2]
        geometry = stereo_geometry(pair, rig, (width, height))
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
