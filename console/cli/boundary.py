"""The one place errors become exit codes and lines: nothing reaches the terminal as a traceback.

``guarded(call, opts)`` runs the CLI and turns whatever escapes into an exit code and one
``camdeck: error:`` line on stderr (under ``--json`` also the ``{"error", "exit_code"}`` object):
bad input (``bad_input = True``) is exit 2 with its own line; a known failure (a domain error
root, an OSError) is exit 1 with its line; anything else, a BaseException that is not an exit or
an interrupt included, is a bug: exit 1 with ``internal error (Type: message)`` and a pointer to
``--log-file``, which keeps the trace.

A reader that goes away (``camdeck cameras list | head -1``) is not an error: the command ends
quietly with exit 1, and stdout is pointed at /dev/null so that the interpreter's last flush
cannot print "Exception ignored ... BrokenPipeError" either. A broken pipe elsewhere (a socket,
an encoder's stdin) is a failure like any other and gets its line.
Keep this module free of heavy imports (``camdeck --help``).
"""
from __future__ import annotations

import os
import sys
from typing import Callable

from camdeck.console.cli import common

BROKEN_PIPE_EXIT = 1        # the reader left: the output was cut short, quietly


def exit_code_for(err: BaseException) -> int:
    """2 for bad input (usage, config, missing/corrupt file, unsafe name), else 1."""
    from camdeck.console.config import ConfigError

    if isinstance(err, (ConfigError, common.BadInput)) or getattr(err, "bad_input", False):
        return 2
    return 1


def message_of(err: BaseException) -> str:
    """``str(err)`` on one line; the class name when it is empty or its ``__str__`` fails."""
    try:
        text = str(err) or err.__class__.__name__
    except Exception:  # an exception whose __str__ fails still gets its line
        text = err.__class__.__name__
    return " ".join(text.split())  # one line, always


class StdoutWatch:
    """Tells whether stdout's reader went away since the command started.

    Two signs: the pipe on fd 1 reports an error (its read end is closed), or fd 1 is no longer
    the file it was at the start (rich points it at /dev/null when its own write hits EPIPE).
    A stdout without a file descriptor (tests capture into memory) never goes away.
    """

    def __init__(self) -> None:
        self.fd = _fd_of(sys.stdout)
        self.identity = _identity(self.fd)

    def gone(self) -> bool:
        if self.fd is None:
            return False
        if _identity(self.fd) != self.identity:
            return True
        import select

        try:
            poller = select.poll()
            poller.register(self.fd, select.POLLOUT)
            return any(events & select.POLLERR for _fd, events in poller.poll(0))
        except (OSError, ValueError, AttributeError):   # no poll() here: trust the identity alone
            return False


def guarded(call: Callable[[], int], opts_of: Callable[[], "common.GlobalOptions"]) -> int:
    """``call()``'s exit code, or the code for whatever it raised (see the module docstring).

    Args:
        call: runs the command and returns its exit code (click's own errors already handled).
        opts_of: the global options in force (read late: the command may have set them).
    """
    saved = sys.stdout, sys.stderr
    watch = StdoutWatch()
    try:
        return call()
    except KeyboardInterrupt:
        write_err("camdeck: interrupted")
        return 130
    except SystemExit as done:
        return _system_exit(done, watch, opts_of())
    except BaseException as err:  # noqa: B036 - the boundary: every other BaseException is a bug's line
        if _is_broken_pipe(err) and watch.gone():
            return _quiet_broken_pipe()
        return exit_for_exception(err, opts_of())
    finally:
        _unwrap_streams(saved)


def _system_exit(done: SystemExit, watch: StdoutWatch, opts: "common.GlobalOptions") -> int:
    """click and rich answer a broken pipe with ``sys.exit(1)``: quiet when stdout's reader left,
    the cause's line when the pipe was something else's; a library's ``sys.exit(text)`` is a bug."""
    cause = done.__context__
    if cause is not None and _is_broken_pipe(cause):
        if watch.gone():
            return _quiet_broken_pipe()
        return exit_for_exception(cause, opts)
    code = done.code
    if code is None or isinstance(code, bool):
        return int(bool(code))
    if isinstance(code, int):
        return code if 0 <= code <= 255 else 1
    return exit_for_exception(done, opts)


