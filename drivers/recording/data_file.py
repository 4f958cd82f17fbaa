"""Recording session files: safe names, the files of a session, pre-flight checks, the data file.

A session ``NAME`` in folder ``DIR`` owns these files (docs/design.md, "Files the project writes"):

- ``NAME_camera_N.h264``: raw H.264 Annex B, one per camera (N from 1, in the order given);
- ``NAME_camera_N.pts.txt``: per-frame timestamps, mkvmerge "timecode format v2" (a header
  line, then one line per frame in file order: milliseconds since the session's common
  zero, which all cameras share), so ``mkvmerge --timestamps 0:NAME_camera_1.pts.txt``
  muxes it at the true speed and the skew between cameras is a subtraction;
- ``NAME_data.txt``: SESSION INFORMATION, TIMING INFORMATION, RECORDING PARAMETERS and one
  ``CAMERA n (label)`` section per camera. Written (atomically) when the cameras start,
  with the result "incomplete", and replaced when the session ends.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from camdeck.drivers.errors import DriverError

SESSION_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SESSION_NAME_RULE = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"


class RecordingError(DriverError):
    """Root of the recording errors."""


class UnsafeSessionName(RecordingError):
    """A session name that is empty or could escape the output folder."""

    bad_input = True


class SessionExists(RecordingError):
    """Files of the session are already there and overwriting was not allowed."""

    bad_input = True


class OutputNotWritable(RecordingError):
    """The output folder cannot be created or written."""

    bad_input = True


class NotEnoughDiskSpace(RecordingError):
    """Too little free space to start recording."""

    bad_input = True


def check_session_name(name: str) -> str:
    """Return ``name`` if it is a safe session name.

    Raises:
        UnsafeSessionName: empty, a path (``../x``, ``a/b``), or characters outside the safe set.
    """
    if not isinstance(name, str) or not SESSION_NAME_RE.fullmatch(name) or ".." in name:
        shown = repr(name) if isinstance(name, str) and name else "an empty name"
        raise UnsafeSessionName(f"session name {shown} is not allowed",
                                f"use {SESSION_NAME_RULE}, e.g. run-01")
    return name


@dataclass(frozen=True)
class SessionPaths:
    """The files of session ``name`` in ``folder`` for ``n_cameras`` cameras."""

    folder: Path
    name: str
    n_cameras: int
    video_ext: str = "h264"      # "mp4" for --format mp4 (drivers/recording/take.py)

    def video(self, index: int, part: int | None = None) -> Path:
        """``NAME_camera_N.h264`` for camera number ``index`` (from 1); ``NAME_camera_N_partK.h264``
        for part ``part`` of a segmented take."""
        return self.folder / f"{self.name}_camera_{index}{_part(part)}.{self.video_ext}"

    def timecodes(self, index: int, part: int | None = None) -> Path:
        return self.folder / f"{self.name}_camera_{index}{_part(part)}.pts.txt"

    @property
    def data(self) -> Path:
        return self.folder / f"{self.name}_data.txt"

    def planned(self) -> list[Path]:
        """Every file this session will write."""
        files = [self.data]
        for i in range(1, self.n_cameras + 1):
            files += [self.video(i), self.timecodes(i)]
        return files

    def existing(self) -> list[Path]:
        """Files of any earlier session of this name (any camera count) present now."""
        pattern = re.compile(re.escape(self.name) + r"_(data\.txt|camera_\d+(_part\d+)?\.(h264|mp4|pts\.txt))")
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if pattern.fullmatch(p.name))


def _part(part: int | None) -> str:
    return "" if part is None else f"_part{part}"


def check_output_folder(folder: Path, *, create: bool = True) -> Path:
    """Create ``folder`` if needed and prove it writable by writing a probe file.

    A real write, not ``os.access``: root ignores permission bits, and a read-only
    mount or a path under a file fails only on write.

    Raises:
        OutputNotWritable: naming the folder and the fix.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputNotWritable(f"output folder {folder} is a file", "give a folder path with --out")
    try:
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".camdeck-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputNotWritable(f"output folder {folder} is not writable ({err.strerror or err})",
                                "choose a folder you can write to with --out") from None
    return folder


