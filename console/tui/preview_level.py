"""The preview level a link affords: frames per second, colour depth and size, in preference order.

``LevelChooser`` keeps the ladder of levels (fps falls first, then colour depth, then size)
and moves along it from what the link monitor (console/tui/link.py) measures: the link's
throughput and the bytes each preview frame cost. Two kinds of frame cost differently:

- a *full* frame repaints every cell (the first at a new depth or size, a new camera, the
  preview resumed, a change of the whole picture such as a new exposure); it must drain
  within ``TRANSITION_S``. That holds for the level the preview is at, not only for a new
  one: a full repaint can come at any time, and a key pressed meanwhile waits behind it;
- a *steady* frame repaints only the cells that changed (console/render_cells.py); it must
  drain within ``MAX_FRAME_S`` (a key pressed meanwhile waits no longer), and the preview
  must use at most ``SHARE`` of the link.

The level falls at once to the first that fits; for the share of the link only while the
link holds frames back (``limited``: the monitor skipped a frame lately), since frames that
all get through are not limited by the link whatever the estimate says. It climbs one step
at a time after a hold, when the next step fits with a margin; a climb that does not hold doubles the hold (up to
``MAX_HOLD_S``), so a link at the edge of two levels does not make the preview flicker.
"""
from __future__ import annotations

from typing import NamedTuple

MAX_FRAME_S = 0.15             # a steady frame drains within this
TRANSITION_S = 0.45            # a full repaint drains within this
SHARE = 0.5                    # the preview uses at most this share of the measured link
UP_MARGIN = 0.7                # climb only when the next level fits with this margin
HOLD_S = 2.0                   # at least this long between two climbs
MAX_HOLD_S = 60.0
FPS_STEPS = (30.0, 15.0, 10.0, 5.0, 2.0)
DEPTHS = ("truecolor", "256", "ascii")
DEPTH_COST = {"truecolor": 1.0, "256": 0.55, "ascii": 0.06}   # bytes of a full frame, relative
BYTES_PER_CELL = 36.0          # a truecolor half-block cell: two 24-bit colours and a 3-byte character
SCALE_COST = {1.0: 1.0, 0.5: 0.3}
DEPTH_SHORT = {"truecolor": "tc", "256": "256c", "ascii": "ascii"}


class Level(NamedTuple):
    """One preview setting: frames per second, colour depth, fraction of the area used."""

    fps: float
    depth: str
    scale: float

    @property
    def cost(self) -> float:
        """Bytes of a full frame relative to truecolor at full size."""
        return DEPTH_COST[self.depth] * SCALE_COST[self.scale]

    @property
    def look(self) -> tuple[str, float]:
        """What a change repaints everything for: depth and size (fps only spaces frames)."""
        return self.depth, self.scale


def ladder(max_fps: float, depths: tuple[str, ...]) -> list[Level]:
    """Every level in preference order: each depth at falling fps, then the last depth at half size."""
    steps = [max_fps] + [f for f in FPS_STEPS if f < max_fps]
    levels = [Level(f, d, 1.0) for d in depths for f in steps]
    last = depths[-1]
    levels += [Level(f, last, 0.5) for f in (2.0, 1.0, 0.5) if f <= max_fps]
    return levels or [Level(max_fps, last, 1.0)]


