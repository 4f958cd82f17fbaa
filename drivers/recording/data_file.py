"""The session data file ``{session}_data.txt``, in the origin's format, then camdeck's own section.

The recorder replaces a PyQt app whose users parse its data file, so the file keeps that app's
banner, sections, labels, order and value formats (tests/drivers/data/origin_data_file_sample.txt
holds a sample; the app's manual is not available here, so the sample was rebuilt from the
labels the issue lists):

    RECORDING SESSION DATA (banner)
    SESSION INFORMATION      Session Name, Save Path
    TIMING INFORMATION       Start Date/Time, End Date/Time, Total Duration (HH:MM:SS), Elapsed Seconds
    RECORDING PARAMETERS     Stop Method (Manual|Timer), Timer Duration, Recording Delay (Countdown)
    CAMERA n (Role)          Video File, Start Time, End Time, Camera Configuration (the camera's
                             applied controls: FrameDurationLimits, ExposureTime, Resolution, then
                             the others by name; the driver's controls only)

camdeck's own figures follow in one section after those, ``CAMDECK DETAILS``: the result, frames,
drops, skew, encoder settings, the timestamps files and every change made during the take (also
in ``{session}_events.txt``); a take written as MP4, in parts or with a pre-trigger buffer says so
there too (its container, each camera's parts, where the trigger lies: drivers/recording/take.py),
never in the origin's sections. No label appears twice with two meanings. Dates and times are the
recording machine's local time, as the origin wrote them; camdeck's section adds UTC.

The file is written (atomically) when the take starts, with the result "incomplete", and
replaced when it ends. The session's other files and the pre-flight checks are in
drivers/recording/session_files.py (re-exported here for older callers).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from camdeck.drivers.recording.session_files import (  # noqa: F401  (callers import them from here)
    SESSION_NAME_RE, SESSION_NAME_RULE, NotEnoughDiskSpace, OutputNotWritable, RecordingError, SessionExists,
    SessionPaths, UnsafeSessionName, check_disk_space, check_no_existing, check_output_folder, check_session_name,
    free_bytes, read_timecodes, remove_files,
)

BANNER = "RECORDING SESSION DATA"
ORIGIN_SECTIONS = ("SESSION INFORMATION", "TIMING INFORMATION", "RECORDING PARAMETERS")
DETAILS = "CAMDECK DETAILS"
FIRST_CONTROLS = ("FrameDurationLimits", "ExposureTime", "Resolution")   # the origin's order, then by name
RULE = "=" * 50
H264_CONTAINER = "raw H.264 elementary stream (Annex B), one file per camera"   # drivers/recording/take.py


# ---------------------------------------------------------------- camera facts

def nominal_fps(camera: Any) -> float:
    """The camera's frame rate if it says (info().extra fps or frame_period_us, FrameDurationLimits), else 30."""
    try:
        extra = camera.info().extra
        if extra.get("fps"):
            return float(extra["fps"])
        if extra.get("frame_period_us"):
            return 1e6 / float(extra["frame_period_us"])
        limits = camera.controls().get("FrameDurationLimits")
        if limits is not None and limits.value:
            value = limits.value
            frame_us = value[0] if isinstance(value, (tuple, list)) else value
            return 1e6 / float(frame_us) if frame_us else 30.0
    except Exception:  # a driver without these facts still records at the default rate
        pass
    return 30.0


def camera_role(spec: Any) -> str:
    """The name in the camera's heading (``CAMERA 1 (LightRoom)``): its ``role`` config key,
    else its ``label``, else its config name."""
    return " ".join(str(spec.options.get("role") or spec.label or spec.name).split())    # one line


def applied_controls(spec: Any, camera: Any) -> dict[str, Any]:
    """The camera's applied controls for "Camera Configuration:" (the driver's controls only,
    never config keys such as a simulator's pose or fault switches), in the origin's order:
    FrameDurationLimits, ExposureTime, Resolution (the output size), then the rest by name.
    A control without a value (auto white balance gains before the first frame) is left out."""
    try:
        values = {name: c.value for name, c in camera.controls().items() if c.value is not None}
    except Exception as err:  # record what we can; the session goes on
        values = {"error": f"{type(err).__name__}: {err}"}
    try:
        width, height = camera.info().output_size
    except Exception:  # a camera that cannot say: the configured size
        width, height = spec.resolution or (0, 0)
    if width and height:
        values["Resolution"] = f"{width}x{height}"
    ordered = {name: values[name] for name in FIRST_CONTROLS if name in values}
    ordered.update((name, values[name]) for name in sorted(values) if name not in ordered)
    return ordered


