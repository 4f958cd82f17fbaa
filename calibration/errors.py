"""Calibration errors: one root, ``CalibrationError``; every raise builds a new instance with the fix.

Subclasses that mean "the user's input cannot be used" carry ``bad_input = True``; the CLI maps
those to exit code 2 and everything else to 1.
"""
from __future__ import annotations


class CalibrationError(Exception):
    """Root of every calibration error.

    Args:
        message: what went wrong, naming the file, option or value.
        fix: what the user can do about it (shown after the message).
    """

    bad_input = False

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}; fix: {fix}" if fix else message)


class CalibrationInputError(CalibrationError, ValueError):
    """Bad input: a wrong argument, board spec, image or file. The CLI exits 2."""

    bad_input = True


class BoardSpecError(CalibrationInputError):
    """A board description that cannot be parsed or is out of range (``--board 9x6``)."""


class BoardMismatch(CalibrationInputError):
    """No image shows a board of the given size: ``--board`` does not match the images."""


class NotEnoughViews(CalibrationInputError):
    """Fewer usable views than the solver needs.

    Attributes:
        found: usable views (or pairs) found.
        needed: the minimum asked for.
    """

    def __init__(self, message: str, fix: str = "", *, found: int = 0, needed: int = 0) -> None:
        self.found = found
        self.needed = needed
        super().__init__(message, fix)


class CalibrationFileError(CalibrationInputError):
    """A calibration.npz / stereo.npz / PLY file that is missing, corrupt or incomplete."""


class SolveFailed(CalibrationError):
    """The solver ran on good input and did not converge (exit 1)."""


class CalibrationWriteError(CalibrationError):
    """An output file (calibration.npz, stereo.npz, R_align.npy, a report, a PLY) could not be written:
    a full disk, no permission, a missing folder. The old file, if any, is left as it was (exit 1)."""
