"""What every command shares: the global options, settings, output, and bad-input errors.

Commands stay thin: parse options, call a job in a domain package, show its events.
Heavy libraries are imported inside commands, never here.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from camdeck.console.config import Settings

log = logging.getLogger("camdeck.console.cli")


class BadInput(Exception):
    """Bad input from the user: exit 2 with this one line (naming the field or file and the fix)."""

    bad_input = True


@dataclass
class GlobalOptions:
    """--config, --data-dir, --json, -v/--verbose, -q/--quiet and --log-file, gathered from anywhere in argv."""

    config: str | None = None
    data_dir: str | None = None
    json: bool = False
    verbose: int = 0
    quiet: bool = False
    log_file: str | None = None


OPTIONS = GlobalOptions()
_SETTINGS: "Settings | None" = None


_VALUED = {"--config": "PATH", "--data-dir": "DIR", "--log-file": "PATH"}


def extract_global_options(argv: list[str]) -> tuple[GlobalOptions, list[str]]:
    """Pull the global options out of ``argv`` wherever they stand.

    They work before and after the command (docs/design.md, CLI contract). Everything after
    a bare ``--`` is left alone. ``-v`` counts (``-vv`` is debug).

    Raises:
        BadInput: an option given without its value, or with an empty one.
    """
    opts = GlobalOptions()
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, inline = arg.partition("=")
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--json":
            opts.json = True
        elif arg == "--verbose" or re.fullmatch(r"-v+", arg):
            opts.verbose += 1 if arg == "--verbose" else len(arg) - 1
        elif arg in ("-q", "--quiet"):
            opts.quiet = True
        elif name in _VALUED:
            if eq:
                value = inline
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value = argv[i + 1]
                i += 1
            else:
                raise BadInput(f"{name} needs a value; fix: write {name} {_VALUED[name]}")
            if not value:
                raise BadInput(f"{name} is empty; fix: write {name} {_VALUED[name]}, or leave {name} out")
            setattr(opts, name[2:].replace("-", "_"), value)
        else:
            rest.append(arg)
        i += 1
    return opts, rest


def set_options(opts: GlobalOptions) -> None:
    global OPTIONS, _SETTINGS
    OPTIONS = opts
    _SETTINGS = None


def settings() -> "Settings":
    """The validated settings for this invocation (loaded once)."""
    global _SETTINGS
    if _SETTINGS is None:
        from camdeck.console.config import load_settings

        _SETTINGS = load_settings(OPTIONS.config, OPTIONS.data_dir)   # it registers the config's secrets
        _log_origin(_SETTINGS)
    return _SETTINGS


def _log_origin(loaded: "Settings") -> None:
    """Say at info level which config file was read and which data folder is used, and why."""
    choice, data = loaded.config_choice, loaded.data_choice
    if choice is not None:
        for candidate in choice.candidates:
            status = "" if candidate.exists is None else (" (exists)" if candidate.exists else " (missing)")
            log.debug("config candidate %s, %s: %s%s", candidate.rule, candidate.where,
                      candidate.path if candidate.path is not None else "not set", status)
        log.info("config file: %s (rule %s: %s)", choice.path.absolute(), choice.rule, choice.reason)
    if data is not None:
        log.info("data dir: %s (rule %s: %s)", data.path.absolute(), data.rule, data.reason)
        written = loaded.console.data_dir
        if (data.rule == "config" and choice is not None and not Path(written).expanduser().is_absolute()
                and choice.path.absolute().parent != Path.cwd()):
            # A cron job or a service starts in some other folder: its data would land there.
            log.warning("console.data_dir %r in %s is relative, so it is taken from the current folder (%s), "
                        "not the config file's; fix: write an absolute path", written, choice.path, Path.cwd())


def json_mode() -> bool:
    return OPTIONS.json


def emit_json(obj: Any, stream=None) -> None:
    """Write one JSON object (one line) to stdout; NaN and infinities become null (valid JSON).

    The text is built before anything is written, so an object that cannot be encoded (a
    circular reference) raises without leaving half a line on stdout.
    """
    from camdeck.fileio.redact import scrub

    try:
        text = json.dumps(obj, default=_json_default, separators=(",", ":"), allow_nan=False)
    except ValueError as err:
        if "Out of range float" not in str(err):
            raise
        # json.dumps writes NaN and Infinity, which no JSON parser accepts: round-trip and null them
        plain = json.loads(json.dumps(obj, default=_json_default))
        text = json.dumps(_finite(plain), separators=(",", ":"), allow_nan=False)
    out = stream or sys.stdout
    out.write(scrub(text) + "\n")
    out.flush()


def _finite(value: Any) -> Any:
    """``value`` (plain JSON data) with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    from camdeck.console.config import redacted
    import numpy as np

    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    red = redacted(value)
    if red is not value:
        return red
    return str(value)


def stderr_console():
    """A rich console on stderr, for progress and messages that must not pollute --json stdout."""
    from rich.console import Console
    return Console(stderr=True)


def stdout_console():
    from rich.console import Console
    return Console()


def check_output_file(path: Path, *, option: str = "--out", overwrite: bool = True) -> Path:
    """Check that ``path`` can be written, before any camera starts.

    Raises:
        BadInput: the folder is missing or not writable, the path is a folder, or the
            file exists and ``overwrite`` is false.
    """
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{option} {path}: is a folder; fix: give a file name, e.g. {path / 'frame.png'}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(f"{option} {path}: folder {parent} does not exist; fix: create it first")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {path}: folder {parent} is not writable; fix: choose a writable folder")
    if path.exists() and not overwrite:
        raise BadInput(f"{option} {path}: exists; fix: pass --overwrite or choose another name")
    return path


def check_output_dir(path: Path, *, option: str = "--out", create: bool = True) -> Path:
    """Check (and create) an output folder, before any camera starts.

    Raises:
        BadInput: it is a file, or it cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInput(f"{option} {path}: is a file, not a folder; fix: give a folder path")
    if not path.exists():
        if not create:
            raise BadInput(f"{option} {path}: folder does not exist; fix: create it first")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise BadInput(f"{option} {path}: cannot create the folder ({err.strerror}); "
                           "fix: choose a writable location") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {path}: folder is not writable; fix: choose a writable folder")
    return path
