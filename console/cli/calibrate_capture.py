"""`camdeck calibrate capture --rig NAME --views N --out DIR`: chessboard views for calibration.

A stereo rig gives synchronised pairs (DIR/left/NNN.png, DIR/right/NNN.png), any other rig one
camera's views (DIR/NNN.png). Every view is checked for the whole board (in both images of a
pair) before it is kept, and the coverage of the set so far -- X, Y, size and skew
(calibration.coverage) -- is shown after each one. DIR/capture.json records the rig, the board
and the coverage, so ``camdeck calibrate stereo --pairs DIR`` (or ``intrinsics --images DIR``)
can solve from the folder.

Who moves the board is the cameras' business (drivers.base.calibration_target): the simulator's
board moves by itself, a real one is moved by the operator, so the command waits before each
view for Enter (``q`` Enter stops early) or, with ``--every 2s``, for that long.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer

from camdeck.console.cli import bounds, common

BAR_CELLS = 10
#: Unattended (a board that moves by itself, or --every), the job gives up after this many tries
#: per wanted view; an operator pressing Enter decides alone when to stop.
TRIES_PER_VIEW = 3


def capture(
    rig: str = typer.Option(..., "--rig", metavar="NAME", help="The rig (rigs.NAME in config.toml); a stereo rig gives pairs."),
    views: int = typer.Option(15, "--views", metavar="N", callback=bounds.count("--views", 3, 500),
                              help="Views (pairs) to keep, 3 to 500."),
    out: Path = typer.Option(..., "--out", metavar="DIR", help="Folder for the images and capture.json."),
    camera: Optional[str] = typer.Option(None, "--camera", metavar="NAME",
                                         help="Which camera of a non-stereo rig (default: its first)."),
    board: str = typer.Option("9x6", "--board", help="Inner corners, COLSxROWS (a 10 x 7 squares board is 9x6)."),
    square_mm: float = typer.Option(25.0, "--square-mm", callback=bounds.number("--square-mm", 0.1, 1000.0),
                                    help="Side of one square, millimetres (0.1 to 1000)."),
    every: Optional[str] = typer.Option(None, "--every", metavar="DURATION",
                                        help="When the operator moves the board: capture every DURATION "
                                             "(e.g. 2s) instead of waiting for Enter."),
    timeout_s: float = typer.Option(5.0, "--timeout", callback=bounds.number("--timeout", 0.1, 3600.0),
                                    help="Capture timeout per frame, seconds (0.1 to 3600)."),
) -> None:
    """Capture chessboard views (pairs on a stereo rig) with coverage shown as it goes."""
    from camdeck.calibration.chessboard import Board

    spec = Board.parse(board, square_mm)
    every_s = bounds.parse_seconds(every, "--every", 0.1, 3600.0) if every else None
    settings = common.settings()
    rig_spec = _rig(settings, rig)
    stereo = rig_spec.type == "stereo"
    names = list(rig_spec.cameras[:2]) if stereo else [_camera_of(rig_spec, camera)]
    out_dir = common.check_output_dir(out)
    folders = [out_dir / "left", out_dir / "right"] if stereo else [out_dir]
    for folder in folders:
        if any(folder.glob("[0-9][0-9][0-9].png")):
            raise common.BadInput(f"--out {out_dir}: already holds captured views ({folder}); "
                                  "fix: choose an empty folder, or remove the old views")
        folder.mkdir(parents=True, exist_ok=True)
    cameras, capture_fn, close = _open(rig_spec, names, settings, stereo)
    try:
        from camdeck.drivers.base import calibration_target

        target = calibration_target(cameras, spec, capture_fn)
        wait = _no_wait if target.moves_itself and every_s is None else _operator_wait(every_s, target.moves_itself)
        unattended = target.moves_itself or every_s is not None
        report = _run(target, spec, views, folders, wait, timeout_s, views * TRIES_PER_VIEW if unattended else None)
    finally:
        close()
    report.update({"rig": rig, "cameras": names, "stereo": stereo, "out": str(out_dir), "board": spec.label,
                   "square_mm": spec.square_mm, "board_moves_itself": target.moves_itself,
                   "next": _next_command(out_dir, spec, stereo)})
    _write_manifest(out_dir / "capture.json", report)
    if common.json_mode():
        common.emit_json(report)
    else:
        common.stdout_console().print(f"kept {report['views']} of {report['tries']} views in {out_dir}; "
                                      f"next: {report['next']}", highlight=False, markup=False, soft_wrap=True)
    if report["views"] < views and not report["stopped_by_operator"]:
        # The job ran and fell short: exit 1, the report (and capture.json) already out.
        from camdeck.console.cli.boundary import write_err
        write_err(f"camdeck: error: kept only {report['views']} of {views} views after {report['tries']} tries; "
                  "fix: check that the whole board is in view (in both cameras of a pair)")
        raise typer.Exit(1)


def _rig(settings, name: str):
    rig = settings.rigs.get(name)
    if rig is None:
        raise common.BadInput(f"--rig {name}: no such rig; fix: choose one of {', '.join(sorted(settings.rigs))}")
    return rig


def _camera_of(rig_spec, camera: Optional[str]) -> str:
    if camera is None:
        return rig_spec.cameras[0]
    if camera not in rig_spec.cameras:
        raise common.BadInput(f"--camera {camera}: not in rig {rig_spec.name}; "
                              f"fix: choose one of {', '.join(rig_spec.cameras)}")
    return camera


def _open(rig_spec, names: list[str], settings, stereo: bool):
    """(cameras, capture(timeout_s) -> frames, close()) for the rig's pair or its one camera."""
    from camdeck.drivers.registry import find_spec, open_camera
    from camdeck.drivers.stereo import open_stereo_rig

    if stereo:
        pair = open_stereo_rig(rig_spec, settings.cameras, settings.driver_context())
        pair.start()

        def capture_pair(timeout_s):
            frames = pair.capture_pair(timeout_s)
            return [frames.left, frames.right]
        return [pair.left, pair.right], capture_pair, pair.close
    cam = open_camera(find_spec(settings.cameras, names[0]), settings.driver_context())
    cam.start()
    return [cam], lambda timeout_s: [cam.capture(timeout_s)], cam.close


