"""Atomic file writes: a reader (or a crash) never sees a half-written file.

``replace_atomically(path, writer)`` calls ``writer(fh)`` on a temporary file in the same
folder (``.NAME.tmp-PID-XXXXXXXX.part``), flushes and fsyncs it, gives it the mode a plain
``open`` would, renames it over ``path`` and fsyncs the folder. On any failure (Ctrl-C included) the temporary file is
removed and ``path`` is left as it was; errors are the OSError the system raised. Only a
kill -9 leaves the temporary behind: ``fileio.leftovers.remove_stale_temporaries`` removes it
on the next start-up.
It is the one implementation for every package (fastcore included): fileio imports
nothing of ours, so it sits rightmost in the import order. Each package turns the
OSError into its own error; ``write_fix`` gives them the same fix text.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def replace_atomically(path: str | os.PathLike, writer: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically; ``writer`` gets a binary file handle and writes the whole content.

    Raises:
        OSError: the file cannot be written (full disk, permissions, missing folder).
        Whatever ``writer`` raises passes through unchanged.
    """
    path = Path(path)
    folder = path.parent
    # The PID in the name lets fileio.leftovers tell a dead writer's temporary (kill -9) from a live one's.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _mode_for(path))       # mkstemp makes 0600; give the file its usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
    return path


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """``data`` to ``path`` atomically (OSError on failure)."""
    return replace_atomically(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``text`` (UTF-8, newlines as given) to ``path`` atomically (OSError on failure)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_fix(err: OSError, folder: str | os.PathLike) -> str:
    """The fix to show when a write into ``folder`` failed with ``err``."""
    if err.errno in (errno.ENOENT, errno.ENOTDIR):
        return f"check that the folder {folder} exists"
    if err.errno == errno.EISDIR:
        return "give a file name, not a folder"
    return f"check free space and permissions in {folder}"


def _mode_for(path: Path) -> int:
    """The mode of the file being replaced, else 0666 less the umask (what open() would give)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    try:                                     # Linux: read it without changing it (thread-safe)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make the rename itself durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