class LevelChooser:
    """Walks the ladder from measured frame costs and link throughput.

    Args:
        max_fps: the operator's cap; max_depth: the best depth the terminal shows;
        pinned_depth: the operator's depth (None: automatic).
    """

    def __init__(self, max_fps: float, max_depth: str, pinned_depth: str | None) -> None:
        self.max_fps, self.max_depth, self.pinned_depth = float(max_fps), max_depth, pinned_depth
        self.cells = 600               # cells of the preview area (80x24: about 52x11)
        self.levels = self._ladder()
        self.index = 0
        self.steady: float | None = None            # bytes of a steady frame at the current look
        self.full: dict[tuple[str, float], float] = {}
        self._last_change = -HOLD_S
        self._hold = HOLD_S
        self._climbed_at: float | None = None

    @property
    def level(self) -> Level:
        return self.levels[self.index]

    def _ladder(self) -> list[Level]:
        if self.pinned_depth is not None:
            return ladder(self.max_fps, (self.pinned_depth,))
        return ladder(self.max_fps, DEPTHS[DEPTHS.index(self.max_depth):])

    def set_limits(self, now: float, **limits) -> None:
        """New operator or terminal limits (max_fps, max_depth, pinned_depth): back to the top of the ladder."""
        for name, value in limits.items():
            setattr(self, name, value)
        old = self.level
        self.levels = self._ladder()
        self.index = 0
        self._moved(old, now)

    def record(self, cost: float, full: bool) -> None:
        """The bytes of one round that carried a frame at the current level."""
        if full:
            key = self.level.look
            self.full[key] = cost if key not in self.full else 0.5 * self.full[key] + 0.5 * cost
        else:
            self.steady = cost if self.steady is None else 0.7 * self.steady + 0.3 * cost

    def full_estimate(self, lvl: Level) -> float:
        if lvl.look in self.full:
            return self.full[lvl.look]
        for (depth, scale), cost in self.full.items():   # measured at another look: scale it
            return cost * lvl.cost / Level(0, depth, scale).cost
        return self.cells * BYTES_PER_CELL * lvl.cost

    def fits(self, lvl: Level, capacity: float, margin: float, limited: bool = True) -> bool:
        """Whether ``lvl``'s frames fit a link of ``capacity`` bytes/s with ``margin`` (1: exactly).

        ``limited`` False leaves out the share of the link (frames all get through); a steady
        frame and a full repaint (at ``lvl``'s look, whether or not it is the current one)
        must still drain in time, as a key waits behind them.
        """
        current = self.level
        # Fewer colours cost fewer bytes; more colours are tried at today's cost and kept if they hold.
        # Before any steady frame (the start), every frame is taken to be a full one.
        steady = self.full_estimate(lvl) if self.steady is None else self.steady * min(1.0, lvl.cost / current.cost)
        if steady > MAX_FRAME_S * capacity * margin:
            return False
        if limited and steady * lvl.fps > SHARE * capacity * margin:
            return False
        # At today's look a full repaint costs what it costs now: the margin is for new looks.
        return self.full_estimate(lvl) <= TRANSITION_S * capacity * (1.0 if lvl.look == current.look else margin)

    def adapt(self, capacity: float | None, now: float, limited: bool = True,
              proven: float | None = None) -> Level | None:
        """Move along the ladder for ``capacity`` bytes/s; the old level when it moved, else None.

        Args:
            capacity: the link's measured throughput (None: not measured yet, stay).
            now: monotonic seconds.
            limited: the link holds frames back now (see ``fits``).
            proven: what the link carries at least (LinkRate.throughput_low): a climb needs
                it to fit, so a link too fast for the rounds to resolve is not taken to carry
                frames bigger than they show (default: ``capacity``).
        """
        if capacity is None:
            return None
        levels, index = self.levels, self.index
        if not self.fits(levels[index], capacity, 1.0, limited):
            target = next((i for i in range(index + 1, len(levels)) if self.fits(levels[i], capacity, 1.0, limited)),
                          len(levels) - 1)
            if self._climbed_at is not None and now - self._climbed_at < 2 * self._hold + HOLD_S:
                self._hold = min(MAX_HOLD_S, self._hold * 2)   # the last climb did not hold
            self._climbed_at = None
        elif index > 0 and now - self._last_change >= self._hold and self.fits(
                levels[index - 1], capacity if proven is None else min(capacity, proven), UP_MARGIN):
            target = index - 1
            self._climbed_at = now
        else:
            if self._climbed_at is None and now - self._last_change > MAX_HOLD_S:
                self._hold = HOLD_S                           # stable for a while: climb readily again
            return None
        if target == index:
            return None
        old = levels[index]
        self.index = target
        self._moved(old, now)
        return old

    def _moved(self, old: Level, now: float) -> None:
        self._last_change = now
        new = self.level
        if new.look != old.look:
            self.steady = None if self.steady is None else self.steady * min(1.0, new.cost / old.cost)