def exit_for_exception(err: BaseException, opts: "common.GlobalOptions") -> int:
    """Exit 2 with the error's line for bad input, exit 1 with its line for a known failure, and
    exit 1 with "internal error" for a bug: its trace goes to the log file, never to the terminal."""
    code = exit_code_for(err)
    message = message_of(err)
    if code == 1 and not _is_known(err):
        where = (f"the trace is in {opts.log_file}" if opts.log_file
                 else "fix: rerun with --log-file camdeck.log and report the trace it keeps")
        message = f"internal error ({type(err).__name__}: {message[:300]}); {where}"
    try:
        from camdeck.console import logs

        # The line below is already on stderr; the log file keeps it with its traceback.
        common.log.error("exit %d: %s", code, message, exc_info=err, extra={logs.SHOWN: True})
    except Exception:  # noqa: BLE001 - out of memory, a full disk: the line still goes out
        pass
    return fail(message, code, opts.json)


def _is_known(err: BaseException) -> bool:
    """Domain errors carry their own message; anything else is a bug worth a traceback."""
    roots = []
    for mod, name in (("camdeck.drivers.errors", "DriverError"), ("camdeck.console.config", "ConfigError")):
        module = sys.modules.get(mod)
        if module is not None:
            roots.append(getattr(module, name))
    for mod_name, module in list(sys.modules.items()):
        if mod_name.endswith(".errors") and mod_name.split(".")[:2] in (["camdeck", "calibration"], ["camdeck", "monitoring"],
                                                                        ["camdeck", "fastcore"]):
            roots.extend(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Exception))
    return isinstance(err, tuple(roots)) or getattr(err, "bad_input", False) or isinstance(err, OSError)


def fail(message: str, code: int, as_json: bool) -> int:
    """Print the one error line (and under --json the error object), scrubbed; return ``code``."""
    from camdeck.fileio.redact import scrub

    message = scrub(message)
    if as_json:
        try:
            common.emit_json({"error": message, "exit_code": code})
        except OSError:    # stdout went away: the line on stderr still says why
            _silence(sys.stdout)
    write_err(f"camdeck: error: {message}")
    return code


def write_err(line: str) -> None:
    """``line`` on stderr; a stderr that went away (``2>&1 | head -0``) is silenced, never raised."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        _silence(sys.stderr)


def flush_at_exit(code: int) -> int:
    """Flush stdout and stderr before the interpreter does, and return the exit code.

    A reader that left makes the interpreter print "Exception ignored ... BrokenPipeError" at
    shutdown (and exit 120); here the stream is silenced instead, and a command that had
    succeeded exits 1 like any other whose output was cut short.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            _silence(stream)
            if stream is sys.stdout and code == 0:
                code = BROKEN_PIPE_EXIT
    return code


def _is_broken_pipe(err: BaseException) -> bool:
    import errno

    return isinstance(err, BrokenPipeError) or (isinstance(err, OSError) and err.errno == errno.EPIPE)


def _quiet_broken_pipe() -> int:
    _silence(sys.stdout)
    return BROKEN_PIPE_EXIT


def _silence(stream) -> None:
    """Point ``stream``'s descriptor at /dev/null, so that buffered bytes flushed later go nowhere."""
    fd = _fd_of(stream)
    if fd is None:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def _unwrap_streams(saved: tuple) -> None:
    """click wraps stdout and stderr on a broken pipe (PacifyFlushWrapper); in-process callers
    (tests, the fuzz runner) get their own streams back."""
    for name, original in zip(("stdout", "stderr"), saved):
        if type(getattr(sys, name)).__name__ == "PacifyFlushWrapper":
            setattr(sys, name, original)


def _fd_of(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _identity(fd: int | None) -> tuple[int, int] | None:
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return st.st_dev, st.st_ino
