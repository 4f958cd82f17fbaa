"""The files of a recording session and the checks before it starts.

A session ``NAME`` in folder ``DIR`` owns these files (docs/design.md, "Files the project writes"):

- ``NAME_camera_N.h264``: raw H.264 Annex B, one per camera (N from 1, in the order given),
  or ``NAME_camera_N.mp4`` (fragmented MP4, each frame's timestamp as its pts) with
  ``--format mp4``; a segmented take (``--segment``) writes ``NAME_camera_N_partK.{h264|mp4}``
  and ``NAME_camera_N_partK.pts.txt``, K from 1 (drivers/recording/take.py);
- ``NAME_camera_N.pts.txt``: per-frame timestamps, mkvmerge "timecode format v2" (a header
  line, then one line per frame in file order: milliseconds since the take's common zero,
  which all cameras share), so ``mkvmerge --timestamps 0:NAME_camera_1.pts.txt`` muxes it
  at the true speed and the skew between cameras is a subtraction;
- ``NAME_events.txt``: every control or preset change during the take, with its time from
  the take's start, written as it happens (drivers/recording/take_log.py);
- ``NAME_data.txt``: the origin's data file (drivers/recording/data_file.py).

Pre-flight checks (safe name, writable folder, no earlier session, free space) raise
errors with ``bad_input = True``: the CLI exits 2 with the fix.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

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
        for part ``part`` of a segmented take (``.mp4`` when ``video_ext`` says so)."""
        return self.folder / f"{self.name}_camera_{index}{_part(part)}.{self.video_ext}"

    def timecodes(self, index: int, part: int | None = None) -> Path:
        """``NAME_camera_N.pts.txt`` (``NAME_camera_N_partK.pts.txt`` for a part): the per-frame
        timestamps of camera ``index``."""
        return self.folder / f"{self.name}_camera_{index}{_part(part)}.pts.txt"

    @property
    def events(self) -> Path:
        """``NAME_events.txt``: the changes made during the take."""
        return self.folder / f"{self.name}_events.txt"

    @property
    def reserve(self) -> Path:
        """A hidden file holding room for the final data file while the take runs (a full disk
        frees it, so the data file can still say what happened)."""
        return self.folder / f".{self.name}_data.reserve"

    @property
    def data(self) -> Path:
        return self.folder / f"{self.name}_data.txt"

    def planned(self) -> list[Path]:
        """Every file this session will write."""
        files = [self.data, self.events]
        for i in range(1, self.n_cameras + 1):
            files += [self.video(i), self.timecodes(i)]
        return files

    def existing(self) -> list[Path]:
        """Files of any earlier session of this name (any camera count) present now."""
        pattern = re.compile(re.escape(self.name) + r"_(data\.txt|events\.txt|camera_\d+(_part\d+)?\.(h264|mp4|pts\.txt))")
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


def read_timecodes(path: Path) -> list[float]:
    """Frame timestamps (ms since the session zero) from a timecodes-v2 sidecar."""
    values = []
    with open(path, encoding="ascii") as fh:
        for line in fh:
            line = line.strip()
            if line and not line.startswith("#"):
                values.append(float(line))
    return values


def remove_files(paths: Iterable[Path]) -> None:
    """Delete files of an earlier session before an overwrite (missing ones are fine)."""
    for p in paths:
        Path(p).unlink(missing_ok=True)
