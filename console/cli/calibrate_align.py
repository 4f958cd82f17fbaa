"""`camdeck calibrate align`: R_align (mount -> world) from landmarks seen in a scan.

Attached to the `calibrate` group by console/cli/calibrate.py. Thin: parse options, call
calibration.align, print the result (``--json``: one object on stdout). Bad input exits 2.
"""
from __future__ import annotations

from pathlib import Path

import typer

from camdeck.console.cli import bounds, common
from camdeck.fileio.leftovers import remove_stale_temporaries


def align(
    scan: Path = typer.Option(..., "--scan", metavar="DIR", help="Scan folder (manifest.json) the landmarks refer to."),
    landmarks: Path = typer.Option(..., "--landmarks", metavar="CSV",
                                   help="CSV with the header frame,u,v,azimuth_deg,elevation_deg."),
    out: Path = typer.Option(Path("R_align.npy"), "--out", help="File to write (R_align.npy, 3x3 float64)."),
    threshold_deg: float = typer.Option(0.5, "--threshold-deg", callback=bounds.number("--threshold-deg", 0.001, 45.0),
                                        help="Landmarks further than this from the consensus are outliers "
                                             "(0.001 to 45 degrees)."),
) -> None:
    """Solve R_align from landmarks (Wahba/Kabsch inside RANSAC); prints the residual in degrees."""
    from camdeck.calibration.align import align_from_files, save_r_align

    common.check_output_file(out)
    remove_stale_temporaries(out.parent, out.name)      # a kill -9 of an earlier run left its temporary
    result = align_from_files(scan, landmarks, threshold_deg)
    save_r_align(out, result.R_align)
    report = result.to_dict()
    report["out"] = str(out)
    if common.json_mode():
        common.emit_json(report)
        return
    console = common.stdout_console()
    console.print(f"R_align from {report['inliers']} of {report['landmarks']} landmarks: "
                  f"residual {result.residual_deg:.4f}° (RMS over inliers)", highlight=False)
    for index in report["outliers"]:
        console.print(f"  outlier: landmark {index} (line {index + 2}), {result.residuals_deg[index]:.2f}° off",
                      highlight=False)
    console.print(f"wrote {out}", highlight=False)
