"""Asks before a recording replaces an existing session's files (the TUI's --overwrite)."""
from __future__ import annotations

from camdeck.console.tui.screens.confirm import ConfirmScreen


class ConfirmOverwrite(ConfirmScreen):
    """Returns True to replace the files, False to keep them (the default: escape, n)."""

    def __init__(self, session: str, files: list[str]) -> None:
        shown = ", ".join(files[:4]) + (f" and {len(files) - 4} more" if len(files) > 4 else "")
        super().__init__("session exists", [f"Session {session!r} already has files: {shown}.",
                                            "Replace them? (y / n)"],
                         yes="Replace", no="Keep", yes_id="replace", no_id="keep")
        self.session = session
        self.files = files

