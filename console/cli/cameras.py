"""`camdeck cameras ...`: list the configured cameras, snap a frame to a file."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

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
    board: Optional[str] = typer.Option(None, "--board", metavar="COLSxROWS",
                                        help="Look for a chessboard of this many inner corners (e.g. 9x6): its "
                                             "corners are drawn on the image and where it sits (x, y, size, skew) "
                                             "is printed; exit 1 when it is not found. A simulated camera puts "
                                             "its board in view; a real one shows what the operator holds."),
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
    chessboard = None
    if board is not None:
        from camdeck.calibration.chessboard import Board

        chessboard = Board.parse(board, 25.0)   # the square size does not matter for finding it
    with open_camera(spec, settings.driver_context()) as cam:
        cam.start()
        if chessboard is None:
            frame = cam.capture(timeout_s)
        else:
            from camdeck.drivers.base import calibration_target

            frame = calibration_target([cam], chessboard, lambda t: [cam.capture(t)]).next_views(timeout_s)[0]
    rgb = frame_to_rgb(frame)
    if chessboard is not None and not rgb.flags.writeable:     # a driver's own buffer: draw on a copy
        rgb = rgb.copy()
    found = _find_board(frame, rgb, chessboard) if chessboard is not None else None
    write_image_atomic(out, rgb)
    result = {"camera": name, "file": str(out), "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
              "seq": frame.seq, "timestamp_ns": frame.timestamp, "format": frame.format,
              "meta": {k: v for k, v in frame.meta.items() if isinstance(v, (int, float, str, bool))}}
    if found is not None:
        result["board"] = found
    if common.json_mode():
        common.emit_json(result)
    else:
        line = f"{name}: wrote {out} ({rgb.shape[1]}x{rgb.shape[0]}, frame {frame.seq})"
        if found is not None and found["found"]:
            line += (f"; board {found['board']} found: x {found['x']:.2f} y {found['y']:.2f} "
                     f"size {found['size']:.2f} skew {found['skew']:.2f}")
        common.stdout_console().print(line, highlight=False, markup=False, soft_wrap=True)
    if found is not None and not found["found"]:
        from camdeck.console.cli.boundary import write_err

        write_err(f"camdeck: error: {name}: {found['reason']} in {out}; fix: put the whole {found['board']} board "
                  "in view, flat and lit, or give --board the inner corners it really has")
        raise typer.Exit(1)


def _find_board(frame, rgb, board) -> dict[str, Any]:
    """Look for ``board`` in ``frame``; draw its corners on ``rgb`` (in place) when found.

    Returns the JSON-ready outcome: board, found, reason, and when found the corners (pixels) and
    where the board sits (calibration.coverage's x, y, size and skew, 0 to 1).
    """
    import cv2

    from camdeck.calibration.chessboard import detect_chessboard
    from camdeck.calibration.coverage import measure_view

    detection = detect_chessboard(frame.array, board, pixel_format=frame.format)
    found: dict[str, Any] = {"board": board.label, "found": detection.found, "reason": detection.reason}
    if detection.found:
        cv2.drawChessboardCorners(rgb, board.pattern_size, detection.corners.reshape(-1, 1, 2), True)
        found.update(measure_view(detection.corners, board, detection.image_size).as_dict())
        found["corners_px"] = [[round(float(x), 3), round(float(y), 3)] for x, y in detection.corners]
    return found
