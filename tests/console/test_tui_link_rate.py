"""The link estimate and the preview level it picks, fed with timestamps and byte counts.

``LinkRate`` (console/tui/link_rate.py) and ``LevelChooser`` are pure; ``LinkMonitor``
(console/tui/link.py) runs here on a simulated clock against ``SimulatedLink``: the bytes it
writes cross at a fixed rate, and each query's answer comes back one latency plus a CPU delay
after its bytes crossed. The monitor is the real one; only Textual's terminal driver is
replaced (by ``SimulatedLink.write``), as there is no terminal in a unit test. The CPU delays
are seeded random draws (``busy_cpu``), so every run sees the same ones.
"""
from __future__ import annotations

import heapq
import random

import pytest

from camdeck.console.tui.link import DSR_QUERY, LinkMonitor
from camdeck.console.tui.link_rate import FAST_LINK, LinkRate
from camdeck.console.tui.preview_level import Level, LevelChooser

TOP = Level(15.0, "truecolor", 1.0)


def busy_cpu(seed: int = 0, scale: float = 1.0):
    """How late a loaded machine's app sees each answer, in seconds: mostly 5-40 ms, one in
    three 40-150 ms (seeded: the same draws every run)."""
    rng = random.Random(seed)
    while True:
        yield scale * (rng.uniform(0.005, 0.040) if rng.random() < 2 / 3 else rng.uniform(0.040, 0.150))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SimulatedLink:
    """A terminal behind a link of ``rate`` bytes/s and ``latency`` s, answering queries.

    Args:
        rate: bytes per second the link carries.
        latency: seconds from a query crossing to its answer reaching the app.
        cpu_delays: an iterator of extra seconds before the app sees each answer (None: none).
    """

    def __init__(self, clock: Clock, rate: float, latency: float, cpu_delays=None) -> None:
        self.clock, self.rate, self.latency = clock, rate, latency
        self.delays = cpu_delays
        self.free_at = 0.0                      # when the link has carried everything written so far
        self.answers: list[float] = []          # when the app will see each answer (a heap)

    def write(self, data: str) -> None:        # the terminal driver's write (LinkMonitor.attach wraps it)
        self.free_at = max(self.free_at, self.clock.now) + len(data.encode()) / self.rate
        if data == DSR_QUERY:
            delay = 0.0 if self.delays is None else next(self.delays)
            heapq.heappush(self.answers, self.free_at + self.latency + delay)


def stream(monitor: LinkMonitor, link: SimulatedLink, clock: Clock, *, seconds: float, fps: float,
           frame_bytes: int, cells: int = 600) -> int:
    """Offer a preview frame of ``frame_bytes`` every 1/fps s for ``seconds``, as the Cameras tab does
    (shown when ``ready()``, else kept and replaced by the next); returns the frames shown."""
    next_frame, next_tick, pending, first = 0.0, 1.0, False, True
    while clock.now < seconds:
        answer = link.answers[0] if link.answers else float("inf")
        clock.now = min(answer, next_frame, next_tick)
        if clock.now == answer:
            heapq.heappop(link.answers)
            monitor.acknowledged(clock.now)
        elif clock.now == next_tick:
            monitor.tick()
            next_tick += 1.0
            continue
        else:
            if pending:
                monitor.frame_skipped()
            pending = True
            next_frame += 1.0 / fps
        if pending and monitor.ready():
            pending = False
            monitor.frame_shown(full=first, cells=cells)
            link.write("x" * (cells * 36 if first else frame_bytes))   # Textual's display, through the monitor
            monitor.displayed()
            first = False
    return monitor.frames_shown


def attached(clock: Clock, link: SimulatedLink) -> LinkMonitor:
    monitor = LinkMonitor(max_fps=15.0, clock=clock)
    monitor.attach(link)
    return monitor


# ---------------------------------------------------------------- LinkRate alone

def test_the_latency_is_the_median_ping():
    rate = LinkRate()
    assert rate.latency() is None and rate.throughput(0.0) is None
    for i, took in enumerate((0.010, 0.200, 0.012, 0.011, 0.150)):
        rate.add(float(i), 4, took)
    assert rate.latency() == pytest.approx(0.012)
    assert rate.throughput(5.0) is None          # pings say nothing of the throughput


def test_no_throughput_before_five_pings_and_three_rounds():
    rate = LinkRate()
    rate.add(0.1, 4, 0.020)
    rate.add(0.3, 21_600, 0.150)                 # one ping, one round: two draws of a busy machine's delays
    for i, took in enumerate((0.150, 0.046, 0.090)):
        rate.add(0.4 + i / 10, 4, took)
    rate.add(0.8, 2000, 0.046)
    rate.add(0.9, 2000, 0.111)
    assert rate.throughput(1.0) is None          # four pings
    rate.add(1.0, 4, 0.030)
    assert rate.throughput(1.0) is not None


