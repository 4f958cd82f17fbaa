"""`camdeck cameras ...`: list the configured cameras, snap a frame to a file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from camdeck.console.cli import bounds, common

app = typer.Typer(help="List cameras and take single frames.", no_args_is_help=True)


def _address(spec) -> str:
    if spec.serial:
        return f"serial {spec.serial}"
    if "camera_num" in spec.options:
        return f"camera_num {spec.options['camera_num']}"
    if spec.kind == "ptz":
        port = spec.options.get("port") or "in-process"
        return f"{spec.options.get('host')}:{port}"
    return ""


def camera_rows(settings, probe: bool = False) -> list[dict[str, Any]]:
    """One row per configured camera: identity, rig/deployment and (with probe) its state."""
    rows = []
    for name, spec in settings.cameras.items():
        rig = next((r.name for r in settings.rigs.values() if name in r.cameras), None)
        row = {
            "name": name, "driver": spec.driver, "model": spec.model, "kind": spec.kind,
            "label": spec.label, "serial": spec.serial, "address": _address(spec),
            "rig": rig, "deployment": spec.options.get("deployment"),
            "resolution": list(spec.resolution) if spec.resolution else None,
        }
        if probe:
            row.update(_probe(spec, settings))
        rows.append(row)
    return rows


def _probe(spec, settings) -> dict[str, Any]:
    """Open the camera and read its info; errors become the row's state, not a crash."""
    from camdeck.drivers.errors import DriverError
    from camdeck.drivers.registry import open_camera

    try:
        with open_camera(spec, settings.driver_context()) as cam:
            info = cam.info()
            return {"state": "ok", "output_size": list(info.output_size), "pixel_format": info.pixel_format,
                    "capabilities": [c.name for c in type(info.capabilities) if c in info.capabilities and c.name]}
    except DriverError as err:
        return {"state": type(err).__name__, "error": str(err)}


@app.command("list")
def list_cameras(
    probe: bool = typer.Option(False, "--probe", help="Open each camera and report its state."),
) -> None:
    """List every configured camera: driver, model, serial or address, rig."""
    settings = common.settings()
    rows = camera_rows(settings, probe=probe)
    if common.json_mode():
        common.emit_json({"config": settings.source, "cameras": rows})
        return
    from rich.table import Table

    table = Table(title=f"cameras ({settings.source})")
    cols = ["name", "driver", "model", "address", "rig", "label"] + (["state"] if probe else [])
    for col in cols:
        table.add_column(col)
    for row in rows:
        table.add_row(*[str(row.get(c) or row.get("deployment") or "") if c == "rig" else str(row.get(c) or "")
                        for c in cols])
    common.stdout_console().print(table)


@app.command("snap")
def snap(
    name: str = typer.Argument(..., help="Camera name from config.toml."),
    out: Path = typer.Option(..., "--out", help="Image file to write (.png, .jpg, .tif); RAW Bayer is demosaiced."),
    timeout_s: float = typer.Option(5.0, "--timeout", callback=bounds.number("--timeout", 0.1, 3600.0),
                                    help="Capture timeout in seconds (0.1 to 3600: a long exposure may need minutes)."),
) -> None:
    """Capture one frame from a camera and write it as an image (debayered PNG by default)."""
    from camdeck.drivers.imaging import frame_to_rgb, write_image_atomic
    from camdeck.drivers.registry import find_spec, open_camera

    settings = common.settings()
    spec = find_spec(settings.cameras, name)
    common.check_output_file(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"):
        raise common.BadInput(f"--out {out}: unknown image type {out.suffix or '(none)'}; "
                              "fix: end the name in .png, .jpg or .tif")
    with open_camera(spec, settings.driver_context()) as cam:
        cam.start()
        frame = cam.capture(timeout_s)
    rgb = frame_to_rgb(frame)
    write_image_atomic(out, rgb)
    result = {"camera": name, "file": str(out), "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
              "seq": frame.seq, "timestamp_ns": frame.timestamp, "format": frame.format,
              "meta": {k: v for k, v in frame.meta.items() if isinstance(v, (int, float, str, bool))}}
    if common.json_mode():
        common.emit_json(result)
    else:
        common.stdout_console().print(f"{name}: wrote {out} ({rgb.shape[1]}x{rgb.shape[0]}, frame {frame.seq})")
