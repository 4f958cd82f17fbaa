"""fastcore's error root. Every bad argument is also a ValueError naming the argument."""
from __future__ import annotations


class FastcoreError(Exception):
    """Root of the errors fastcore raises on purpose."""


class CarveInputError(FastcoreError, ValueError):
    """A bad argument to carve() or its backends; the message names it and the fix."""

    bad_input = True


class GridFileError(FastcoreError, ValueError):
    """A voxel-grid file that is missing, truncated, foreign or of an unknown dtype."""

    bad_input = True


class BackendUnavailable(FastcoreError, RuntimeError):
    """The asked-for backend is not installed or not built here; the message says how to get it."""

    bad_input = True
