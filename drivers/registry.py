"""Open a camera from its config entry, importing the driver module only then.

Each driver module exposes ``open_camera(spec: CameraSpec, ctx: DriverContext) -> Camera``;
a driver that reaches its camera over the network also exposes
``network_endpoint(spec) -> (host, port) | None`` (what a deployment's tunnel must carry).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from camdeck.drivers.base import Camera, CameraSpec, RigSpec
from camdeck.drivers.errors import DriverUnavailable, UnknownCamera

DRIVER_MODULES: dict[str, str] = {
    "sim": "camdeck.drivers.sim",
    "zwoasi": "camdeck.drivers.zwo",
    "picamera2": "camdeck.drivers.picam",
    "onvif": "camdeck.drivers.onvif_ptz",
}


@dataclass(frozen=True)
class DriverContext:
    """What a driver may need beyond its own spec.

    Attributes:
        rigs: every configured rig, so a camera can learn its place in a pair.
        data_dir: where persistent simulator state lives (bumps, presets).
        seed: base seed of the simulated rig (deterministic mode); None = random.
        time_factor: simulated seconds per wall second (>1 runs faster than real time).
        clock: monotonic clock in ns; injected so tests can run faster than real time.
    """

    rigs: Mapping[str, RigSpec] = field(default_factory=dict)
    data_dir: Path = Path("data")
    seed: int | None = 0
    time_factor: float = 1.0
    clock: Callable[[], int] | None = None

    def rig_of(self, camera: str) -> RigSpec | None:
        for rig in self.rigs.values():
            if camera in rig.cameras:
                return rig
        return None


def driver_module(driver: str):
    """Import and return the module for ``driver``; DriverUnavailable names the fix."""
    try:
        module_name = DRIVER_MODULES[driver]
    except KeyError:
        raise DriverUnavailable(
            f"unknown driver {driver!r}",
            f"use one of {', '.join(sorted(DRIVER_MODULES))} in config.toml",
        ) from None
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (err.name == module_name or module_name.startswith(err.name + ".")):
            raise DriverUnavailable(
                f"driver {driver!r} is not part of this installation",
                "upgrade camdeck",
            ) from None
        raise


def open_camera(spec: CameraSpec, ctx: DriverContext | None = None) -> Camera:
    """Open the camera described by ``spec`` (not started).

    Raises:
        DriverUnavailable: the driver's library or SDK is missing.
        CameraNotFound: no such camera is connected.
    """
    return driver_module(spec.driver).open_camera(spec, ctx or DriverContext())


def camera_endpoint(spec: CameraSpec) -> tuple[str, int] | None:
    """The (host, port) the driver of ``spec`` connects to, or None when it needs no network
    (a local or in-process camera). A deployment's tunnel waits for it to accept connections.

    Raises:
        DriverUnavailable: unknown driver.
    """
    endpoint = getattr(driver_module(spec.driver), "network_endpoint", None)
    return endpoint(spec) if endpoint is not None else None


def find_spec(cameras: Mapping[str, CameraSpec], name: str) -> CameraSpec:
    """The spec named ``name``; UnknownCamera lists the configured names."""
    try:
        return cameras[name]
    except KeyError:
        known = ", ".join(sorted(cameras)) or "none"
        raise UnknownCamera(
            f"unknown camera {name!r}",
            f"use one of the configured cameras: {known}",
        ) from None
