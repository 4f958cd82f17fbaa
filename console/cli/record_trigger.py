"""The trigger of an armed `camdeck record --pretrigger`: Enter on the terminal, or SIGUSR1.

While a recording is armed (drivers/recording/take.py) the cameras run and the pre-trigger
buffers fill; the take starts when the operator presses Enter, when a script sends SIGUSR1
(``kill -USR1 PID``; ``camdeck jobs`` shows the pid), or at the end of ``--countdown``.
The end of stdin (a script's ``</dev/null``, or a hang-up pointing stdin at /dev/null) is
not a trigger: only a line is. SIGINT/SIGTERM while armed cancel (record.py).
"""
from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def trigger_on_enter_or_sigusr1(recording: Any, enabled: bool) -> Iterator[None]:
    """While inside, a line on stdin or SIGUSR1 calls ``recording.trigger(by)``.

    Args:
        recording: the RecordingSession (its ``trigger(by)`` is safe from any thread).
        enabled: false: do nothing (no pre-trigger asked).
    """
    if not enabled:
        yield
        return
    reader = threading.Thread(target=_read_lines, args=(recording,), daemon=True, name="record-trigger-stdin")
    reader.start()
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGUSR1) if on_main else None
    if on_main:
        signal.signal(signal.SIGUSR1, lambda signum, frame: recording.trigger("SIGUSR1"))
    try:
        yield
    finally:
        if on_main:
            signal.signal(signal.SIGUSR1, previous)


def _read_lines(recording: Any) -> None:
    """Trigger on the first line read; the end of the input or a read error ends quietly."""
    try:
        line = sys.stdin.readline()
    except Exception:  # no readable stdin (closed, or a test harness): Enter is not a trigger here
        return
    if line:
        recording.trigger("Enter")
