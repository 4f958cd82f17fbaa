"""One safe-name check for every name that becomes a path or a key: deployments, cameras, rigs,
sessions, presets, scans.

A safe name is 1 to 64 letters, digits, '-', '_' or '.', starts with a letter or digit and has
no '..'. It can never climb out of its folder, hide itself (a leading '.'), or carry a terminal
escape. fileio imports nothing of ours.
"""
from __future__ import annotations

import re

SAFE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SAFE_NAME_RULE = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit, without '..'"


class UnsafeName(ValueError):
    """A name that cannot become a file or folder name. ``str()`` names the field and the fix."""

    bad_input = True


def is_safe_name(name: object) -> bool:
    """True when ``name`` passes ``check_safe_name``."""
    return isinstance(name, str) and SAFE_NAME_RE.fullmatch(name) is not None and ".." not in name


def shown(name: object) -> str:
    """``name`` as an error line may show it: quoted, control characters escaped, at most 40 characters."""
    if not isinstance(name, str):
        return f"a {type(name).__name__}"
    if not name:
        return "an empty name"
    return repr(name[:40]) + ("…" if len(name) > 40 else "")


def check_safe_name(name: object, field: str, example: str = "site-01") -> str:
    """Return ``name`` if it is safe, else UnsafeName naming ``field`` (e.g. ``deployments.NAME``)."""
    if not is_safe_name(name):
        raise UnsafeName(f"{field}: {shown(name)} is not a safe name; fix: use {SAFE_NAME_RULE}, e.g. {example}")
    return name  # type: ignore[return-value]
