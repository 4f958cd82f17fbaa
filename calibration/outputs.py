"""Calibration outputs (calibration.npz, stereo.npz, R_align.npy, PLY, reports) written atomically.

The write itself is :func:`camdeck.fileio.atomic.replace_atomically`; what calibration adds
is its error: an OSError becomes a ``CalibrationWriteError`` that names the file and the fix,
so the CLI prints one line and exits 1.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any, Callable

from camdeck.calibration.errors import CalibrationWriteError
from camdeck.fileio.atomic import replace_atomically, write_fix


def write_atomic(path: str | os.PathLike, writer: Callable[[IO[bytes]], Any]) -> Path:
    """A calibration output written atomically; ``writer`` gets a binary file handle.

    Raises:
        CalibrationWriteError: the file cannot be written (full disk, permissions, missing folder).
        Whatever ``writer`` raises, other than OSError, passes through unchanged.
    """
    path = Path(path)
    try:
        return replace_atomically(path, writer)
    except OSError as err:
        raise CalibrationWriteError(f"{path}: cannot be written ({err.strerror or err})",
                                    write_fix(err, path.parent)) from None
