"""The lens of a PTZ camera as scans record it: K (and distortion) at each zoom.

Without a calibration, K is the camera's nominal one (its ``hfov_deg`` zoom model, square
pixels, centred principal point; the driver's ``K`` in the frame's meta, else
``camera.intrinsics(zoom)``) and frames carry no distortion. With ``calibration =
"calibration.npz"`` on the camera (the origin workflow's step 1: ``camdeck calibrate intrinsics``
at ``calibration_zoom``), every frame records the calibration's K, its focal lengths scaled to
the frame's zoom by the ``hfov_deg`` model (calibration.rotations.K_at_zoom_calibrated), and
the calibration's ``dist``; calibration.offsets then undistorts every ray with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from camdeck.monitoring.errors import MonitoringInputError, ScanError


class LensFileError(ScanError, MonitoringInputError):
    """A camera's calibration file that cannot be used (bad input)."""

    bad_input = True


@dataclass(frozen=True)
class CalibratedLens:
    """A PTZ camera's lens calibration.

    Attributes:
        K: (3, 3) px at ``zoom``, for frames of ``image_size``.
        dist: (1, N) OpenCV distortion coefficients.
        zoom: the zoom the calibration was made at.
        image_size: (w, h) px of the calibration images.
        hfov_deg: the camera's zoom model (at zoom 0, at zoom 1).
        source: the file it came from.
    """

    K: np.ndarray
    dist: np.ndarray
    zoom: float
    image_size: tuple[int, int]
    hfov_deg: tuple[float, float]
    source: str

    def at(self, zoom: float, size: tuple[int, int]) -> tuple[list[list[float]], list[float]]:
        """(K, dist) as manifest lists for a frame at ``zoom`` of ``size`` (w, h) px.

        Raises:
            LensFileError: the frames' aspect differs from the calibration's (another camera's file).
        """
        from camdeck.calibration.rotations import K_at_zoom_calibrated

        try:
            K = K_at_zoom_calibrated(min(max(float(zoom), 0.0), 1.0), self.K, self.zoom, self.hfov_deg,
                                     self.image_size, size)
        except ValueError as err:
            raise LensFileError(f"{self.source}: {err}",
                                "calibrate this camera at its streaming resolution, or correct `calibration`") from None
        return [[float(v) for v in row] for row in K], [float(v) for v in self.dist.ravel()]


def calibrated_lens(spec: Any) -> CalibratedLens | None:
    """The lens calibration a PTZ camera's config names (``calibration``, ``calibration_zoom``), or None.

    Raises:
        LensFileError: the file is missing or corrupt (names the camera's key and the file).
    """
    path = spec.options.get("calibration")
    if not path:
        return None
    from camdeck.calibration.errors import CalibrationError
    from camdeck.calibration.intrinsics import load_calibration

    try:
        cal = load_calibration(path)
    except CalibrationError as err:
        raise LensFileError(f"cameras.{spec.name}.calibration: {err.message}",
                            "give the calibration.npz of this camera, or remove the key") from None
    if cal.dist.shape[1] not in (4, 5, 8, 12, 14) or cal.K[0, 0] <= 0 or cal.K[1, 1] <= 0:
        raise LensFileError(f"cameras.{spec.name}.calibration: {path} holds no usable K and dist",
                            "run camdeck calibrate intrinsics again")
    hfov = tuple(float(v) for v in spec.options.get("hfov_deg", (60.0, 6.0)))
    return CalibratedLens(K=cal.K, dist=cal.dist, zoom=float(spec.options.get("calibration_zoom", 0.0)),
                          image_size=cal.image_size, hfov_deg=hfov, source=str(path))  # type: ignore[arg-type]
