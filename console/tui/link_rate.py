"""The terminal link's latency and throughput, told apart, from timed rounds.

A round is what the console wrote up to a cursor-position query, timed from its first write
on an idle link (or from the previous answer, when its bytes waited behind that query) until
the terminal's answer (console/tui/link.py). Its time is the latency (the round trip of a
tiny write: the network, and the app, the pty and the terminal getting round to it) plus the
bytes over the throughput. On a busy machine the latency alone scatters by tens of ms, so one
round's time says little about the link: a 2 KB frame that took 80 ms on a fast link is a slow
CPU, not a 25 KB/s link. So the two are measured apart:

- latency: the median of recent *pings*, rounds of a query alone on an idle link (a few
  bytes: nothing for the link to carry); 0 before the first ping (the rounds then read as
  slow as they took: the safe side at the start);
- throughput: from the recent rounds that carried at least ``MIN_SAMPLE_BYTES``, the median
  of their time beyond that latency per byte. A busy CPU delays pings and rounds alike, so
  a round's delay beyond the median ping is as often negative as positive and the median per
  byte is the link's; medians on both sides, so the occasional long stall (which would raise
  a mean) counts for neither. (The old estimate took the quickest round off each round with
  a 30 ms floor: small frames on a busy machine read as a 50-80 KB/s link.) A round that
  waited behind the previous answer took the larger of its bytes' time and one latency, so
  it reads at most one latency quick: a slight overestimate, only while the link is that busy;
- a link whose rounds take no longer than its pings is faster than the rounds can show:
  ``FAST_LINK``.

Pure bookkeeping: times and byte counts in, figures out (no clock, no I/O).
"""
from __future__ import annotations

import statistics
from collections import deque

PING_BYTES = 16                # a round this small measures the latency (a ping is the 4-byte query)
MIN_SAMPLE_BYTES = 512         # smaller rounds say more about latency than throughput
PINGS = 15                     # the latency is the median of this many recent pings
SAMPLES = 40                   # throughput: at most this many recent rounds ...
WINDOW_S = 10.0                # ... of the last this many seconds (a link changes)
FAST_LINK = 100e6              # bytes/s reported when the rounds took no longer than the pings


class LinkRate:
    """Latency and throughput from confirmed rounds. Build one per link.

    Rounds come in as ``add(now, nbytes, took_s)``; ``latency()`` and ``throughput(now)``
    read the figures. Times are seconds on any monotonic clock.
    """

    def __init__(self) -> None:
        self._pings: deque[float] = deque(maxlen=PINGS)
        self._rounds: deque[tuple[float, int, float]] = deque(maxlen=SAMPLES)

    def add(self, now: float, nbytes: int, took_s: float) -> None:
        """A confirmed round: ``nbytes`` (its query included) answered ``took_s`` after the round began.

        Args:
            now: when the answer came (monotonic seconds).
            nbytes: bytes the round carried; up to PING_BYTES it is a ping.
            took_s: seconds from the round's start to the answer.
        """
        took_s = max(0.0, took_s)
        if nbytes <= PING_BYTES:
            self._pings.append(took_s)
        elif nbytes >= MIN_SAMPLE_BYTES:
            self._rounds.append((now, nbytes, took_s))

    def latency(self) -> float:
        """Seconds a round takes whatever it carries: the median of the recent pings (0 before one)."""
        return statistics.median(self._pings) if self._pings else 0.0

    def throughput(self, now: float) -> float | None:
        """Bytes per second the link carries beyond its latency; None before a round of MIN_SAMPLE_BYTES.

        One over the median, across the recent rounds, of their seconds beyond the latency per
        byte (a round quicker than the median ping counts below zero: the latency scatters both
        ways); ``FAST_LINK`` when that median is nil.
        """
        latency = self.latency()
        per_byte = [(took - latency) / n for at, n, took in self._rounds if now - at < WINDOW_S]
        if not per_byte:
            return None
        seconds_per_byte = statistics.median(per_byte)
        if seconds_per_byte * FAST_LINK <= 1.0:
            return FAST_LINK
        return 1.0 / seconds_per_byte