def check_no_existing(paths: SessionPaths, overwrite: bool) -> list[Path]:
    """The files an overwrite would replace; empty when the name is free.

    Raises:
        SessionExists: files exist and ``overwrite`` is false.
    """
    found = paths.existing()
    if found and not overwrite:
        names = ", ".join(p.name for p in found[:3]) + (" ..." if len(found) > 3 else "")
        raise SessionExists(f"session {paths.name!r} already exists in {paths.folder} ({names})",
                            "choose another --session name, or pass --overwrite to replace it")
    return found


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system holding ``folder``."""
    return shutil.disk_usage(folder).free


def check_disk_space(folder: Path, need_bytes: int, disk_free: Callable[[Path], int] = free_bytes) -> int:
    """Free bytes in ``folder``; at least ``need_bytes`` or NotEnoughDiskSpace."""
    free = disk_free(folder)
    if free < need_bytes:
        raise NotEnoughDiskSpace(f"only {free / 1e6:.0f} MB free in {folder}, the session needs {need_bytes / 1e6:.0f} MB",
                                 "free some space, record to another --out folder, or shorten --duration")
    return free


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


def camera_configuration(spec: Any, camera: Any) -> dict[str, Any]:
    """The full configuration of an opened camera, for the data file (no secrets)."""
    from camdeck.drivers.base import Secret

    config: dict[str, Any] = {"driver": spec.driver, "model": spec.model, "label": spec.label}
    if spec.serial:
        config["serial"] = spec.serial
    if spec.resolution:
        config["resolution"] = f"{spec.resolution[0]}x{spec.resolution[1]}"
    config.update({k: v for k, v in spec.options.items() if not isinstance(v, Secret)})
    try:
        info = camera.info()
        config["output_size"] = f"{info.output_size[0]}x{info.output_size[1]}"
        config["sensor_size"] = f"{info.sensor_size[0]}x{info.sensor_size[1]}"
        config["pixel_format"] = info.pixel_format
        config["capabilities"] = ", ".join(c.name for c in type(info.capabilities) if c and c in info.capabilities)
    except Exception as err:  # record what we can; the session goes on
        config["info_error"] = f"{type(err).__name__}: {err}"
    try:
        config["controls"] = {name: c.value for name, c in sorted(camera.controls().items())}
    except Exception as err:
        config["controls_error"] = f"{type(err).__name__}: {err}"
    return config




# ---------------------------------------------------------------- timestamps

def read_timecodes(path: Path) -> list[float]:
    """Frame timestamps (ms since the session zero) from a timecodes-v2 sidecar."""
    values = []
    with open(path, encoding="ascii") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                values.append(float(line))
    return values


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


# ---------------------------------------------------------------- data file

@dataclass
class CameraRecord:
    """What the data file says about one camera of a session."""

    index: int
    name: str
    label: str
    video: Path
    timecodes: Path
    configuration: Mapping[str, Any] = field(default_factory=dict)
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
    notes: list[str] = field(default_factory=list)
    cameras: list[CameraRecord] = field(default_factory=list)
    take: Any = None                  # drivers/recording/take.TakeFacts: mp4, segments, pre-trigger


def _stamp(t: datetime | None) -> str:
    if t is None:
        return "-"
    local = t.astimezone()
    return f"{t.astimezone(timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')} " \
           f"(local {local.isoformat(timespec='milliseconds')})"


def _heading(title: str) -> list[str]:
    return [title, "=" * len(title)]


def _kv(key: str, value: Any) -> str:
    return f"{key + ':':<28}{value}"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def render_data_file(rec: SessionRecord, host: str = "", version: str = "") -> str:
    """The text of ``{session}_data.txt`` for ``rec``."""
    lines = _heading("SESSION INFORMATION")
    lines += [_kv("Session", rec.name), _kv("Folder", rec.folder.resolve()),
              _kv("Created", _stamp(rec.created_utc)),
              _kv("Mode", f"timer ({rec.duration_s:g} s)" if rec.mode == "timer" else "manual (until stopped)"),
              _kv("Countdown", f"{rec.countdown_s:g} s"), _kv("Preset", rec.preset or "none"),
              _kv("Cameras", len(rec.cameras)), _kv("Result", rec.result)]
    if host:
        lines.append(_kv("Host", host))
    if version:
        lines.append(_kv("camdeck", version))
    lines += [f"Note: {n}" for n in rec.notes]
    lines += [""] + _heading("TIMING INFORMATION")
    lines += [_kv("Start", _stamp(rec.start_utc)), _kv("End", _stamp(rec.end_utc)),
              _kv("Requested duration", f"{rec.duration_s:g} s" if rec.duration_s else "manual"),
              _kv("Elapsed", f"{rec.elapsed_s:.3f} s" if rec.elapsed_s is not None else "-"),
              _kv("Timestamps", "per frame in NAME_camera_N.pts.txt (timecode format v2, ms since the common zero)")]
    for cam in rec.cameras:
        s = timing_summary(cam.times_ms)
        if s["frames"]:
            lines.append(_kv(f"Camera {cam.index} frames", f"first {s['first_ms']:.3f} ms, last {s['last_ms']:.3f} ms, "
                                                           f"mean {s['mean_fps']:.3f} fps, largest gap {s['max_gap_ms']:.3f} ms"))
        else:
            lines.append(_kv(f"Camera {cam.index} frames", "none"))
    first = rec.cameras[0] if rec.cameras else None
    for other in rec.cameras[1:]:
        sk = skew_ms(first.times_ms, other.times_ms)
        text = "-" if sk is None else (f"start offset {sk['start_offset_ms']:+.3f} ms, median |skew| "
                                       f"{sk['median_abs_ms']:.3f} ms, max |skew| {sk['max_abs_ms']:.3f} ms")
        lines.append(_kv(f"Skew camera {other.index} vs 1", text))
    lines += [""] + _heading("RECORDING PARAMETERS")
    lines += [_kv("Container", rec.take.container if rec.take is not None
                  else "raw H.264 elementary stream (Annex B), one file per camera"),
              _kv("Flush interval", f"{rec.flush_interval_s:g} s (data fsync'd; a power cut loses at most this)")]
    if first is not None:
        for key, value in first.encoder.items():
            if key not in ("size", "nominal_fps"):
                lines.append(_kv(key.replace("_", " ").capitalize(), _value(value)))
    from camdeck.drivers.recording.take import take_lines
    lines += take_lines(rec)
    for cam in rec.cameras:
        lines += [""] + _heading(f"CAMERA {cam.index} ({cam.label or cam.name})")
        lines += [_kv("Name", cam.name), _kv("File", cam.video.name), _kv("Timestamps file", cam.timecodes.name),
                  _kv("Start", _stamp(cam.start_utc)), _kv("End", _stamp(cam.end_utc)),
                  _kv("Frames", cam.frames), _kv("Dropped frames", cam.dropped),
                  _kv("File size", f"{cam.bytes_written} bytes"), _kv("Status", cam.status)]
        if cam.fault:
            lines.append(_kv("Fault", cam.fault))
        for key in ("size", "nominal_fps"):
            if key in cam.encoder:
                lines.append(_kv(f"Encoder {key.replace('_', ' ')}", _value(cam.encoder[key])))
        lines.append("Configuration:")
        lines += _config_lines(cam.configuration, indent="  ")
    return "\n".join(lines) + "\n"


def _config_lines(config: Mapping[str, Any], indent: str) -> list[str]:
    out = []
    for key, value in config.items():
        if isinstance(value, Mapping) and value:
            out.append(f"{indent}{key}:")
            out += _config_lines(value, indent + "  ")
        else:
            out.append(f"{indent}{key} = {_value(value)}")
    return out


def parse_data_file(text: str) -> dict[str, dict[str, str]]:
    """Sections of a data file -> {section title: {key: value}} (for tests and tools)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and lines[i + 1] and set(lines[i + 1]) == {"="} and len(lines[i + 1]) == len(line):
            current = sections.setdefault(line, {})
            continue
        if current is None or not line or set(line) == {"="}:
            continue
        if ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            current.setdefault(key.strip(), value.strip())
        elif "=" in line:
            key, _, value = line.strip().partition("=")
            current.setdefault("config." + key.strip(), value.strip())
    return sections


def remove_files(paths: Iterable[Path]) -> None:
    """Delete files of an earlier session before an overwrite (missing ones are fine)."""
    for p in paths:
        Path(p).unlink(missing_ok=True)
