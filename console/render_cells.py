"""Preview cells at a chosen colour depth, redrawn only where the picture changed.

A thin SSH link cannot carry a full truecolor preview at 15 fps (about 38 bytes per
half-block cell), so the preview has three depths, cheapest last:

- ``truecolor``: '▀' cells with 24-bit fore/background colours (5 bits per channel kept);
- ``256``: the same cells in the xterm 256-colour palette (``38;5;N``: about half the bytes);
- ``ascii``: one grey level per cell from a density ramp, in the widget's own colour.

Each picture keeps its cell colours (``PreviewCells.colors``), so the next picture can be
compared with what the terminal shows: only cells whose colour moved by more than a
threshold are redrawn (``PreviewCells.dirty``), the others keep the colour on screen. Noise
in a still scene then costs almost nothing on the link. The drift the threshold lets stand is
put right a band of rows at a time (``exact_rows``: every cell there that moved at all), so no
single frame repaints the whole picture for it: on a thin link that one frame would hold up
every key behind it.

Pure numpy + rich, like console/render.py (no Textual here).
"""
from __future__ import annotations

import numpy as np
from rich.color import Color, ColorTriplet, ColorType
from rich.segment import Segment
from rich.style import Style

from camdeck.console.render import (
    HALF_BLOCK, PreviewCells, area_resize, ascii_rows, fit_cells, luma,
)

DEPTHS = ("truecolor", "256", "ascii")     # best first
DRIFT_MEAN = 2.5                           # mean levels the whole picture moved one way: a global change (exposure,
                                           # light) that the per-cell threshold would hide; redraw exactly
DEFAULT_THRESHOLD = 10                     # 8-bit levels a channel must move before its cell is redrawn
                                           # (just over one 5-bit step: sensor noise stays off the link)
SPAN_GAP = 3                               # changed cells this close on a row are sent as one span
_TRUECOLOR_BITS = 5                        # as render.halfblock_rows: 32 levels per channel

# The xterm palette: a 6x6x6 cube (16-231) and 24 greys (232-255).
_CUBE_LEVELS = np.array([0, 95, 135, 175, 215, 255], dtype=np.int32)
_GREY_LEVELS = np.arange(24, dtype=np.int32) * 10 + 8


def check_depth(depth: str) -> str:
    """``depth`` if it is one of DEPTHS; raises ValueError naming the choices otherwise."""
    if depth not in DEPTHS:
        raise ValueError(f"unknown preview depth {depth!r}; expected one of {', '.join(DEPTHS)}")
    return depth


