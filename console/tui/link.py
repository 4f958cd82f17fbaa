"""How fast the terminal drains the console's output, and the preview that link affords.

Over SSH the bytes the app writes can sit for seconds in buffers it cannot see (the pty, sshd,
TCP), so the writer's own backlog says little. The terminal itself says when it has taken
everything: after an update the monitor sends a cursor-position query (``ESC[6n``), and the
terminal answers only once it has processed all the bytes before it. So:

- ``ready()``: every byte written has been confirmed by the terminal (or, when the answer
  lags behind, the rate the link is proven to carry has carried the previous frame by now;
  one frame at most);
  the preview sends a new frame only then and keeps just the newest meanwhile: older ones
  are skipped, never queued behind the link;
- the first queries, and then one a second on an idle link, go out alone (pings): their
  round trip is the latency. The rounds that carried more give the throughput beyond that
  latency (console/tui/link_rate.py): a busy CPU slows pings and frames alike, so it no
  longer reads as a slow link; each round that carried a preview frame gives the bytes one
  frame cost;
- ``level`` (console/tui/preview_level.py): the best (fps, depth, scale) in preference order
  (fps falls first, then colour depth, then size) whose frames fit the link. The level falls
  for throughput only while the link holds frames back (a frame skipped in the last
  ``LIMITED_S``): frames that all get through say the link is not what limits them.

A terminal that never answers the query (rare) leaves the monitor on Textual's writer queue:
the preview waits until the queue is empty, and the level stays where the operator sets it.
Headless (tests with Pilot) nothing is attached: always ready, level at the top.

Everything here runs on the app's thread (the write wrapper is called from Textual's display).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable

from camdeck.console.tui.link_rate import MIN_PINGS, LinkRate
from camdeck.console.tui.preview_level import DEPTH_SHORT, Level, LevelChooser

log = logging.getLogger("camdeck.console.tui.link")

DSR_QUERY = "\x1b[6n"          # "report the cursor position": answered after everything before it
RATE_WINDOW_S = 2.0            # bytes_per_s is the output over this window
ACK_PROBE_S = 3.0              # no answer to the first query this long: the terminal does not answer
ACK_LOST_S = 10.0              # an outstanding answer this old is taken as lost (the preview must not freeze)
PING_EVERY_S = 1.0             # a latency ping at most this often (4 bytes out, about 8 back)
LIMITED_S = 3.0                # a frame skipped this recently: the link holds frames back


def terminal_depth(color_system: str | None) -> str:
    """The best preview depth a terminal with this rich colour system shows well.

    16 colours (or none) draw a picture as a few greys, so those get ASCII.
    """
    return {"truecolor": "truecolor", "256": "256"}.get(color_system or "", "ascii")


OPERATOR_FPS = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0)   # the steps of the -/+ keys


def step_fps(fps: float, direction: int) -> float:
    """The next operator fps step below (direction < 0) or above ``fps``, clamped to OPERATOR_FPS."""
    if direction < 0:
        lower = [f for f in OPERATOR_FPS if f < fps]
        return lower[-1] if lower else OPERATOR_FPS[0]
    higher = [f for f in OPERATOR_FPS if f > fps]
    return higher[0] if higher else OPERATOR_FPS[-1]


def format_rate(bytes_per_s: float) -> str:
    """'850B/s', '3.1KB/s', '42KB/s', '1.2MB/s' (decimal units, as link speeds are quoted)."""
    if bytes_per_s < 1000:
        return f"{bytes_per_s:.0f}B/s"
    if bytes_per_s < 1e6:
        kb = bytes_per_s / 1000
        return f"{kb:.1f}KB/s" if kb < 10 else f"{kb:.0f}KB/s"
    return f"{bytes_per_s / 1e6:.1f}MB/s"


class LinkMonitor:
    """Measures the terminal link and picks the preview level. Build one per app.

    Args:
        max_fps: the operator's preview rate cap (config ``preview_fps``, keys at run time).
        max_depth: the best depth the terminal shows (``terminal_depth``).
        pinned_depth: a depth the operator chose (None: automatic).
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, max_fps: float = 15.0, max_depth: str = "truecolor", pinned_depth: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.chooser = LevelChooser(max_fps, max_depth, pinned_depth)
        self.attached = False
        self.acks = None               # None: not known yet; True: the terminal answers; False: it does not
        self.frames_shown = 0
        self.frames_skipped = 0
        self._listeners: list[Callable[[], None]] = []
        self._sent = 0                 # bytes handed to the terminal driver
        self._confirmed = 0            # bytes the terminal has confirmed
        self._round_start = 0.0        # first write since the link was last drained
        self._round_idle = False       # the round began on a drained link (else behind the last answer)
        self._query: tuple[int, float] | None = None   # (bytes before it, sent at)
        self._writes: deque[tuple[float, int]] = deque()
        self.rate = LinkRate()         # latency and throughput, told apart
        self._frame_mark: tuple[int, bool] | None = None   # (bytes before the frame, a full repaint)
        self._last_write = 0.0
        self._ping_due = False         # a ping goes out the next time the link is idle
        self._last_ping = -PING_EVERY_S
        self._skipped_at: float | None = None
        self._frames_unconfirmed = 0
        self._writer = None

    # ---------------------------------------------------------------- wiring

    def attach(self, driver) -> None:
        """Count what ``driver`` writes (Textual's terminal driver) and start asking for acknowledgements."""
        original = driver.write

        def write(data: str) -> None:
            self._count(len(data.encode("utf-8", "replace")))
            original(data)

        driver.write = write
        self._write = write
        self._writer = getattr(driver, "_writer_thread", None)
        self.attached = True
        # The first queries go out alone (MIN_PINGS of them, each as the link drains): no
        # throughput is read before the latency is known.
        self._ping(self.clock())

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when the link has drained or the level changed (on the app's thread)."""
        self._listeners.append(callback)

    def _count(self, n: int) -> None:
        now = self.clock()
        if self._sent == self._confirmed:
            self._round_start = now
            self._round_idle = True
        self._sent += n
        self._last_write = now
        self._writes.append((now, n))

    # ---------------------------------------------------------------- events from the app

    def displayed(self) -> None:
        """The app has written a screen update (``App.post_display_hook``)."""
        if self.attached and self.acks is not False and self._query is None and self._sent > self._confirmed:
            self._send_query()

    def _send_query(self) -> None:
        self._query = (self._sent + len(DSR_QUERY), self.clock())
        self._write(DSR_QUERY)

    def acknowledged(self, when: float | None = None) -> None:
        """The terminal answered the cursor-position query (``events.CursorPosition``)."""
        query = self._query
        if query is None:
            return
        now = self.clock() if when is None else when
        if self.acks is None:
            log.info("the terminal answers cursor-position queries: the preview waits for each frame to drain")
        self.acks = True
        self._query = None
        self._confirm(query[0], now)

    def _confirm(self, upto: int, now: float, measured: bool = True) -> None:
        sent = upto - self._confirmed
        took = now - self._round_start
        self._confirmed = upto
        if measured:
            self.rate.add(now, sent, took, self._round_idle)
            log.debug("round: %d bytes in %.1f ms%s", sent, took * 1000, "" if self._round_idle else " (busy)")
        self._frames_unconfirmed = 0
        if self._frame_mark is not None and upto > self._frame_mark[0]:
            self.chooser.record(float(upto - self._frame_mark[0]), self._frame_mark[1])
            self._frame_mark = None
        self._adapt(now)
        if (self._ping_due or self.rate.pings < MIN_PINGS) and self._sent == self._confirmed:
            self._ping(now)
        elif self._sent > self._confirmed and self._query is None:
            # More went out after the query; the terminal takes it from its answer on: ask again.
            self._round_start = now
            self._round_idle = False
            self._send_query()
        self._notify()

    def _ping(self, now: float) -> None:
        """A query alone on an idle link: its round trip is the latency (LinkRate)."""
        self._ping_due = False
        self._last_ping = now
        self._send_query()

    def tick(self) -> None:
        """Once a second: a latency ping (now if the link is idle, else when it drains);
        give up on answers that will not come."""
        now = self.clock()
        if self.acks and now - self._last_ping >= PING_EVERY_S:
            if self._query is None and self._sent == self._confirmed:
                self._ping(now)
            else:
                self._ping_due = True
        if self._query is None:
            return
        age = now - self._query[1]
        if self.acks is None and age > ACK_PROBE_S and (self._writer is None or self._writer_idle()):
            self.acks = False
            self._query = None
            self._confirmed = self._sent
            log.info("the terminal does not answer cursor-position queries: the preview paces by the writer queue")
            self._notify()
        elif self.acks and age > ACK_LOST_S:
            log.info("no answer from the terminal for %.0f s; taking the link as drained", age)
            self._query = None
            self._confirm(self._sent, now, measured=False)

    def _writer_idle(self) -> bool:
        queue = getattr(self._writer, "_queue", None)
        return queue is None or queue.qsize() == 0

    # ---------------------------------------------------------------- the preview asks

    def ready(self) -> bool:
        """True when the previous frame (and everything else written) has reached the terminal."""
        if not self.attached:
            return True
        if self.acks is False:
            return self._writer_idle()
        if self._sent == self._confirmed and self._query is None:
            return True
        # The answer may lag behind the link (a busy app, a long round trip): a previous frame
        # whose bytes the link has carried by now, at the rate the rounds prove at least,
        # counts as drained, one frame at most.
        capacity = self.rate.throughput_low(self.clock())
        if capacity is None or self._frames_unconfirmed > 1 or not self._writer_idle():
            return False
        return self.clock() - self._last_write >= (self._sent - self._confirmed) / capacity

    def frame_shown(self, full: bool = False, cells: int = 0) -> None:
        """A preview frame goes to the screen now: its bytes are what the next round carries.

        Args:
            full: it repaints every cell (not only the changed ones).
            cells: the cells of the preview area (a full repaint's size before one is measured).
        """
        self.frames_shown += 1
        self._frames_unconfirmed += 1
        if cells:
            self.chooser.cells = cells
        if self.attached and self._frame_mark is None:
            self._frame_mark = (self._sent, full)

    def frame_skipped(self) -> None:
        """A newer frame replaced one that waited for the link."""
        self.frames_skipped += 1
        self._skipped_at = self.clock()

    @property
    def limited(self) -> bool:
        """True while the link holds frames back (one was skipped in the last LIMITED_S)."""
        return self._skipped_at is not None and self.clock() - self._skipped_at < LIMITED_S

    # ---------------------------------------------------------------- levels

    @property
    def level(self) -> Level:
        return self.chooser.level

    @property
    def at_top(self) -> bool:
        """True while the preview runs at the best level the operator allows."""
        return self.chooser.index == 0

    @property
    def max_fps(self) -> float:
        return self.chooser.max_fps

    @property
    def max_depth(self) -> str:
        return self.chooser.max_depth

    @property
    def pinned_depth(self) -> str | None:
        return self.chooser.pinned_depth

    @property
    def mode(self) -> str:
        """The preview mode in words: '15fps truecolor', '2fps 256c', '1fps ascii half'."""
        lvl = self.level
        depth = "truecolor" if lvl.depth == "truecolor" else DEPTH_SHORT[lvl.depth]
        return f"{lvl.fps:g}fps {depth}" + (" half" if lvl.scale < 1 else "")

    @property
    def bytes_per_s(self) -> float:
        """What the app wrote per second over the last ``RATE_WINDOW_S`` seconds."""
        now = self.clock()
        writes = self._writes
        while writes and writes[0][0] < now - RATE_WINDOW_S:
            writes.popleft()
        return sum(n for _, n in writes) / RATE_WINDOW_S

    @property
    def capacity(self) -> float | None:
        """Measured link throughput in bytes/s beyond the latency, or None before a round was measured.

        LinkRate.throughput over the recent rounds. A link that slows down is caught by the
        answers themselves (no frame goes out before them) and old rounds are forgotten.
        """
        return self.rate.throughput(self.clock())

    def summary(self) -> str:
        """Short text for a status line (at most 24 columns): '3.1KB/s 15fps 256c'.

        Under 1 KB/s the rate reads '<1KB/s': the header redraws when this text changes, and
        each redraw (a few hundred bytes) moved an idle tab's byte count, which changed the
        text again, so an idle tab kept writing about 500 B/s to show its own writing.
        """
        lvl = self.level
        half = "\u00bd" if lvl.scale < 1 else ""
        rate = self.bytes_per_s
        shown = "<1KB/s" if rate < 1000 else format_rate(rate)
        return f"{shown} {lvl.fps:g}fps {DEPTH_SHORT[lvl.depth]}{half}"

    def set_limits(self, *, max_fps: float | None = None, pinned_depth: str | None | bool = False,
                   max_depth: str | None = None) -> None:
        """The operator's choices: a new fps cap and/or a pinned depth (None: automatic; False: unchanged);
        ``max_depth``: what the terminal shows (``terminal_depth``). The level restarts at the top."""
        limits: dict = {}
        if max_fps is not None:
            limits["max_fps"] = float(max_fps)
        if pinned_depth is not False:
            limits["pinned_depth"] = pinned_depth
        if max_depth is not None:
            limits["max_depth"] = max_depth
        self.chooser.set_limits(self.clock(), **limits)
        self._notify()

    def _adapt(self, now: float) -> None:
        capacity = self.capacity
        old = self.chooser.adapt(capacity, now, limited=self.limited, proven=self.rate.throughput_low(now))
        if old is not None:
            steady = self.chooser.steady
            log.info("preview %gfps %s x%g -> %s: link %s, a frame %s bytes, %d frames skipped so far", old.fps,
                     old.depth, old.scale, self.mode, format_rate(capacity or 0.0),
                     "?" if steady is None else f"{steady:.0f}", self.frames_skipped)

    def _notify(self) -> None:
        for callback in list(self._listeners):
            callback()
