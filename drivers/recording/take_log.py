"""The changes made during a take: ``{session}_events.txt``, written as they happen.

Every control or preset change applied to a camera while a take runs is one line, with its time
from the take's start (the cameras' first frames), so the frames it changed can be found. The
line is written and fsync'd at once, so a take that is killed keeps every change made before;
the session's data file lists the same lines at the end (its "Change" lines).

A line: ``+12.345 s<TAB>camera 1 (lightroom)<TAB>preset 'dim'<TAB>ExposureTime 20000 -> 8000``.
A change made before the take's zero is known (while the cameras deliver their first frames)
has a negative time.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

from camdeck.drivers.errors import DriverError

HEADER = "# camdeck take events: seconds from the take's start (its first frames), camera, source, change"


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return str(value)


def control_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{control: (old, new)} for every control whose value differs between two snapshots."""
    return {name: (before.get(name), value) for name, value in after.items() if before.get(name) != value}


def control_values(camera: Any) -> dict[str, Any]:
    """The camera's current control values ({} when it cannot say: a vanished camera)."""
    try:
        return {name: c.value for name, c in camera.controls().items()}
    except Exception:  # the change is still logged, without its old values
        return {}


class TakeLog:
    """The events file of one take (thread-safe: the TUI's workers log while the session runs).

    Args:
        path: ``{session}_events.txt`` (replaced if it exists: the overwrite check came first).
        clock: the session clock (ns).
    """

    def __init__(self, path: Path, clock: Callable[[], int]) -> None:
        self.path = Path(path)
        self.clock = clock
        self.lines: list[str] = []
        self.error: OSError | None = None     # the file could not be written (the lines are kept)
        self._zero: int | None = None
        self._pending: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._fd: int | None = None

    def open(self) -> None:
        """Create the file with its header (a failure is kept in ``error``; the take goes on)."""
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._write(HEADER + "\n")
        except OSError as err:
            self.error = err

    def set_zero(self, zero_ns: int) -> None:
        """The take's zero: changes logged before it are written now, with negative times."""
        with self._lock:
            self._zero = int(zero_ns)
            pending, self._pending = self._pending, []
        for at_ns, text in pending:
            self._add(at_ns, text)

    def log(self, index: int, camera: str, source: str, changes: Mapping[str, tuple[Any, Any]]) -> list[str]:
        """Log one change per control: ``changes`` maps a control to (old, new). Returns the lines."""
        at_ns = self.clock()
        texts = [f"camera {index} ({camera})\t{source}\t{name} {_shown(old)} -> {_shown(new)}"
                 for name, (old, new) in changes.items()]
        with self._lock:
            if self._zero is None:
                self._pending += [(at_ns, t) for t in texts]
                return []
        return [self._add(at_ns, t) for t in texts]

    def _add(self, at_ns: int, text: str) -> str:
        line = f"{(at_ns - self._zero) / 1e9:+.3f} s\t{text}"
        with self._lock:
            self.lines.append(line)
            self._write(line + "\n")
        return line

    def _write(self, text: str) -> None:
        if self._fd is None or self.error is not None:
            return
        try:
            data = text.encode("utf-8")
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except OSError as err:   # a full disk: the data file still lists the change
            self.error = err

    def close(self) -> None:
        """Close the file; lines logged while the zero was unknown are written with the time of
        the close as their zero's stand-in (a take that never started)."""
        if self._pending:
            self.set_zero(self.clock())
        with self._lock:
            if self._fd is not None:
                try:
                    os.close(self._fd)
                except OSError:
                    pass
                self._fd = None


class TakeChanges:
    """Changes to a running session's cameras, logged with their time (a RecordingSession mixin:
    it needs ``cameras``, ``log`` and ``_change_lock``)."""

    cameras: list[Any]
    log: TakeLog | None
    _change_lock: threading.Lock

    def set_controls(self, camera: int | str, source: str = "controls", **values: Any) -> dict[str, tuple[Any, Any]]:
        """Set controls of one open camera (by number from 1, or name) and log the change during a take.

        Args:
            camera: 1, 2, ... in file order, or the camera's name.
            source: who changed it, for the log ("controls", "camera form", ...).
            values: control name -> value, as ``Camera.set_controls`` takes them.

        Returns:
            {control: (old, new)} of what changed.

        Raises:
            DriverError: no such camera is open; ControlError: the camera refused a value.
        """
        cams = list(self.cameras)
        index = camera if isinstance(camera, int) else next(
            (i for i, c in enumerate(cams, 1) if c.name == camera), 0)
        if not 1 <= index <= len(cams):
            raise DriverError(f"no camera {camera!r} is open in this session", "start the session first")
        cam = cams[index - 1]
        with self._change_lock:
            before = control_values(cam)
            cam.set_controls(**values)
            return self.log_change(index, cam, source, before)

    def log_change(self, index: int, cam: Any, source: str, before: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Log what changed on camera ``index`` since the snapshot ``before`` (control_values);
        nothing outside a take. Returns {control: (old, new)}."""
        changes = control_changes(before, control_values(cam)) if before else {}
        if self.log is not None and changes:
            self.log.log(index, cam.name, source, changes)
        return changes


def data_file_line(line: str) -> str:
    """An events-file line as the data file's "Change" value (tabs become two spaces)."""
    return line.replace("\t", "  ")