def test_a_link_drained_at_8_kb_s_reads_8_kb_s_whatever_the_frame_sizes():
    rate = LinkRate()
    for i in range(10):
        rate.add(i + 0.5, 4, 0.005)
        nbytes = (600, 2000, 5000)[i % 3]
        rate.add(i + 0.9, nbytes, 0.005 + nbytes / 8000)
    assert rate.throughput(10.0) == pytest.approx(8000, rel=0.01)


def test_a_busy_cpu_delaying_pings_and_small_rounds_alike_reads_as_a_fast_link():
    rate = LinkRate()
    pings, rounds = busy_cpu(1), busy_cpu(2)
    for i in range(30):
        rate.add(i * 0.1, 4, 0.001 + next(pings))
        rate.add(i * 0.1 + 0.05, 2000, 0.001 + next(rounds) + 2000 / 50e6)
    assert rate.throughput(3.0) == FAST_LINK
    assert rate.throughput_low(3.0) < 200_000    # but 2 KB rounds on a busy machine prove little more


def test_old_rounds_are_forgotten():
    rate = LinkRate()
    for i in range(5):
        rate.add(i * 0.1, 4, 0.001)
        rate.add(i * 0.1 + 0.05, 4000, 0.501)    # 8 KB/s, long ago
    assert rate.throughput(1.0) == pytest.approx(8000, rel=0.01)
    assert rate.throughput(20.0) is None


# ---------------------------------------------------------------- LevelChooser alone

def test_frames_that_all_get_through_keep_the_level_whatever_the_share_of_the_link():
    chooser = LevelChooser(15.0, "truecolor", None)
    chooser.steady = 3000.0                      # 45 KB/s at 15 fps on a 60 KB/s link: 75 % of it
    assert chooser.adapt(60_000.0, 10.0, limited=False) is None and chooser.level == TOP
    assert chooser.adapt(60_000.0, 10.5, limited=True) == TOP          # skipping frames: it falls
    assert chooser.level.fps < 15.0


def test_a_frame_that_cannot_drain_in_time_lowers_the_level_even_when_none_is_skipped():
    chooser = LevelChooser(15.0, "truecolor", None)
    chooser.steady = 3000.0                      # 0.375 s each at 8 KB/s: a key would wait that long
    assert chooser.adapt(8000.0, 10.0, limited=False) == TOP
    assert chooser.level != TOP


def test_a_climb_to_bigger_frames_waits_for_rounds_that_prove_the_link_carries_them():
    chooser = LevelChooser(15.0, "truecolor", None)
    chooser.record(15_000, full=True)            # a whole truecolor picture: 15 KB
    chooser.record(300, full=False)
    chooser.adapt(10_000.0, 1.0)                 # a 10 KB/s link: down to a cheaper look
    low = chooser.level
    assert low.depth != "truecolor"
    # Later the rounds cannot tell the link from the machine (fast, as far as they go), but
    # show no more than 10 KB/s for sure: a 15 KB repaint could hold a key 1.5 s.
    assert chooser.adapt(FAST_LINK, 10.0, limited=False, proven=10_000.0) is None
    assert chooser.level == low
    assert chooser.adapt(FAST_LINK, 12.0, limited=False, proven=FAST_LINK) == low   # proven: it climbs


# ---------------------------------------------------------------- LinkMonitor on a simulated link

def test_a_slow_cpu_with_small_frames_on_a_fast_link_keeps_15_fps_truecolor():
    clock = Clock()
    link = SimulatedLink(clock, rate=50e6, latency=0.001, cpu_delays=busy_cpu())
    monitor = attached(clock, link)
    levels = set()
    monitor.add_listener(lambda: levels.add(monitor.level))
    stream(monitor, link, clock, seconds=30.0, fps=15.0, frame_bytes=2000)
    assert monitor.acks and monitor.frames_shown > 100
    assert levels == {TOP}, levels                # never stepped down, not even once
    assert monitor.capacity == FAST_LINK


def test_a_link_drained_at_8_kb_s_lowers_the_level_and_measures_the_rate():
    clock = Clock()
    link = SimulatedLink(clock, rate=8000.0, latency=0.005, cpu_delays=busy_cpu())
    monitor = attached(clock, link)
    stream(monitor, link, clock, seconds=30.0, fps=15.0, frame_bytes=2000)
    assert monitor.capacity == pytest.approx(8000, rel=0.15)    # the machine's delays blur it a little
    assert monitor.level.fps < 15.0 and monitor.level.depth == "ascii"
    assert monitor.frames_skipped > 0             # frames were dropped while the link drained, not queued


def test_a_slow_link_lowers_the_level_within_its_first_rounds():
    clock = Clock()
    link = SimulatedLink(clock, rate=8000.0, latency=0.005)
    monitor = attached(clock, link)
    stream(monitor, link, clock, seconds=4.0, fps=15.0, frame_bytes=2000)   # the first full frame: ~2.7 s
    assert monitor.level != TOP
