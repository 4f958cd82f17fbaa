"""Checks of config.toml that look past one value: camera names, models, controls against the
model's control table, sensor sizes, simulated servers' addresses, identities across cameras.

Each raises the schema's ``_Bad`` (console/config_schema.py), which console.config turns into the
one ConfigError line naming the key, what was expected and the fix.
"""
from __future__ import annotations

from typing import Any, Mapping

from camdeck.console.config_schema import Said, _Bad
from camdeck.drivers.base import ASI_MODELS, PICAM_MODELS, CameraSpec


def check_sensor_size(path: str, driver: str, kind: str, model: str, resolution: tuple[int, int] | None) -> None:
    """An ASI camera's ROI, or a simulated Pi camera's output, fits the model's sensor (the
    simulator would otherwise render, and hold, frames no such camera makes)."""
    from camdeck.drivers.controls import sensor_size

    size = sensor_size(kind, model)
    if resolution is None or size is None or (kind == "picam" and driver != "sim"):
        return
    w, h = resolution
    if w > size[0] or h > size[1]:
        fit = [min(w, size[0]) - (min(w, size[0]) % 8 if kind == "asi" else 0), min(h, size[1])]
        raise _Bad(f"{path}.resolution", f"at most the {model} sensor's {size[0]}x{size[1]} px", [w, h],
                   f"write resolution = [{fit[0]}, {fit[1]}]")


def check_loopback(key: str, host: str) -> None:
    """A simulated PTZ camera's ONVIF server listens on this machine only: a loopback address."""
    import ipaddress

    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if not loopback:
        raise _Bad(key, "a loopback address for a simulated camera (127.0.0.1, ::1 or localhost)", host,
                   'write host = "127.0.0.1" (the simulator never listens on the network)')


def check_controls(name: str, driver: str, kind: str, model: str, controls: Mapping[str, Any]) -> None:
    """Check a camera's ``controls`` against its model's control table (drivers/controls.py), so a
    value the camera would refuse stops the config at load, not the first capture."""
    from camdeck.drivers.controls import control_table, coerce
    from camdeck.drivers.errors import ControlError

    table = control_table(driver, kind, model)
    writable = sorted(n for n, c in table.items() if c.writable)
    for cname, value in controls.items():
        key = f"cameras.{name}.controls.{cname}"
        ctrl = table.get(cname)
        if ctrl is None or not ctrl.writable:
            expected = ("a control of this camera (" + ", ".join(writable) + ")" if writable
                        else "no controls (PTZ cameras have none)")
            problem = Said("a read-only control" if ctrl is not None else "an unknown key")
            raise _Bad(key, expected, problem, "remove it or correct its spelling")
        try:
            coerce(name, ctrl, value)
        except ControlError:
            raise _Bad(key, ctrl.range_text() + (f" ({ctrl.description})" if ctrl.description else ""), value,
                       f"write {cname} = {ctrl.example()}") from None
        if cname == "FrameDurationLimits" and value[0] > value[1]:
            raise _Bad(key, "[min, max] with min <= max (microseconds)", value,
                       f"write {cname} = [{value[1]}, {value[1]}] for a fixed rate")


def check_name(name: str, path: str) -> None:
    """A camera, rig or deployment name becomes a folder (scans/DEPLOYMENT/CAMERA, sessions): it
    must pass the one safe-name check (fileio.names), so '..' or '/' can never climb out."""
    from camdeck.fileio.names import SAFE_NAME_RULE, UnsafeName, check_safe_name

    try:
        check_safe_name(name, path)
    except UnsafeName:
        kind = path.split(".", 1)[0]
        raise _Bad(path, f"a safe name ({SAFE_NAME_RULE})", name, f"rename the table, e.g. [{kind}.site-01]") from None


def check_model(driver: str, model: str, kind: str, path: str) -> None:
    if driver == "zwoasi" and model.upper() not in ASI_MODELS:
        raise _Bad(f"{path}.model", "a ZWO model (" + ", ".join(sorted(ASI_MODELS)) + ")", model)
    if driver == "picamera2" and model.upper() not in PICAM_MODELS:
        raise _Bad(f"{path}.model", "a Pi camera sensor (" + ", ".join(sorted(PICAM_MODELS)) + ")", model)
    if driver == "sim" and kind == "picam" and model.upper() not in PICAM_MODELS:
        raise _Bad(f"{path}.model", "a simulated model (ASI662MC, " + ", ".join(sorted(PICAM_MODELS)) + ", PTZ)",
                   model)


def check_identities(cameras: Mapping[str, CameraSpec]) -> None:
    seen_serial: dict[str, str] = {}
    seen_num: dict[tuple[str, int], str] = {}
    seen_port: dict[tuple[str, int], str] = {}
    for name, spec in cameras.items():
        if spec.serial:
            if spec.serial in seen_serial:
                raise _Bad(f"cameras.{name}.serial", f"a serial no other camera has ({seen_serial[spec.serial]} has it)",
                           spec.serial, "give each camera its own serial number")
            seen_serial[spec.serial] = name
        if spec.kind == "picam" and spec.driver == "picamera2":
            key = ("picamera2", spec.options["camera_num"])
            if key in seen_num:
                raise _Bad(f"cameras.{name}.camera_num", f"a camera_num no other Pi camera has ({seen_num[key]} has it)",
                           key[1], "each Pi camera sits on its own connector: 0 or 1")
            seen_num[key] = name
        if spec.kind == "ptz" and spec.options["port"]:
            key = (spec.options["host"], spec.options["port"])
            if key in seen_port:
                raise _Bad(f"cameras.{name}.port", f"an address no other camera has ({seen_port[key]} has it)",
                           key[1], "give each PTZ camera its own host:port")
            seen_port[key] = name
