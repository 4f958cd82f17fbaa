"""What the Reconstruction tab keeps of the live job's grids: one copy, reused (issue 12).

The live job (fastcore.live) hands out a read-only view of a buffer it reuses two frames
later, so the tab must copy a grid it wants to keep: to redraw it after a key and to save
it. It used to make a fresh copy for every picture, carried by the picture's message; with
the message queue, the grid shown and the workers' references, two to four copies were
alive at once (64 MiB each at 256^3, on top of the job's own). ``GridSnapshot`` is the one
copy: the job's thread copies into the same buffer, at most ``preview_fps`` times a second,
and never waits for it (a save or a redraw that holds it only delays the next picture);
``LivePictures`` is the job's progress callback that decides which frames become pictures.

Textual-free: the tab hands in ``send``, which posts a message (thread-safe).
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import numpy as np

from camdeck.console.tui.widgets.reconstruction_slice import SliceView, render_view


class GridSnapshot:
    """One (N, N, N) float32 copy of the live job's latest grid, reused frame after frame.

    Attributes:
        version: how many grids were taken so far (0: none yet); a picture names the version
            it shows, so the tab can tell a stale redraw from a fresh one.
        frame: the job's frame number of the grid held (0 before the first).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._grid: np.ndarray | None = None
        self.version = 0
        self.frame = 0

    @property
    def grid(self) -> np.ndarray | None:
        """The buffer (None before the first take). Read it under ``hold()`` while a job runs."""
        return self._grid

    def take(self, grid: np.ndarray, frame: int, *, wait: bool = False) -> int | None:
        """Copy ``grid`` (N, N, N) into the buffer (made, or remade for another N, here).

        Args:
            grid: the job's latest grid; frame: its frame number.
            wait: block while a reader holds the buffer (the job's last grid); else give up.
        Returns:
            the new version, or None when a reader held the buffer and ``wait`` is False.
        """
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            if self._grid is None or self._grid.shape != grid.shape:
                self._grid = None                  # let the old size go before the new one is made
                self._grid = np.empty(grid.shape, np.float32)
            np.copyto(self._grid, grid)
            self.version += 1
            self.frame = frame
            return self.version
        finally:
            self._lock.release()

    @contextmanager
    def hold(self) -> Iterator[np.ndarray | None]:
        """The buffer, unchanged by the job for as long as the ``with`` block runs."""
        with self._lock:
            yield self._grid


class LivePictures:
    """The live job's progress callback: a picture at most every ``period_s``, and the last grid.

    Each "frame" event whose time has come is copied into ``snapshot`` and rendered as
    ``view()`` asks, and ``send(rows, view, version, event)`` is called; the other frames are
    skipped, the newest remembered, so "finished" can still show the final grid (its buffer
    is untouched: no frame came after it). A frame that finds the snapshot held (a save) is
    skipped too, and the next one tries again.

    Args:
        snapshot: the tab's GridSnapshot; period_s: seconds between pictures;
        view: returns the SliceView to draw (read once per picture);
        send: called on the job's thread with each picture;
        clock: monotonic seconds (injected for tests).
    """

    def __init__(self, snapshot: GridSnapshot, period_s: float, view: Callable[[], SliceView],
                 send: Callable[[list[str], SliceView, int, Any], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.snapshot, self.period_s, self._view, self._send, self._clock = snapshot, period_s, view, send, clock
        self._posted_s = -1e9
        self._skipped: Any = None

    def __call__(self, event: Any) -> None:
        if event.kind == "frame":
            if self._clock() - self._posted_s < self.period_s or not self._post(event, wait=False):
                self._skipped = event
        elif event.kind == "finished" and self._skipped is not None:
            self._post(self._skipped, wait=True)

    def _post(self, event: Any, *, wait: bool) -> bool:
        version = self.snapshot.take(event.grid, event.frame, wait=wait)
        if version is None:
            return False
        view = self._view()
        # Rendered from the job's own buffer: it stays as it is until this callback returns.
        self._send(render_view(event.grid, view), view, version, event)
        self._posted_s, self._skipped = self._clock(), None
        return True
