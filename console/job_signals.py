"""Signals for the jobs of this process: a hang-up detaches, SIGTERM and SIGINT stop cleanly.

Why: an operator on a thin SSH link loses the terminal; the kernel then sends SIGHUP, whose
default action killed the recording mid-file (data file "incomplete"). Inside ``JobSignals``:

- SIGHUP detaches the process from the dead terminal: stdin reads /dev/null, stdout and
  stderr append to the job log (``DATA_DIR/jobs/ID.log``), and the jobs go on to their
  planned end (a timer ends; a manual recording waits for ``camdeck jobs stop``). Writes that
  fail with EIO before the handler runs are the callers' to swallow (``terminal_gone``).
- SIGTERM (``camdeck jobs stop``, systemd, kill) and SIGINT (ctrl+c) stop jobs cleanly. A job
  with a stop request (``ID.stop.json``, written by ``camdeck jobs stop``) is stopped alone,
  with that request as its reason; a signal without any request stops every job of the
  process (systemd stopping the unit).

Handlers run in the main thread between bytecodes; they only set events, duplicate file
descriptors and call the jobs' thread-safe ``stop`` callbacks.
"""
from __future__ import annotations

import errno
import os
import signal
import threading
import time
from typing import Any, Callable

from camdeck.console.jobs import Job, JobRegistry, utc_now

StopCallback = Callable[[dict[str, Any]], None]

_SIGNAL_NAMES = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT (ctrl+c)"}


def stop_reason(request: dict[str, Any]) -> str:
    """One line saying who asked a job to stop: ``camdeck jobs stop (ana@pi, 2026-...Z)`` or a signal name."""
    where = "@".join(x for x in (request.get("user"), request.get("host")) if x)
    when = request.get("requested", "")
    extra = ", ".join(x for x in (where, when) if x)
    return f"{request.get('by', 'a signal')}" + (f" ({extra})" if extra else "")


def detach_stdio(log_path: str | os.PathLike | None) -> None:
    """Point stdin at /dev/null and stdout/stderr at ``log_path`` (appended; /dev/null when None).

    The file descriptors themselves are replaced, so every writer (print, rich consoles,
    logging handlers, a C library) follows without knowing.
    """
    null_in = os.open(os.devnull, os.O_RDONLY)
    if log_path is not None:
        try:
            out = os.open(os.fspath(log_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:     # the data folder went away: keep going with nowhere to write
            out = os.open(os.devnull, os.O_WRONLY)
    else:
        out = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null_in, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(null_in)
    os.close(out)


def terminal_gone(err: BaseException) -> bool:
    """Whether ``err`` is a write to a terminal that hung up (EIO) or a closed pipe (EPIPE)."""
    return isinstance(err, OSError) and err.errno in (errno.EIO, errno.EPIPE, errno.ENXIO)


class JobSignals:
    """While entered, this process's jobs survive a hang-up and stop cleanly on SIGTERM/SIGINT.

    Args:
        registry: where the jobs' records and stop requests are.
        log_path: where stdout/stderr go after a hang-up (the job log); None: /dev/null (the TUI,
            which logs to its own file).
        on_hangup: called (main thread, from the handler) once the terminal is gone.
        on_terminate: called after a SIGTERM/SIGINT without a stop request, once every job was told
            to stop (the TUI quits its UI there).
        stop_signals: False leaves SIGTERM and SIGINT to the job's own handling (a fleet run stops
            at its next step by itself); only the hang-up is taken care of here.

    Outside the main thread (tests driving a command in-process) it installs nothing.
    """

    def __init__(self, registry: JobRegistry, *, log_path: str | os.PathLike | None = None,
                 on_hangup: Callable[[], None] | None = None,
                 on_terminate: Callable[[str], None] | None = None, stop_signals: bool = True) -> None:
        self.registry = registry
        self.stop_signals = stop_signals
        self.log_path = log_path
        self.on_hangup = on_hangup
        self.on_terminate = on_terminate
        self.hung_up = threading.Event()
        self._jobs: dict[str, tuple[Job, StopCallback]] = {}
        self._lock = threading.RLock()     # re-entrant: a handler may interrupt add() in the main thread
        self._previous: dict[int, Any] = {}

    # -------- the jobs of this process
    def add(self, job: Job, stop: StopCallback) -> None:
        """Watch ``job``; ``stop(request)`` must be thread-safe and return at once."""
        with self._lock:
            self._jobs[job.id] = (job, stop)

    def remove(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def jobs(self) -> list[Job]:
        with self._lock:
            return [job for job, _ in self._jobs.values()]

    # -------- installing
    def __enter__(self) -> "JobSignals":
        if threading.current_thread() is threading.main_thread():
            handlers = [(signal.SIGHUP, self._on_hangup)]
            if self.stop_signals:
                handlers += [(signal.SIGTERM, self._on_stop), (signal.SIGINT, self._on_stop)]
            for sig, handler in handlers:
                self._previous[sig] = signal.signal(sig, handler)
            # Python ignores SIGPIPE already; said here because a closed pipe must never kill a job.
            self._previous[signal.SIGPIPE] = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    # -------- handlers
    def _on_hangup(self, signum: int, frame: Any) -> None:
        if self.hung_up.is_set():
            return
        self.hung_up.set()
        detach_stdio(self.log_path)
        names = ", ".join(self._jobs) or "none"
        _log_line(f"the terminal hung up (SIGHUP); the jobs go on: {names}; "
                  f"stop one with: camdeck jobs stop ID")
        if self.on_hangup is not None:
            self.on_hangup()

    def _on_stop(self, signum: int, frame: Any) -> None:
        self.stop_from_signal(_SIGNAL_NAMES.get(signum, f"signal {signum}"))

    def stop_from_signal(self, signal_name: str) -> list[str]:
        """Stop the jobs a signal is meant for; returns their ids (see the module docstring)."""
        with self._lock:
            entries = list(self._jobs.values())
        asked = [(job, stop, self.registry.stop_request(job.id)) for job, stop in entries]
        chosen = [(job, stop, req) for job, stop, req in asked if req is not None]
        everyone = not chosen
        if everyone:
            request = {"by": signal_name, "requested": utc_now()}
            chosen = [(job, stop, request) for job, stop, _ in asked]
        for job, stop, request in chosen:
            job.asked_to_stop(request)
            stop(request)
            # The record's "stopping" is written (with its fsync) beside, not here: this handler
            # runs in the main thread, which may be the one capturing frames.
            threading.Thread(target=job.stopping, args=(request,), name=f"stopping {job.id}", daemon=True).start()
        if everyone and self.on_terminate is not None:
            self.on_terminate(signal_name)
        return [job.id for job, _, _ in chosen]


def _log_line(text: str) -> None:
    try:
        os.write(2, f"{time.strftime('%Y-%m-%d %H:%M:%S')} camdeck: {text}\n".encode())
    except OSError:
        pass
