"""What the operator chose in the console and keeps across restarts: the theme.

Kept in ``tui.json`` in the user state folder (platformdirs: ``$XDG_STATE_HOME/camdeck``,
by default ``~/.local/state/camdeck``), written atomically (camdeck.fileio.atomic).
The file also records the config's theme at the time: when someone edits ``[console] theme``
later, the config wins again (the newer decision), until the operator picks another.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from camdeck.fileio.atomic import write_text_atomic

log = logging.getLogger("camdeck.console.tui.ui_state")
STATE_FILE = "tui.json"


def state_path() -> Path:
    """The file the console's choices are kept in."""
    import platformdirs

    return Path(platformdirs.user_state_dir("camdeck")) / STATE_FILE


def saved_theme(config_theme: str) -> str | None:
    """The theme the operator chose last, unless the config's theme changed since (or none was saved).

    A missing, unreadable or damaged file counts as no choice (logged): the console still starts.
    """
    path = state_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        log.warning("ignoring %s (%s); fix: delete it, the next theme you choose rewrites it", path, err)
        return None
    if not isinstance(data, dict) or data.get("config_theme") != config_theme:
        return None
    theme = data.get("theme")
    return theme if isinstance(theme, str) else None


def save_theme(theme: str, config_theme: str) -> None:
    """Keep ``theme`` for the next start (a failure to write is logged, never raised: it is a preference)."""
    path = state_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({"theme": theme, "config_theme": config_theme}, indent=2) + "\n")
    except OSError as err:
        log.warning("could not keep the theme in %s: %s", path, err)
