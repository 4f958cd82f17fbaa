"""Offsets reports: an Excel workbook (openpyxl) and a CSV, from an offsets summary.

The summary is the JSON object ``camdeck offsets --json`` prints (``OffsetsResult.to_dict()``):
``pitch_deg``, ``yaw_deg``, ``roll_deg``, ``frames``, ``inliers``, ``confidence``, and
``per_frame``, a list of dicts with ``query_index``, ``reference_index``, ``pan_deg``,
``tilt_deg``, ``pitch_deg``, ``yaw_deg``, ``roll_deg``, ``matches``, ``inliers``, ``used``.

Workbook sheets: "Summary" (one value per row), "Frames" (one row per query frame),
"Rotation" (ΔR, 3x3, when given). Angles in degrees throughout.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping

from camdeck.calibration.outputs import write_atomic
from camdeck.calibration.errors import CalibrationInputError
from camdeck.fastcore.extras import require_extra

FRAME_COLUMNS = ("query_index", "reference_index", "pan_deg", "tilt_deg", "pitch_deg", "yaw_deg", "roll_deg",
                 "matches", "inliers", "used", "error")
SUMMARY_KEYS = ("query", "reference", "pitch_deg", "yaw_deg", "roll_deg", "frames", "inliers", "confidence",
                "coverage", "spread_deg", "residual_deg")


def write_offsets_csv(summary: Mapping[str, Any], path: str | Path) -> Path:
    """One row per query frame, then a row ``combined`` with the combined offsets.

    Raises:
        CalibrationInputError: the summary lacks ``per_frame``.
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    frames = _frames(summary)
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(("row",) + FRAME_COLUMNS)
    for frame in frames:
        writer.writerow(["frame"] + [_cell(frame.get(c)) for c in FRAME_COLUMNS])
    combined = {"pitch_deg": summary.get("pitch_deg"), "yaw_deg": summary.get("yaw_deg"),
                "roll_deg": summary.get("roll_deg"), "inliers": summary.get("inliers"),
                "used": summary.get("frames")}
    writer.writerow(["combined"] + [_cell(combined.get(c)) for c in FRAME_COLUMNS])
    data = text.getvalue().encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data))


def write_offsets_xlsx(summary: Mapping[str, Any], path: str | Path) -> Path:
    """The Excel report: Summary, Frames and (when ``summary['delta_R']`` is given) Rotation sheets.

    Raises:
        CalibrationInputError: the summary lacks ``per_frame``.
        CalibrationWriteError: the file cannot be written (names the file and the fix).
    """
    Workbook = require_extra("openpyxl", "the Excel offsets report").Workbook
    styles = require_extra("openpyxl.styles", "the Excel offsets report")
    Font, PatternFill = styles.Font, styles.PatternFill

    path = Path(path)
    frames = _frames(summary)
    book = Workbook()
    bold = Font(bold=True)
    sheet = book.active
    sheet.title = "Summary"
    sheet.append(("quantity", "value"))
    for key in SUMMARY_KEYS:
        if key in summary:
            sheet.append((key, _cell(summary[key])))
    for cell in sheet[1]:
        cell.font = bold
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 48

    rows = book.create_sheet("Frames")
    rows.append(FRAME_COLUMNS)
    for cell in rows[1]:
        cell.font = bold
    unused = PatternFill(start_color="FFF2CC", end_color="FFF2CC", fill_type="solid")
    for frame in frames:
        rows.append([_cell(frame.get(c)) for c in FRAME_COLUMNS])
        if not frame.get("used", False):
            for cell in rows[rows.max_row]:
                cell.fill = unused
    rows.freeze_panes = "A2"

    delta = summary.get("delta_R")
    if delta is not None:
        rot = book.create_sheet("Rotation")
        rot.append(("ΔR (mount offset, docs/design.md)",))
        for row in delta:
            rot.append([float(v) for v in row])
    buffer = io.BytesIO()          # build it in memory: openpyxl leaves its zip open if a write fails
    book.save(buffer)
    data = buffer.getvalue()
    return write_atomic(path, lambda fh: fh.write(data))


def _frames(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    frames = summary.get("per_frame")
    if not isinstance(frames, (list, tuple)):
        raise CalibrationInputError("offsets summary: per_frame is missing", "pass OffsetsResult.to_dict()")
    return list(frames)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, str)):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)
