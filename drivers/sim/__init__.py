"""The simulated rig: a physically honest 3D scene seen through simulated cameras.

``open_camera(spec, ctx)`` is the registry entry point for ``driver = "sim"``:
- ASI models ("ASI662MC") -> ``drivers.sim.asi.SimAsiCamera`` (RAW8 RGGB, zwoasi controls);
- Pi camera sensors ("IMX219", "IMX708", ...) -> ``drivers.sim.picam.SimPiCamera`` (RGB, Picamera2 controls);
- "PTZ" -> ``drivers.sim.ptz.SimPtzCamera`` (the PTZ fleet's simulated camera).

Every simulated camera also has ``truth`` (SimTruth: K, dist, R, t, image_size, scene),
``render_truth()`` (the noise-free Render), ``inject_fault(kind)`` and ``now_ns()``.
Only numpy is imported here; the camera modules load on first use.
"""
from __future__ import annotations

from typing import Any

from camdeck.drivers.base import Camera, CameraSpec
from camdeck.drivers.sim.placement import SimTruth, StereoTruth, camera_pose, stereo_truth
from camdeck.drivers.sim.scene import LAB_CENTER, Render, Scene, intrinsics_from_hfov, lab_scene, look_at

__all__ = [
    "open_camera", "SimTruth", "StereoTruth", "camera_pose", "stereo_truth",
    "LAB_CENTER", "Render", "Scene", "intrinsics_from_hfov", "lab_scene", "look_at",
]


def open_camera(spec: CameraSpec, ctx: Any = None) -> Camera:
    """Open the simulated camera for ``spec`` (not started; config controls applied).

    Raises:
        ControlError: a control of the config entry is rejected (names the key and the fix).
    """
    if ctx is None:
        from camdeck.drivers.registry import DriverContext
        ctx = DriverContext()
    kind = spec.kind
    if kind == "ptz":
        from camdeck.drivers.sim.ptz import SimPtzCamera
        return SimPtzCamera(spec, ctx)
    if kind == "asi":
        from camdeck.drivers.sim.asi import SimAsiCamera
        return SimAsiCamera(spec, ctx)
    from camdeck.drivers.sim.picam import SimPiCamera
    return SimPiCamera(spec, ctx)
