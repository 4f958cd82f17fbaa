"""Monitoring errors: one root, ``MonitoringError``; every raise builds a new instance with the fix.

Subclasses that mean "the user's input cannot be used" carry ``bad_input = True``; the CLI maps
those to exit code 2 and everything else to 1. Messages never hold a secret (token, webhook
URL, password): they are built from names and statuses, never from a client's own error text.
"""
from __future__ import annotations


class MonitoringError(Exception):
    """Root of every monitoring error.

    Args:
        message: what went wrong, naming the device, file, option or service.
        fix: what the user can do about it (shown after the message).
    """

    bad_input = False

    def __init__(self, message: str, fix: str = "") -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message}; fix: {fix}" if fix else message)


class MonitoringInputError(MonitoringError, ValueError):
    """Bad input: a wrong option, device name, shard, or a missing/corrupt file. The CLI exits 2."""

    bad_input = True


class ScanError(MonitoringError):
    """A scan that could not be completed, or a device it names that cannot be used."""


class HistoryError(MonitoringError):
    """The history database cannot be opened, read or written."""


class CloudError(MonitoringError):
    """S3 or Athena refused or could not be reached (uploads go to the spool instead)."""


class NotifyError(MonitoringError):
    """Slack refused the message or could not be reached."""
