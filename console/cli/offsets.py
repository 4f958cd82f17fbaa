"""`camdeck offsets`: the mount offset (pitch/yaw/roll, degrees) between a reference and a query scan.

Thin: parse options, call calibration.offsets, write the Excel report and its CSV, print the
result (``--json``: pitch_deg, yaw_deg, roll_deg, frames, inliers, per_frame, ...). A missing or
corrupt scan exits 2; a query with too few matches exits 1 with its reason.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from camdeck.console.cli import common


def register(root: typer.Typer) -> None:
    """Add the command to the root app (a single command, not a group)."""
    root.command("offsets")(offsets)


def offsets(
    reference: Path = typer.Option(..., "--reference", metavar="DIR", help="Reference scan folder (manifest.json)."),
    query: Path = typer.Option(..., "--query", metavar="DIR", help="Query scan folder of the same camera."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="FILE.xlsx",
                                       help="Excel report; a CSV of the same name is written next to it."),
) -> None:
    """Estimate the mount offset ΔR of a PTZ camera: query frames matched against the nearest reference frames."""
    from camdeck.calibration.offsets import OffsetsOptions, offsets_from_dirs
    from camdeck.calibration.report import write_offsets_csv, write_offsets_xlsx

    if out is not None:
        if out.suffix.lower() != ".xlsx":
            raise common.BadInput(f"--out {out}: not an .xlsx file; fix: name it e.g. offsets.xlsx")
        common.check_output_file(out)
        from camdeck.fastcore.extras import require_extra
        require_extra("openpyxl", f"offsets --out {out.name}")   # before the matching, not after it
    method = common.settings().monitor.features
    quiet = common.json_mode()
    bar = None
    progress = None
    if not quiet:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                       console=common.stderr_console(), transient=True)
        task = bar.add_task("matching query frames", total=None)

        def show(done: int, total: int, message: str) -> None:
            bar.update(task, completed=done, total=total, description=message)
        progress = show
        bar.start()
    try:
        result = offsets_from_dirs(reference, query, OffsetsOptions(method=method), progress)
    finally:
        if bar is not None:
            bar.stop()
    report = result.to_dict()
    report.update(reference=str(reference), query=str(query))
    if out is not None:
        csv_path = out.with_suffix(".csv")
        write_offsets_xlsx(report, out)
        write_offsets_csv(report, csv_path)
        report.update(out=str(out), csv=str(csv_path))
    if quiet:
        common.emit_json(report)
        return
    console = common.stdout_console()
    console.print(f"pitch {result.pitch_deg:+.3f}°  yaw {result.yaw_deg:+.3f}°  roll {result.roll_deg:+.3f}°  "
                  f"({result.frames} of {len(result.per_frame)} frames, {result.inliers} inliers, "
                  f"confidence {result.confidence:.2f}: inliers cover {result.coverage:.0%} of the view, "
                  f"spread {result.spread_deg:.1f}°)", highlight=False)
    for frame in result.per_frame:
        if frame.error:
            console.print(f"  frame {frame.query_index}: {frame.error}", highlight=False)
    if out is not None:
        console.print(f"wrote {out} and {report['csv']}", highlight=False)
