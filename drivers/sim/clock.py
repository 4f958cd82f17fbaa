"""Clocks for the simulated rig: simulated time that runs ``time_factor`` times faster than the wall.

A clock is a callable returning monotonic nanoseconds, with ``sleep(seconds)`` sleeping in
*its own* time. Simulated cameras timestamp frames with it and wait on it, so a test can
inject a ``ManualClock`` (time moves only when told) and run a minute of sensor time
instantly. Plain callables (``time.monotonic_ns``) are accepted too: the cameras then sleep
``seconds / time_factor`` of wall time.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol, runtime_checkable


@runtime_checkable
class SleepingClock(Protocol):
    def __call__(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class SimClock:
    """Simulated monotonic time: ``origin + (wall_elapsed * time_factor)``, in ns.

    Args:
        time_factor: simulated seconds per wall second (> 0; 10 runs ten times faster).
    """

    def __init__(self, time_factor: float = 1.0) -> None:
        if not time_factor > 0:
            raise ValueError(f"time_factor must be > 0, got {time_factor}")
        self.time_factor = float(time_factor)
        self._wall0 = time.monotonic_ns()

    def __call__(self) -> int:
        elapsed = time.monotonic_ns() - self._wall0
        return self._wall0 + int(elapsed * self.time_factor)

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""
        if seconds > 0:
            time.sleep(seconds / self.time_factor)


class ManualClock:
    """A clock that moves only on ``advance`` or ``sleep`` (sleeping returns at once).

    Thread-safe, so a stereo test may drive two cameras from two threads.
    """

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self._now = int(start_ns)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back ({seconds} s)")
        with self._lock:
            self._now += int(round(seconds * 1e9))

    sleep = advance


class _WallSleeper:
    """Wraps a plain ns callable: sleeps wall time scaled by ``time_factor``."""

    def __init__(self, clock: Callable[[], int], time_factor: float) -> None:
        self._clock = clock
        self.time_factor = time_factor

    def __call__(self) -> int:
        return int(self._clock())

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.time_factor)


_SHARED: dict[float, SimClock] = {}
_SHARED_LOCK = threading.Lock()


def shared_clock(time_factor: float = 1.0) -> SimClock:
    """The process-wide SimClock for ``time_factor``: every simulated camera opened with the
    same factor shares it, so timestamps of a stereo pair are comparable."""
    with _SHARED_LOCK:
        clock = _SHARED.get(float(time_factor))
        if clock is None:
            clock = _SHARED[float(time_factor)] = SimClock(time_factor)
        return clock


def clock_for(injected: Callable[[], int] | None, time_factor: float) -> SleepingClock:
    """The clock a simulated camera uses: the injected one (made able to sleep), else the shared SimClock."""
    if injected is None:
        return shared_clock(time_factor)
    if isinstance(injected, SleepingClock):
        return injected
    return _WallSleeper(injected, time_factor)
