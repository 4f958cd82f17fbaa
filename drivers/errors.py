"""Typed driver errors. Every raise builds a new instance carrying the fix for the user."""
from __future__ import annotations


class DriverError(Exception):
    """Root of every driver error.

    Args:
        message: what went wrong, naming the camera or file.
        fix: what the user can do about it (shown after the message).
    """

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}; fix: {fix}" if fix else message)


class CameraNotFound(DriverError):
    """The camera named in the config is not connected or not configured."""


class UnknownCamera(CameraNotFound):
    """A camera name that config.toml does not define: bad input (exit 2)."""

    bad_input = True


class CaptureTimeout(DriverError):
    """No frame arrived within the capture timeout."""


class CameraDisconnected(DriverError):
    """The camera went away mid-session (unplugged, power lost)."""


class ControlError(DriverError):
    """A control name or value the camera rejects."""


class DriverUnavailable(DriverError):
    """The library or SDK a driver needs is missing; the fix says how to install it."""


class NotSupported(DriverError):
    """The camera has no such capability (a PTZ call on a fixed camera, say)."""


class Stopped(DriverError):
    """A wait ended early because the caller set its ``stop`` event (an operator quitting, say)."""
