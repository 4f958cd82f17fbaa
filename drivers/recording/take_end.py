"""How a take ends: its outcome text, a full disk, the data file's reserve, each camera's record.

Helpers of drivers/recording/session.py, kept apart so the session reads as its steps.
"""
from __future__ import annotations

import errno
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from camdeck.drivers.recording.data_file import CameraRecord
from camdeck.drivers.recording.take import take_segments, take_timecodes

RESERVE_BYTES = 64 * 1024         # held for the final data file (a few kB, written beside the old one)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(track: Any) -> bool:
    """True when the camera track stopped because its disk is full (ENOSPC, EDQUOT)."""
    err = track.fault_error
    return isinstance(err, OSError) and err.errno in DISK_FULL


def disk_full_warning(track: Any) -> str:
    """The warning line of a track that found the disk full."""
    return (f"disk full: camera {track.index} ({track.spec.name}) could not write after "
            f"{track.fault_elapsed_s or 0:.1f} s; recording stopped, every file cut back to its last complete frame")


def hold_reserve(path: Path) -> None:
    """Hold RESERVE_BYTES in a hidden file until the take ends (none if the disk cannot spare it)."""
    try:
        with open(path, "wb") as fh:
            fh.write(bytes(RESERVE_BYTES))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        Path(path).unlink(missing_ok=True)


def outcome_text(outcome: str, operator: bool) -> str:
    """The data file's Result line for an outcome (``operator``: the operator stopped the take)."""
    why = "stopped by the operator" if operator else "the timer ran out"
    return {"complete": "complete (the timer ran out)",
            "stopped": "complete (stopped by the operator)",
            "complete_with_drops": f"complete with drops ({why}); see the Notes",
            "disk_low": "stopped early: disk space low",
            "disk_full": "stopped early: disk full (files cut back to the last complete frame)",
            "camera_fault": "camera fault (see the camera lines of CAMDECK DETAILS)",
            "error": "stopped early by an error (see Notes); the files hold everything up to then",
            }.get(outcome, outcome)


def fill_camera_record(t: Any, rec: CameraRecord, st: Any, start_wall: datetime, time_factor: float = 1.0) -> None:
    """Put what camera track ``t`` recorded into its data-file record ``rec`` (timestamps read
    back from its files, every part of a segmented take in order, so the record says what the
    files hold)."""
    try:
        rec.times_ms = take_timecodes(t.output, rec.timecodes)
    except (OSError, ValueError):    # gone, or not what this session wrote
        rec.times_ms = []
    factor = float(time_factor or 1.0)
    if rec.times_ms:
        rec.start_utc = start_wall + timedelta(milliseconds=rec.times_ms[0] / factor)
        rec.end_utc = start_wall + timedelta(milliseconds=rec.times_ms[-1] / factor)
    rec.frames, rec.dropped, rec.bytes_written = len(rec.times_ms), st.dropped, t.output.bytes_written
    rec.segments = take_segments(t.output)
    if rec.segments:       # a segmented take: the origin's Video File is its first part (CAMDECK DETAILS lists all)
        rec.video, rec.timecodes = rec.segments[0].video, rec.segments[0].timecodes
    rec.encoder = t.encoder_parameters()
    if disk_full(t):
        rec.status = "disk full (the file ends at the last complete frame, in step with its timestamps)"
        rec.fault = f"after {t.fault_elapsed_s or 0:.3f} s: {t.fault}"
    elif t.status == "fault":
        rec.status = "fault (the file holds every frame up to the fault and is playable)"
        rec.fault = f"after {t.fault_elapsed_s or 0:.3f} s and {rec.frames} frames: {t.fault}"
    else:
        rec.status = "ok"
    if t.rebased:
        rec.status += "; its clock differs from the session clock, timestamps count from its first frame"


def final_outcome(outcome: str, tracks: list[Any], max_drop_pct: float | None, warnings: list[str]) -> str:
    """The take's outcome once every track is joined: a full disk found by the last flush, a
    camera that failed while its file was finished, or too many dropped frames change it
    (their reasons go to ``warnings``)."""
    if outcome in ("complete", "stopped", "camera_fault") and any(disk_full(t) for t in tracks):
        warnings += [disk_full_warning(t) for t in tracks if disk_full(t)]
        return "disk_full"
    if outcome in ("complete", "stopped") and any(t.status == "fault" for t in tracks):
        warnings += [f"camera {t.index} ({t.spec.name}) failed while finishing its file: {t.fault}"
                     for t in tracks if t.status == "fault"]
        return "camera_fault"
    if outcome in ("complete", "stopped") and max_drop_pct is not None:
        over = [t for t in tracks if t.drop_pct > max_drop_pct]
        if over:
            warnings += [f"camera {t.index} ({t.spec.name}) dropped {t.dropped} of {t.stats().frames + t.dropped} "
                         f"frames ({t.drop_pct:.2f} %), more than record.max_drop_pct {max_drop_pct:g} %"
                         for t in over]
            return "complete_with_drops"
    return outcome
