"""The offsets report: what the Excel workbook and the CSV hold, read back with openpyxl and csv."""
from __future__ import annotations

import csv

import pytest

from camdeck.calibration.errors import CalibrationInputError
from camdeck.calibration.report import write_offsets_csv, write_offsets_xlsx

SUMMARY = {
    "query": "q", "reference": "r", "pitch_deg": 1.25, "yaw_deg": -0.5, "roll_deg": 0.01, "frames": 2,
    "inliers": 1500, "confidence": 0.91, "residual_deg": 0.02,
    "delta_R": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    "per_frame": [
        {"query_index": 0, "reference_index": 3, "pan_deg": 10.0, "tilt_deg": 5.0, "pitch_deg": 1.26,
         "yaw_deg": -0.49, "roll_deg": 0.0, "matches": 900, "inliers": 800, "residual_deg": 0.02, "used": True,
         "error": ""},
        {"query_index": 1, "reference_index": None, "pan_deg": 100.0, "tilt_deg": 5.0, "pitch_deg": None,
         "yaw_deg": None, "roll_deg": None, "matches": 4, "inliers": 0, "residual_deg": None, "used": False,
         "error": "4 matches, 25 needed"},
    ],
}


def test_the_workbook_holds_summary_frames_and_rotation(tmp_path):
    from openpyxl import load_workbook

    path = write_offsets_xlsx(SUMMARY, tmp_path / "offsets.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["Summary", "Frames", "Rotation"]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["pitch_deg"] == 1.25 and summary["yaw_deg"] == -0.5 and summary["inliers"] == 1500
    frames = list(book["Frames"].iter_rows(values_only=True))
    assert frames[0][:3] == ("query_index", "reference_index", "pan_deg")
    assert frames[1][4] == 1.26 and frames[1][9] == "yes"
    assert frames[2][-1] == "4 matches, 25 needed" and frames[2][9] == "no"
    assert [c.value for c in book["Rotation"][2]] == [1.0, 0.0, 0.0]


def test_the_csv_has_one_row_per_frame_and_the_combined_row(tmp_path):
    path = write_offsets_csv(SUMMARY, tmp_path / "offsets.csv")
    rows = list(csv.DictReader(path.open()))
    assert [r["row"] for r in rows] == ["frame", "frame", "combined"]
    assert rows[0]["pitch_deg"] == "1.26" and rows[1]["error"] == "4 matches, 25 needed"
    assert rows[2]["pitch_deg"] == "1.25" and rows[2]["used"] == "2"


def test_a_summary_without_frames_is_refused(tmp_path):
    with pytest.raises(CalibrationInputError):
        write_offsets_csv({"pitch_deg": 0.0}, tmp_path / "x.csv")
