"""The terminal link's latency and throughput, told apart, from timed rounds.

A round is what the console wrote up to a cursor-position query, timed until the terminal's
answer (console/tui/link.py). An *idle* round began on a drained link: its time is the
latency (the round trip of a tiny write: the network, plus the app, the pty and the terminal
getting round to it) plus its bytes over the throughput. A *busy* round's bytes waited behind
the previous query, and it is timed from that query's answer: while the link is what holds
them back, its time is its bytes over the throughput plus the network part of the latency
(the app's own delay on the two answers cancels out).

On a busy machine the latency alone scatters by tens of ms, so one round's time says little
about the link: a 2 KB frame that took 80 ms on a fast link is a slow CPU, not a 25 KB/s
link. (The old estimate took the quickest round off each round with a 30 ms floor: small
frames on a loaded machine read as a 50-80 KB/s link, and a fast link fell to 256 colours.)
So the two are measured apart:

- latency: *pings*, queries alone on a drained link (a few bytes: nothing to carry); the
  latency is their median, the network's part their quickest;
- throughput: over the recent idle rounds that carried at least ``MIN_SAMPLE_BYTES``, one
  over the median of their time beyond the median ping per byte. The machine delays pings
  and rounds alike, so that excess is as often negative as positive and the median per byte
  is the link's (medians on both sides: a long stall counts for neither). Busy rounds, less
  the quickest ping, stand in when there are too few idle ones (a saturated link has none);
- a link whose rounds' time beyond the latency per byte is, at the median, no more than
  those times spread (their interquartile range) is faster than the rounds can tell from the
  machine's own delays: ``FAST_LINK``. A link that holds the bytes back takes about the same
  time per byte every round; noise does not. (On a link that fast by this test but busy, the
  rounds grow until it tells.) Nothing is given before ``MIN_PINGS`` pings and ``MIN_ROUNDS``
  rounds: one ping and one round are two draws of the machine's delays. ``throughput_low``
  is what the rounds prove at least (their upper quartile): the preview climbs on that.

Pure bookkeeping: times and byte counts in, figures out (no clock, no I/O).
"""
from __future__ import annotations

import statistics
from collections import deque
from typing import NamedTuple

PING_BYTES = 16                # an idle round this small is a ping (the query is 4 bytes)
MIN_SAMPLE_BYTES = 256         # smaller rounds say more about latency than throughput
PINGS = 31                     # the latency is taken from this many recent pings (one a second)
MIN_PINGS = 5                  # no throughput before this many pings (LinkMonitor takes them first) ...
MIN_ROUNDS = 3                 # ... and this many rounds of MIN_SAMPLE_BYTES
SAMPLES = 60                   # throughput: at most this many recent rounds ...
WINDOW_S = 10.0                # ... of the last this many seconds (a link changes)
FAST_LINK = 100e6              # bytes/s reported when the rounds cannot tell the link from the machine


class Round(NamedTuple):
    at: float                  # when the answer came
    nbytes: int
    took_s: float
    idle: bool                 # it began on a drained link


class LinkRate:
    """Latency and throughput from confirmed rounds. Build one per link.

    Rounds come in as ``add(now, nbytes, took_s, idle)``; ``latency()`` and
    ``throughput(now)`` read the figures. Times are seconds on any monotonic clock.
    """

    def __init__(self) -> None:
        self._pings: deque[float] = deque(maxlen=PINGS)
        self._rounds: deque[Round] = deque(maxlen=SAMPLES)
        self._measured = 0                         # rounds of MIN_SAMPLE_BYTES ever

    def add(self, now: float, nbytes: int, took_s: float, idle: bool = True) -> None:
        """A confirmed round.

        Args:
            now: when the answer came (monotonic seconds).
            nbytes: bytes the round carried, its query included; an idle round of at most
                PING_BYTES is a ping.
            took_s: seconds from the round's start (its first write, or the previous answer
                for a busy round) to the answer.
            idle: it began on a drained link.
        """
        took_s = max(0.0, took_s)
        if nbytes <= PING_BYTES:
            if idle:
                self._pings.append(took_s)
        elif nbytes >= MIN_SAMPLE_BYTES:
            self._rounds.append(Round(now, nbytes, took_s, idle))
            self._measured += 1

    @property
    def pings(self) -> int:
        """How many recent pings the latency is taken from."""
        return len(self._pings)

    def latency(self) -> float | None:
        """Seconds a round takes whatever it carries: the median of the recent pings (None before one)."""
        return statistics.median(self._pings) if self._pings else None

    def throughput(self, now: float) -> float | None:
        """Bytes per second the link carries beyond its latency (see the module doc).

        None before MIN_PINGS pings and MIN_ROUNDS rounds of MIN_SAMPLE_BYTES, or when no
        round is recent.
        """
        quartiles = self._quartiles(now)
        if quartiles is None:
            return None
        q1, median, q3 = quartiles
        return FAST_LINK if median <= q3 - q1 else _rate(median)

    def throughput_low(self, now: float) -> float | None:
        """What the link carries at least, as far as the rounds show: one over their upper quartile
        of time per byte. A fast link the rounds cannot resolve reads no faster than they show,
        so a climb to bigger frames waits for rounds that prove it (None as ``throughput``)."""
        quartiles = self._quartiles(now)
        return None if quartiles is None else _rate(quartiles[2])

    def _quartiles(self, now: float) -> tuple[float, float, float] | None:
        """(q1, median, q3) of the recent rounds' seconds per byte beyond the latency."""
        if len(self._pings) < MIN_PINGS or self._measured < MIN_ROUNDS:
            return None
        recent = [r for r in self._rounds if now - r.at < WINDOW_S]
        idle = [r for r in recent if r.idle]
        rounds = idle if len(idle) >= MIN_ROUNDS else recent
        if not rounds:
            return None
        latency, network = statistics.median(self._pings), min(self._pings)
        per_byte = [(r.took_s - (latency if r.idle else network)) / r.nbytes for r in rounds]
        if len(per_byte) < 2:
            return per_byte[0], per_byte[0], per_byte[0]
        q1, median, q3 = statistics.quantiles(per_byte, n=4)
        return q1, median, q3


def _rate(seconds_per_byte: float) -> float:
    return FAST_LINK if seconds_per_byte * FAST_LINK <= 1.0 else 1.0 / seconds_per_byte