def camera_facts(spec: Any, camera: Any) -> dict[str, str]:
    """What camdeck adds about a camera (its section): driver, model, label, sensor, pixel format."""
    facts = {"driver": spec.driver, "model": spec.model}
    if spec.label:
        facts["label"] = spec.label
    try:
        info = camera.info()
        facts["sensor"] = f"{info.sensor_size[0]}x{info.sensor_size[1]}"
        facts["pixel format"] = str(info.pixel_format)
    except Exception:  # the controls and files matter more; the session goes on
        pass
    return facts


# ---------------------------------------------------------------- timestamps

def timing_summary(times_ms: Sequence[float]) -> dict[str, Any]:
    """First/last timestamp, mean fps and the largest gap of one camera's frames."""
    if not times_ms:
        return {"frames": 0}
    gaps = [b - a for a, b in zip(times_ms, times_ms[1:])]
    span = times_ms[-1] - times_ms[0]
    fps = (len(times_ms) - 1) / (span / 1000.0) if span > 0 else 0.0
    return {"frames": len(times_ms), "first_ms": times_ms[0], "last_ms": times_ms[-1],
            "mean_fps": fps, "max_gap_ms": max(gaps) if gaps else 0.0}


def skew_ms(a: Sequence[float], b: Sequence[float]) -> dict[str, float] | None:
    """Skew between two cameras: for each frame of ``a``, the offset to the nearest frame of ``b``.

    Returns the start offset (b's first frame minus a's) and the median and largest
    absolute nearest-frame offsets over the time both recorded, in ms; None when either
    camera has no frames.
    """
    import bisect

    if not a or not b:
        return None
    lo, hi = max(a[0], b[0]), min(a[-1], b[-1])   # only while both cameras were recording
    overlap = [t for t in a if lo <= t <= hi] or [a[0]]
    offsets = []
    for t in overlap:
        i = bisect.bisect_left(b, t)
        near = [b[j] for j in (i - 1, i) if 0 <= j < len(b)]
        offsets.append(min((n - t for n in near), key=abs))
    ab = sorted(abs(o) for o in offsets)
    return {"start_offset_ms": b[0] - a[0], "median_abs_ms": ab[len(ab) // 2], "max_abs_ms": ab[-1]}


# ---------------------------------------------------------------- the file


@dataclass
class CameraRecord:
    """What the data file says about one camera of a session."""

    index: int
    name: str
    role: str
    video: Path
    timecodes: Path
    controls: Mapping[str, Any] = field(default_factory=dict)
    facts: Mapping[str, str] = field(default_factory=dict)
    encoder: Mapping[str, Any] = field(default_factory=dict)
    start_utc: datetime | None = None
    end_utc: datetime | None = None
    frames: int = 0
    dropped: int = 0
    bytes_written: int = 0
    status: str = "recording"
    fault: str = ""
    times_ms: Sequence[float] = ()
    segments: Sequence[Any] = ()      # drivers/recording/segments.Segment per part of a segmented take


@dataclass
class SessionRecord:
    """Everything the data file holds."""

    name: str
    folder: Path
    mode: str                       # "timer" or "manual"
    duration_s: float | None
    countdown_s: float
    preset: str | None
    created_utc: datetime
    result: str = "incomplete (the session did not finish; files hold what was flushed)"
    start_utc: datetime | None = None
    end_utc: datetime | None = None
    elapsed_s: float | None = None
    flush_interval_s: float = 1.0
    fps: float | None = None        # the rate every camera was pinned to (None: their own)
    max_drop_pct: float | None = None
    events_file: str = ""
    changes: list[str] = field(default_factory=list)     # one line per change, "+12.345 s ..."
    notes: list[str] = field(default_factory=list)
    cameras: list[CameraRecord] = field(default_factory=list)
    take: Any = None                  # drivers/recording/take.TakeFacts: mp4, segments, pre-trigger (None: h264)


def _local(t: datetime | None, fmt: str, ms: bool = False) -> str:
    if t is None:
        return "N/A"
    local = t.astimezone()
    text = local.strftime(fmt)
    return text + f".{local.microsecond // 1000:03d}" if ms else text


def _utc(t: datetime | None) -> str:
    return "-" if t is None else t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _hms(seconds: float | None) -> str:
    s = max(0, int(round(seconds or 0.0)))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _heading(title: str) -> list[str]:
    return [title, "-" * len(title)]


def _kv(key: str, value: Any) -> str:
    """camdeck's section: labels padded into a column (the origin's sections use ``Label: value``)."""
    return f"{key + ':':<28}{value}"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _origin_sections(rec: SessionRecord) -> list[str]:
    lines = [RULE, BANNER, RULE, ""]
    lines += _heading("SESSION INFORMATION")
    # a folder name may hold a line break: the file keeps one label per line
    lines += [f"Session Name: {rec.name}", f"Save Path: {' '.join(str(rec.folder.resolve()).splitlines())}", ""]
    lines += _heading("TIMING INFORMATION")
    lines += [f"Start Date/Time: {_local(rec.start_utc, '%Y-%m-%d %H:%M:%S')}",
              f"End Date/Time: {_local(rec.end_utc, '%Y-%m-%d %H:%M:%S')}",
              f"Total Duration: {_hms(rec.elapsed_s)}",
              f"Elapsed Seconds: {rec.elapsed_s or 0.0:.2f}", ""]
    lines += _heading("RECORDING PARAMETERS")
    timer = f"{rec.duration_s / 60:g} minutes" if rec.mode == "timer" and rec.duration_s else "N/A"
    lines += [f"Stop Method: {'Timer' if rec.mode == 'timer' else 'Manual'}", f"Timer Duration: {timer}",
              f"Recording Delay (Countdown): {rec.countdown_s:g} seconds", ""]
    for cam in rec.cameras:
        lines += _heading(f"CAMERA {cam.index} ({cam.role})")
        lines += [f"Video File: {cam.video.name}", f"Start Time: {_local(cam.start_utc, '%H:%M:%S', ms=True)}",
                  f"End Time: {_local(cam.end_utc, '%H:%M:%S', ms=True)}", "Camera Configuration:"]
        lines += [f"  {name}: {_value(value)}" for name, value in cam.controls.items()]
        lines.append("")
    return lines


def _details(rec: SessionRecord, host: str, version: str) -> list[str]:
    lines = _heading(DETAILS)
    lines += [_kv("Result", rec.result), _kv("Start (UTC)", _utc(rec.start_utc)), _kv("End (UTC)", _utc(rec.end_utc)),
              _kv("Preset at start", rec.preset or "none"),
              _kv("Frame rate", f"{rec.fps:g} fps, pinned on every camera (FrameDurationLimits)" if rec.fps
                  else "each camera's own"),
              _kv("Drop limit", f"{rec.max_drop_pct:g} % (record.max_drop_pct)" if rec.max_drop_pct is not None
                  else "none"),
              _kv("Container", rec.take.container if rec.take is not None else H264_CONTAINER),
              _kv("Timestamps", f"per frame in NAME_camera_N{'_partK' if _segmented(rec) else ''}.pts.txt "
                                "(timecode format v2, ms since the take's zero)"),
              _kv("Flush interval", f"{rec.flush_interval_s:g} s (data fsync'd; a power cut loses at most this)")]
    lines += _pretrigger_lines(rec.take)
    if host:
        lines.append(_kv("Host", host))
    if version:
        lines.append(_kv("camdeck version", version))
    first = rec.cameras[0] if rec.cameras else None
    for cam in rec.cameras:
        n = f"Camera {cam.index}"
        s = timing_summary(cam.times_ms)
        made = cam.frames + cam.dropped
        lines += [_kv(f"{n} name", cam.name),
                  _kv(f"{n} camera", ", ".join(f"{k} {v}" for k, v in cam.facts.items()) or "-"),
                  _kv(f"{n} timestamps file", cam.timecodes.name), _kv(f"{n} status", cam.status)]
        if cam.fault:
            lines.append(_kv(f"{n} fault", cam.fault))
        lines += [_kv(f"{n} frames", cam.frames),
                  _kv(f"{n} dropped frames", f"{cam.dropped} ({100.0 * cam.dropped / made if made else 0.0:.2f} %)"),
                  _kv(f"{n} file size", f"{cam.bytes_written} bytes"),
                  _kv(f"{n} timing", f"first {s['first_ms']:.3f} ms, last {s['last_ms']:.3f} ms, mean "
                                     f"{s['mean_fps']:.3f} fps, largest gap {s['max_gap_ms']:.3f} ms"
                      if s["frames"] else "no frames"),
                  _kv(f"{n} encoder", ", ".join(f"{k.replace('_', ' ')} {_value(v)}" for k, v in cam.encoder.items())
                      or "-")]
        if first is not None and cam is not first:
            sk = skew_ms(first.times_ms, cam.times_ms)
            lines.append(_kv(f"{n} skew vs camera 1", "-" if sk is None else
                             f"start offset {sk['start_offset_ms']:+.3f} ms, median |skew| "
                             f"{sk['median_abs_ms']:.3f} ms, max |skew| {sk['max_abs_ms']:.3f} ms"))
        lines += _camera_take_lines(rec.take, cam)
    lines.append(_kv("Events file", rec.events_file or "-"))
    lines.append(_kv("Changes during the take", len(rec.changes)))
    lines += [_kv("Change", line) for line in rec.changes]
    lines += [_kv("Note", note) for note in rec.notes]
    return lines


def _segmented(rec: SessionRecord) -> bool:
    return rec.take is not None and bool(rec.take.segment_s)


def _pretrigger_lines(take: Any) -> list[str]:
    """The pre-trigger facts of a take (drivers/recording/take.TakeFacts; none without a buffer)."""
    if take is None or not take.pretrigger_s:
        return []
    lines = [_kv("Pre-trigger buffer", f"{take.pretrigger_s:g} s (frames from before the trigger start at a keyframe)")]
    if take.trigger_ms is not None:
        lines.append(_kv("Trigger", f"{take.trigger_ms:.3f} ms into the timestamps, by {take.trigger_by}"
                                    + (f", after {take.armed_s:.3f} s armed" if take.armed_s is not None else "")))
    return lines


def _camera_take_lines(take: Any, cam: CameraRecord) -> list[str]:
    """A camera's frames before the trigger and its parts (a segmented take), in its own lines."""
    lines = []
    if take is not None and take.pretrigger_s and take.trigger_ms is not None:
        before = sum(1 for t in cam.times_ms if t < take.trigger_ms)
        lines.append(_kv(f"Camera {cam.index} pre-trigger", f"{before} frames before the trigger"))
    for part in cam.segments:
        span = "no frames" if part.first_ms is None else f"{part.first_ms:.3f} to {part.last_ms:.3f} ms"
        lines.append(_kv(f"Camera {cam.index} part {part.part}",
                         f"{part.video.name}, {part.timecodes.name if part.timecodes else '-'}, {part.frames} frames, "
                         f"{span}, {part.bytes_written} bytes"))
    return lines


def render_data_file(rec: SessionRecord, host: str = "", version: str = "") -> str:
    """The text of ``{session}_data.txt`` for ``rec``: the origin's sections, then camdeck's."""
    return "\n".join(_origin_sections(rec) + _details(rec, host, version)) + "\n"


# ---------------------------------------------------------------- reading it back

_UNDERLINE = re.compile(r"(-+|=+)")


def data_file_outline(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The file's sections in order, each with its (label, value) pairs in order; a
    "Camera Configuration:" entry's indented lines come as ("  NAME", value).

    The banner (a title between two rules of ``=``) is a section with no labels."""
    outline: list[tuple[str, list[tuple[str, str]]]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line and not line.startswith(" ") and _UNDERLINE.fullmatch(nxt) and (len(nxt) == len(line) or nxt == RULE):
            outline.append((line, []))
            continue
        if not line.strip() or _UNDERLINE.fullmatch(line) or not outline:
            continue
        key, sep, value = line.partition(":")
        if sep:
            outline[-1][1].append((key.rstrip() if key.startswith("  ") else key.strip(), value.strip()))
    return outline


def parse_data_file(text: str) -> dict[str, dict[str, str]]:
    """Sections of a data file -> {section title: {label: value}} (the first value of a label
    seen twice, e.g. camdeck's "Change" lines); a camera's configuration entries come as
    ``config.NAME``."""
    sections: dict[str, dict[str, str]] = {}
    for title, pairs in data_file_outline(text):
        section = sections.setdefault(title, {})
        for key, value in pairs:
            section.setdefault("config." + key.strip() if key.startswith("  ") else key, value)
    return sections
