"""SIGINT and SIGTERM for long CLI jobs (fleet runs, reference scans): ask the job to stop, and
let it finish its account instead of dying mid-sentence.

Python's default for SIGTERM ends the process at once: no JSON summary, no ``finally``, so a
deployment's tunnel (a process of its own) kept running and holding its ports. Inside
:func:`stop_on_signals` the first SIGINT or SIGTERM only sets the job's stop request; the job
ends its current step within seconds, records it, stops its tunnels and reports. Later
signals are ignored (the job is already ending; SIGKILL still forces it).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

#: The failure recorded for the device a signal interrupted, e.g. "stopped by signal (SIGTERM)".
STOPPED_BY_SIGNAL = "stopped by signal"

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_reason(signum: int) -> str:
    """``"stopped by signal (SIGTERM)"`` for ``signum``."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = str(signum)
    return f"{STOPPED_BY_SIGNAL} ({name})"


@contextmanager
def stop_on_signals(stop: Any, reason_for: Callable[[int], str | None] | None = None) -> Iterator[Any]:
    """While inside, SIGINT and SIGTERM call ``stop.request(reason)`` instead of ending the process.

    Args:
        stop: a monitoring.fleet.StopRequest (anything with ``request(reason)``); yielded back.
        reason_for: ``reason_for(signum)`` names who asked, when someone did (a job's
            ``camdeck jobs stop`` request, which comes as a SIGTERM); None or a failure: the
            signal's own reason, "stopped by signal (SIGTERM)".
    Only the main thread can own signal handlers: elsewhere (a TUI worker) this does nothing.
    The previous handlers come back on the way out.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handle(signum: int, frame: Any) -> None:
        # A signal handler runs between two bytecodes of the main thread, maybe inside a lock
        # the logging module holds: it only sets a string and an event.
        reason = None
        if reason_for is not None:
            try:
                reason = reason_for(signum)
            except Exception:  # noqa: BLE001 - a request file that cannot be read: the signal's reason
                reason = None
        stop.request(reason or signal_reason(signum))

    previous = {sig: signal.signal(sig, handle) for sig in SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