def _no_wait(index: int) -> bool:
    return True


def _operator_wait(every_s: Optional[float], moves_itself: bool) -> Callable[[int], bool]:
    """Before each view: sleep ``every_s``, or wait for Enter on stdin; False: the operator stopped."""
    console = common.stderr_console()

    def wait(index: int) -> bool:
        if every_s is not None:
            if index or not moves_itself:
                if not common.json_mode():
                    console.print(f"view {index + 1}: capturing in {every_s:g} s", highlight=False)
                time.sleep(every_s)
            return True
        console.print(f"view {index + 1}: move the board to a new place and tilt, then press Enter "
                      "(q Enter stops)", highlight=False)
        line = sys.stdin.readline()
        return bool(line) and line.strip().lower() not in ("q", "quit")
    return wait


def _run(target, board, wanted: int, folders: list[Path], wait: Callable[[int], bool], timeout_s: float,
         max_tries: Optional[int]) -> dict:
    """Capture until ``wanted`` views are kept (or the operator stops, or ``max_tries`` run out)."""
    from camdeck.calibration.chessboard import detect_chessboard
    from camdeck.calibration.coverage import Coverage
    from camdeck.drivers.imaging import frame_to_rgb, write_image_atomic

    console = None if common.json_mode() else common.stderr_console()
    coverage: Coverage | None = None
    kept: list[list[str]] = []
    rejected: list[dict[str, Any]] = []
    tries, stopped = 0, False
    while len(kept) < wanted and (max_tries is None or tries < max_tries):
        if not wait(len(kept)):
            stopped = True
            break
        frames = target.next_views(timeout_s)
        tries += 1
        found = [detect_chessboard(f.array, board, pixel_format=f.format) for f in frames]
        missing = [(i, d.reason) for i, d in enumerate(found) if not d.found]
        if missing:
            side = ("left", "right")[missing[0][0]] if len(frames) == 2 else "view"
            rejected.append({"try": tries, "reason": f"{side}: {missing[0][1]}"})
            if console:
                console.print(f"try {tries}: rejected ({side}: {missing[0][1]})", highlight=False, markup=False)
            continue
        if coverage is None:
            coverage = Coverage(board, found[0].image_size)
        measures = coverage.add(found[0].corners)
        name = f"{len(kept):03d}.png"
        kept.append([str(write_image_atomic(folder / name, frame_to_rgb(frame)))
                     for folder, frame in zip(folders, frames)])
        if console:
            console.print(f"view {len(kept)}/{wanted}: {_bars(coverage)}", highlight=False, markup=False,
                          soft_wrap=True)
        if not target.moves_itself and console:
            console.print(f"  this view: x {measures.x:.2f} y {measures.y:.2f} size {measures.size:.2f} "
                          f"skew {measures.skew:.2f}", highlight=False, markup=False)
    summary = coverage.summary() if coverage is not None else {"views": 0, "filled": 0.0, "bars": {}}
    return {"views": len(kept), "tries": tries, "files": kept, "rejected": rejected,
            "coverage": summary, "coverage_good": bool(coverage and coverage.good_enough(min_views=min(10, wanted))),
            "stopped_by_operator": stopped}


def _bars(coverage) -> str:
    """"X [#####-----] 0.10-0.55  Y [...]  size [...]  skew [...]": each bar's share of the needed span."""
    parts = []
    for bar in coverage.bars():
        cells = int(round(bar.progress * BAR_CELLS))
        label = bar.name.upper() if len(bar.name) == 1 else bar.name
        parts.append(f"{label} [{'#' * cells}{'-' * (BAR_CELLS - cells)}] {bar.lo:.2f}-{bar.hi:.2f}")
    return "  ".join(parts)


def _next_command(out_dir: Path, board, stereo: bool) -> str:
    common_args = f"--board {board.label} --square-mm {board.square_mm:g}"
    if stereo:
        return f"camdeck calibrate stereo --pairs {out_dir} {common_args} --out {out_dir / 'stereo.npz'}"
    return f"camdeck calibrate intrinsics --images {out_dir} {common_args} --out {out_dir / 'calibration.npz'}"


def _write_manifest(path: Path, report: dict) -> None:
    from camdeck.fileio.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(report, indent=2) + "\n")
