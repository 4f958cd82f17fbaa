"""A crash inside the console ends with the terminal restored and one line, not Textual's dump.

Textual answers an unhandled exception (in a handler, a worker with ``exit_on_error``, a timer)
with ``App._handle_exception``: the app exits with ``return_code`` 1, restores the terminal,
and then prints a rich traceback, locals included, on its ``error_console`` (stderr). That dump
fills the operator's screen, may show values from the config, and the process still exited 0.

``crash_report(app)`` hands Textual a console that only records, and, once the app has ended
with a non-zero return code, raises the app's exception again: the CLI's boundary
(console/cli/boundary.py) logs its trace to the TUI's log file and prints one line
("internal error (...); the trace is in <tui.log>"), exit 1.
"""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Any, Iterator

log = logging.getLogger("camdeck.console.tui")


class ConsoleCrashed(RuntimeError):
    """The console stopped on an error that Textual did not hand over (its rendering is in the log)."""


@contextlib.contextmanager
def crash_report(app: Any) -> Iterator[None]:
    """Run the body (``app.run()`` somewhere inside) with Textual's crash dump kept off the terminal.

    Raises:
        the exception that ended the app (its traceback intact), or ConsoleCrashed when the app
        ended with a non-zero return code and no exception can be found.
    """
    from rich.console import Console

    recorded = io.StringIO()
    # Same settings as Textual's own error console; a width, since a StringIO has no terminal size.
    app.error_console = Console(file=recorded, markup=False, highlight=False, width=120)
    yield
    if not app.return_code:
        return
    # Textual keeps the first unhandled exception for its test pilot; it is private, so look it up softly.
    error = getattr(app, "_exception", None)
    if isinstance(error, BaseException):
        raise error
    dump = recorded.getvalue().strip()
    log.error("the console ended with return code %s:\n%s", app.return_code, dump or "(nothing reported)")
    last = dump.splitlines()[-1] if dump else f"return code {app.return_code}"
    raise ConsoleCrashed(f"the console stopped: {last}")
