"""Logging for the CLI and the TUI: one level, and where the lines go.

Level: ``-q`` errors only, default warnings, ``-v`` info, ``-vv`` debug; without ``-v``/``-q``,
``$CAMDECK_LOG_LEVEL`` (DEBUG, INFO, WARNING or ERROR) sets it. The level applies to camdeck's
own loggers (``camdeck.*``); other libraries show their warnings and errors.

Where: the CLI writes to stderr, rich lines for people and, under ``--json``, one JSON object
per line (``{"ts", "level", "logger", "msg"}``) so stdout keeps its one JSON object. ``--log-file``
adds plain text lines (tracebacks included) to a file. The TUI never logs to the terminal it
draws on: only to a file (``--log-file``, else ``tui.log`` in the user log folder).

Every line is scrubbed: passwords in URLs (``//user:password@``) and the values of the
config's secrets (``mask_secrets``) become ``***``.

Rich is imported only when a line is actually written to stderr, so ``camdeck --help`` stays fast.
"""
from __future__ import annotations

import json
import logging
import os
import stat
import sys
import time
from pathlib import Path
from typing import Iterable

from camdeck.fileio import redact

LEVEL_ENV = "CAMDECK_LOG_LEVEL"
LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}
ROOT_LOGGER = "camdeck"
SHOWN = "camdeck_shown_on_stderr"   # record attribute: the CLI already printed this line on stderr
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_installed: list[logging.Handler] = []


class LoggingError(Exception):
    """A bad logging option or variable: exit 2 with this line (it names the option and the fix)."""

    bad_input = True


def choose_level(verbose: int = 0, quiet: bool = False, env: str | None = None) -> int:
    """The log level for ``-v`` (count), ``-q`` and ``$CAMDECK_LOG_LEVEL``.

    Args:
        verbose: how many times -v was given; quiet: -q was given;
        env: the variable's value (None or "" when unset).

    Raises:
        LoggingError: -q together with -v, or a variable that names no level.
    """
    from_env = None
    if env:
        from_env = LEVELS.get(env.strip().upper())
        if from_env is None:
            raise LoggingError(f"{LEVEL_ENV}={env!r} is not a log level; "
                               f"fix: set it to DEBUG, INFO, WARNING or ERROR, or unset it")
    if verbose and quiet:
        raise LoggingError("-q and -v ask for opposite things; fix: pass one of them")
    if quiet:
        return logging.ERROR
    if verbose:
        return logging.INFO if verbose == 1 else logging.DEBUG
    return from_env if from_env is not None else logging.WARNING


def default_tui_log_file() -> Path:
    """``tui.log`` in the platform's user log folder (``$XDG_STATE_HOME/camdeck/log`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_log_dir("camdeck")) / "tui.log"


def mask_secrets(values: Iterable[str]) -> None:
    """From now on, write ``***`` wherever one of ``values`` would appear (fileio.redact.remember)."""
    redact.remember(values)


def scrub(text: str) -> str:
    """``text`` with URL passwords, secret query parameters and known secrets masked (fileio.redact)."""
    return redact.scrub(text)


def configure(level: int, *, json_lines: bool = False, log_file: str | os.PathLike | None = None,
              stderr: bool = True) -> Path | None:
    """Send camdeck's log records at ``level`` to stderr and/or a file, replacing an earlier set-up.

    Args:
        level: a ``logging`` level (``choose_level``).
        json_lines: stderr gets JSON lines instead of rich lines (``--json``).
        log_file: also append plain text lines here; its folder is created if missing.
        stderr: False for the TUI, which owns the terminal.

    Returns:
        the log file's path, or None.

    Raises:
        LoggingError: the log file is a folder, or cannot be created or written.
    """
    handlers: list[logging.Handler] = []
    path = None
    if log_file is not None:
        path = Path(log_file).expanduser()
        handlers.append(_file_handler(path))
    if stderr:
        stream = _JsonLinesHandler() if json_lines else _RichStderrHandler()
        stream.addFilter(_not_shown)
        handlers.append(stream)
    root = logging.getLogger()
    for old in _installed:
        root.removeHandler(old)
        old.close()
    _installed[:] = handlers
    for handler in handlers:
        handler.setLevel(level)
        root.addHandler(handler)
    logging.getLogger(ROOT_LOGGER).setLevel(level)
    return path


def _not_shown(record: logging.LogRecord) -> bool:
    return not getattr(record, SHOWN, False)


def _file_handler(path: Path) -> logging.Handler:
    option = f"--log-file {path}"
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None                  # a new file (a file "inside" a file fails below, at mkdir)
    except OSError as err:           # a name too long, a loop of links, no permission
        raise LoggingError(f"{option}: cannot be used ({err.strerror}); fix: give a writable file, "
                           "e.g. camdeck.log") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise LoggingError(f"{option}: is a folder; fix: give a file name, e.g. {path / 'camdeck.log'}")
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
        # opening a FIFO for writing blocks until a reader comes (a hang); a block device is a disk
        raise LoggingError(f"{option}: not a regular file; fix: give a file name, e.g. camdeck.log")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LoggingError(f"{option}: cannot create the folder {path.parent} ({err.strerror}); "
                           "fix: choose a writable location") from None
    try:
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as err:
        raise LoggingError(f"{option}: cannot be written ({err.strerror}); fix: choose a writable file") from None
    handler.setFormatter(_ScrubbingFormatter(FILE_FORMAT))
    return handler


class _ScrubbingFormatter(logging.Formatter):
    """A Formatter whose whole output (message and traceback) goes through ``scrub``."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _JsonLinesHandler(logging.Handler):
    """One JSON object per record on the current ``sys.stderr``: ts, level, logger, msg (and exc)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            line = {"ts": f"{stamp}.{int(record.msecs):03d}Z", "level": record.levelname,
                    "logger": record.name, "msg": scrub(record.getMessage())}
            if record.exc_info:
                line["exc"] = scrub(logging.Formatter().formatException(record.exc_info))
            sys.stderr.write(json.dumps(line, separators=(",", ":")) + "\n")
            sys.stderr.flush()
        except Exception:  # logging must never take the command down
            self.handleError(record)


class _RichStderrHandler(logging.Handler):
    """rich.logging.RichHandler on stderr, built on the first record (rich imports pygments)."""

    def __init__(self) -> None:
        super().__init__()
        self._rich: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._rich is None:
            from rich.console import Console
            from rich.logging import RichHandler

            # Console(stderr=True) looks sys.stderr up at each write, so redirection keeps working.
            self._rich = RichHandler(console=Console(stderr=True), show_path=False, markup=False,
                                     rich_tracebacks=False, log_time_format="[%X]")
            self._rich.setFormatter(_ScrubbingFormatter("%(message)s"))
        self._rich.emit(record)