def palette_index(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 255] -> (...) xterm-256 palette index (16-255), the nearest of cube and grey ramp."""
    v = np.clip(np.asarray(rgb, dtype=np.float32), 0, 255)
    # Nearest cube level per channel (levels are not evenly spaced below 95).
    cube_q = np.abs(v[..., None] - _CUBE_LEVELS).argmin(axis=-1)
    cube_rgb = _CUBE_LEVELS[cube_q]
    cube_err = ((cube_rgb - v) ** 2).sum(axis=-1)
    grey = v.mean(axis=-1)
    grey_q = np.clip(np.round((grey - 8) / 10), 0, 23).astype(np.int32)
    grey_err = ((_GREY_LEVELS[grey_q][..., None] - v) ** 2).sum(axis=-1)
    cube_idx = 16 + 36 * cube_q[..., 0] + 6 * cube_q[..., 1] + cube_q[..., 2]
    return np.where(grey_err < cube_err, 232 + grey_q, cube_idx).astype(np.int32)


def palette_rgb(index: np.ndarray) -> np.ndarray:
    """xterm-256 palette indices 16-255 -> (..., 3) uint8 RGB."""
    idx = np.asarray(index, dtype=np.int32)
    cube = idx - 16
    rgb = np.stack([_CUBE_LEVELS[(cube // 36) % 6], _CUBE_LEVELS[(cube // 6) % 6], _CUBE_LEVELS[cube % 6]], axis=-1)
    grey = _GREY_LEVELS[np.clip(idx - 232, 0, 23)]
    return np.where((idx >= 232)[..., None], grey[..., None], rgb).astype(np.uint8)


def cell_colors(rgb: np.ndarray, cols: int, rows: int, depth: str) -> np.ndarray:
    """The colours of ``cols x rows`` cells showing ``rgb`` at ``depth``.

    Args:
        rgb: (H, W, 3) uint8 picture.
        cols, rows: cells; a half-block cell holds two pixels, one above the other.
        depth: one of DEPTHS.
    Returns:
        (rows, cols, 6) uint8 (upper RGB, lower RGB) for 'truecolor' and '256', already
        quantised to what the terminal will show; (rows, cols, 1) uint8 grey for 'ascii'.
    """
    check_depth(depth)
    if depth == "ascii":
        return np.clip(area_resize(luma(rgb), cols, rows) + 0.5, 0, 255).astype(np.uint8)[..., None]
    small = np.clip(area_resize(rgb[..., :3], cols, 2 * rows), 0, 255)
    if depth == "256":
        pixels = palette_rgb(palette_index(small))
    else:
        shift = 8 - _TRUECOLOR_BITS
        q = small.astype(np.uint32) >> shift
        levels = (1 << _TRUECOLOR_BITS) - 1
        pixels = np.round(q.astype(np.float32) * (255.0 / levels)).astype(np.uint8)
    return np.concatenate([pixels[0::2], pixels[1::2]], axis=-1)


def changed_cells(new: np.ndarray, shown: np.ndarray, threshold: int) -> np.ndarray:
    """(rows, cols) bool: cells where any channel differs by more than ``threshold`` levels."""
    delta = np.abs(new.astype(np.int16) - shown.astype(np.int16))
    return delta.max(axis=-1) > threshold


def dirty_spans(changed: np.ndarray, gap: int = SPAN_GAP) -> list[tuple[int, int, int]]:
    """Runs of changed cells per row as (row, x0, x1) with x1 exclusive; runs closer than ``gap`` merge.

    A cursor move costs about as much as a few cells, so near runs go as one.
    """
    spans: list[tuple[int, int, int]] = []
    for row in np.flatnonzero(changed.any(axis=1)).tolist():
        xs = np.flatnonzero(changed[row])
        breaks = np.flatnonzero(np.diff(xs) > gap + 1)
        starts = np.concatenate(([xs[0]], xs[breaks + 1]))
        ends = np.concatenate((xs[breaks], [xs[-1]])) + 1
        spans.extend((row, int(a), int(b)) for a, b in zip(starts.tolist(), ends.tolist()))
    return spans


class _Styles:
    """(upper, lower) colour pair -> rich Style, per depth; bounded so memory stays flat."""

    def __init__(self, max_size: int = 1 << 16) -> None:
        self.max_size = max_size
        self._styles: dict[tuple[str, int], Style] = {}

    def get(self, depth: str, key: int) -> Style:
        style = self._styles.get((depth, key))
        if style is None:
            if len(self._styles) >= self.max_size:
                self._styles.clear()   # cheap reset beats LRU bookkeeping per cell
            up, low = key >> 24, key & 0xFFFFFF
            style = Style.from_color(self._color(depth, up), self._color(depth, low))
            self._styles[(depth, key)] = style
        return style

    @staticmethod
    def _color(depth: str, packed: int) -> Color:
        r, g, b = packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF
        if depth == "256":
            # An 8-bit colour that also carries its RGB: the terminal gets '38;5;N' and Textual's
            # ANSI-to-truecolor filter (which only converts colours without RGB) leaves it alone.
            n = int(palette_index(np.array([r, g, b]))[()])
            return Color(f"color({n})", ColorType.EIGHT_BIT, number=n, triplet=ColorTriplet(r, g, b))
        return Color.from_rgb(r, g, b)


_STYLES = _Styles()


def halfblock_lines(colors: np.ndarray, depth: str) -> list[list[Segment]]:
    """(rows, cols, 6) cell colours -> rows of '▀' segments, equal neighbours merged into runs."""
    rows, cols = colors.shape[:2]
    if rows == 0 or cols == 0:
        return []
    c = colors.astype(np.uint64)
    upper = (c[..., 0] << np.uint64(16)) | (c[..., 1] << np.uint64(8)) | c[..., 2]
    lower = (c[..., 3] << np.uint64(16)) | (c[..., 4] << np.uint64(8)) | c[..., 5]
    flat = ((upper << np.uint64(24)) | lower).ravel()
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    starts = np.union1d(starts, np.arange(0, flat.size, cols))
    lengths = np.diff(np.append(starts, flat.size))
    style = _STYLES.get
    lines: list[list[Segment]] = [[] for _ in range(rows)]
    for key, length, row in zip(flat[starts].tolist(), lengths.tolist(), (starts // cols).tolist()):
        lines[row].append(Segment(HALF_BLOCK * length, style(depth, key)))
    return lines


def render_cells(rgb: np.ndarray, max_cols: int, max_rows: int, *, depth: str = "truecolor",
                 scale: float = 1.0, shown: PreviewCells | None = None,
                 threshold: int = DEFAULT_THRESHOLD, exact_rows: slice | None = None) -> PreviewCells:
    """Fit an (H, W, 3) RGB picture into ``max_cols x max_rows`` cells at ``depth``, as a change of ``shown``.

    Args:
        rgb: (H, W, 3) uint8 picture.
        max_cols, max_rows: the area, in cells.
        depth: one of DEPTHS.
        scale: fraction of the area to use (0.5: a quarter of the cells, for the thinnest links).
        shown: the cells on screen now; when its size and depth match, cells that moved by no
            more than ``threshold`` keep their shown colour and ``dirty`` lists only the others.
        threshold: 8-bit levels (per channel, or grey for ASCII) a cell must move to be redrawn;
            0 when the picture as a whole moved by more than DRIFT_MEAN levels on average.
        exact_rows: rows of cells drawn with threshold 0 (every cell that moved at all).
    Returns:
        PreviewCells with ``colors``, ``depth`` and ``dirty`` (None: redraw everything).
    Raises:
        ValueError: an unknown depth or a scale outside (0, 1].
    """
    check_depth(depth)
    if not 0 < scale <= 1:
        raise ValueError(f"scale must be in (0, 1]; got {scale}")
    h, w = rgb.shape[:2]
    area_cols, area_rows = max(1, int(max_cols * scale)), max(1, int(max_rows * scale))
    cols, rows = fit_cells(w, h, area_cols, area_rows) if max_cols >= 1 and max_rows >= 1 else (0, 0)
    ascii = depth == "ascii"
    common = dict(depth=depth, area=(max_cols, max_rows), scale=scale, source=rgb)
    if cols == 0:
        return PreviewCells(0, 0, ascii, [], **common)
    colors = cell_colors(rgb, cols, rows, depth)
    dirty, base = None, 0
    if (shown is not None and shown.serial and shown.colors is not None and shown.depth == depth
            and shown.colors.shape == colors.shape):
        # Signed: noise moves cells both ways and averages out; a global change moves them one way.
        if threshold and abs((colors.astype(np.int16) - shown.colors.astype(np.int16)).mean()) > DRIFT_MEAN:
            threshold = 0
        changed = changed_cells(colors, shown.colors, threshold)
        if exact_rows is not None and threshold:
            changed[exact_rows] = changed_cells(colors[exact_rows], shown.colors[exact_rows], 0)
        colors = np.where(changed[..., None], colors, shown.colors)
        dirty, base = dirty_spans(changed), shown.serial
    lines = ascii_rows(colors[..., 0]) if ascii else halfblock_lines(colors, depth)
    return PreviewCells(cols, rows, ascii, lines, colors=colors, dirty=dirty, base=base, **common)
