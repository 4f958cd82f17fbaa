"""`camdeck calibrate ...`: camera intrinsics and stereo pairs from chessboard images.

Thin commands: parse options, call calibration.intrinsics / calibration.stereo, show progress
on stderr, print the result (``--json``: one object on stdout). Bad input exits 2.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from camdeck.console.cli import bounds, common
from camdeck.fileio.leftovers import remove_stale_temporaries

app = typer.Typer(help="Calibrate cameras from chessboard images.", no_args_is_help=True)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".pgm", ".ppm")


def expand_images(pattern: str, option: str) -> list[Path]:
    """Files matching a glob (sorted), or the images in a folder.

    Raises:
        BadInput: nothing matches (naming the option and the pattern).
    """
    import glob

    path = Path(pattern).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    else:
        files = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if not Path(p).is_dir())
    if not files:
        raise common.BadInput(f"{option} {pattern!r}: no files match; fix: give a glob in quotes, "
                              f"e.g. {option} 'shots/*.png', or a folder of images")
    return files


class _Progress:
    """Rich progress on stderr for the stages a calibration job reports (silent with --json)."""

    LABELS = {"detect": "finding corners", "solve": "solving", "refine": "rejecting outliers"}

    def __init__(self) -> None:
        self._bar = None
        self._task = None

    def __enter__(self) -> "_Progress":
        if not common.json_mode():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 console=common.stderr_console(), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=None)
        return self

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=self.LABELS.get(stage, stage), completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def _print_rejected(console, rejected: list[dict[str, Any]]) -> None:
    for item in rejected:
        console.print(f"  rejected {item['file']}: {item['reason']}", highlight=False)


@app.command("intrinsics")
def intrinsics(
    images: str = typer.Option(..., "--images", metavar="GLOB", help="Chessboard images: a quoted glob or a folder."),
    board: str = typer.Option("9x6", "--board", help="Inner corners, COLSxROWS (a 10 x 7 squares board is 9x6)."),
    square_mm: float = typer.Option(25.0, "--square-mm", callback=bounds.number("--square-mm", 0.1, 10000.0),
                                    help="Side of one square, millimetres (0.1 to 10000)."),
    out: Path = typer.Option(Path("calibration.npz"), "--out", help="File to write (calibration.npz)."),
    min_views: int = typer.Option(5, "--min-views", callback=bounds.count("--min-views", 3, 1000),
                                  help="Fewest usable views to solve with (3 to 1000)."),
) -> None:
    """Calibrate one camera: K, distortion and the per-image reprojection error -> calibration.npz."""
    from camdeck.calibration.chessboard import Board
    from camdeck.calibration.intrinsics import calibrate_intrinsics, save_calibration

    spec = Board.parse(board, square_mm)
    common.check_output_file(out)
    remove_stale_temporaries(out.parent, out.name)      # a kill -9 of an earlier run left its temporary
    files = expand_images(images, "--images")
    with _Progress() as progress:
        result = calibrate_intrinsics(files, spec, min_views=min_views, progress=progress)
    save_calibration(out, result)
    report = result.to_json()
    report["out"] = str(out)
    if common.json_mode():
        common.emit_json(report)
        return
    console = common.stdout_console()
    K = result.K
    console.print(f"calibrated from {len(result.views)} of {len(files)} images: rms {result.rms:.3f} px; "
                  f"fx {K[0, 0]:.2f} fy {K[1, 1]:.2f} cx {K[0, 2]:.2f} cy {K[1, 2]:.2f} "
                  f"({result.image_size[0]}x{result.image_size[1]})", highlight=False)
    _print_rejected(console, report["rejected"])
    console.print(f"wrote {out}", highlight=False)


@app.command("stereo")
def stereo(
    left: Optional[str] = typer.Option(None, "--left", metavar="GLOB",
                                       help="Left camera images: a quoted glob or a folder."),
    right: Optional[str] = typer.Option(None, "--right", metavar="GLOB",
                                        help="Right camera images, paired by sorted order."),
    pairs: Optional[Path] = typer.Option(None, "--pairs", metavar="DIR",
                                         help="A folder from `camdeck calibrate capture` (DIR/left, DIR/right), "
                                              "instead of --left and --right."),
    board: str = typer.Option("9x6", "--board", help="Inner corners, COLSxROWS (a 10 x 7 squares board is 9x6)."),
    square_mm: float = typer.Option(25.0, "--square-mm", callback=bounds.number("--square-mm", 0.1, 10000.0),
                                    help="Side of one square, millimetres (0.1 to 10000)."),
    out: Path = typer.Option(Path("stereo.npz"), "--out", help="File to write (stereo.npz)."),
    min_pairs: int = typer.Option(5, "--min-pairs", callback=bounds.count("--min-pairs", 3, 1000),
                                  help="Fewest pairs with the board in both views (3 to 1000)."),
) -> None:
    """Calibrate a stereo pair: both intrinsics, R, T, rectification and the baseline -> stereo.npz."""
    from camdeck.calibration.chessboard import Board
    from camdeck.calibration.stereo import calibrate_stereo, save_stereo

    spec = Board.parse(board, square_mm)
    common.check_output_file(out)
    remove_stale_temporaries(out.parent, out.name)      # a kill -9 of an earlier run left its temporary
    left, right = _pair_globs(left, right, pairs)
    lefts = expand_images(left, "--left")
    rights = expand_images(right, "--right")
    if len(lefts) != len(rights):
        raise common.BadInput(f"--left matches {len(lefts)} files but --right matches {len(rights)}; "
                              "fix: give one right image per left image (paired by sorted name)")
    with _Progress() as progress:
        result = calibrate_stereo(lefts, rights, spec, min_pairs=min_pairs, progress=progress)
    save_stereo(out, result)
    report = result.to_json()
    report["out"] = str(out)
    if common.json_mode():
        common.emit_json(report)
        return
    console = common.stdout_console()
    console.print(f"calibrated from {len(result.used)} of {len(lefts)} pairs: stereo rms {result.rms:.3f} px "
                  f"(left {result.rms_left:.3f}, right {result.rms_right:.3f}); "
                  f"baseline {result.baseline_mm:.2f} mm", highlight=False)
    _print_rejected(console, report["rejected"])
    console.print(f"wrote {out}", highlight=False)


def _pair_globs(left: Optional[str], right: Optional[str], pairs: Optional[Path]) -> tuple[str, str]:
    """--left/--right, or DIR/left and DIR/right of --pairs DIR.

    Raises:
        BadInput: both forms, neither, only one of --left/--right, or a --pairs folder without left/ and right/.
    """
    if pairs is not None:
        if left or right:
            raise common.BadInput("--pairs with --left/--right: give one of the two forms; "
                                  "fix: --pairs DIR alone, or --left GLOB --right GLOB")
        missing = [side for side in ("left", "right") if not (pairs / side).is_dir()]
        if missing:
            raise common.BadInput(f"--pairs {pairs}: no {' or '.join(missing)}/ folder inside; "
                                  "fix: give the folder `camdeck calibrate capture --rig STEREO_RIG --out DIR` wrote")
        return str(pairs / "left"), str(pairs / "right")
    if not left or not right:
        raise common.BadInput("--left and --right: both are needed (or --pairs DIR); "
                              "fix: e.g. --left 'shots/left_*.png' --right 'shots/right_*.png'")
    return left, right


# `calibrate align` (PTZ mount alignment) and `calibrate capture` live in their own modules.
from camdeck.console.cli import calibrate_align as _align  # noqa: E402
from camdeck.console.cli import calibrate_capture as _capture  # noqa: E402

app.command("align")(_align.align)
app.command("capture")(_capture.capture)
