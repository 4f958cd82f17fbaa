"""Frames, voxel slices and labels -> terminal cells, for the TUI and the CLI.

Labels (camera names and labels from config.toml, anything a user typed) are shown literally:
``plain_label`` gives rich Text that no markup in it ("[b]x[/b]") or control character (an ANSI
escape) can restyle, and ``label_markup`` the same text escaped for a markup string.

Pure numpy + rich (no Textual here, so the CLI can use it without importing Textual).

Two ways to draw a picture in a terminal:
- half-block truecolor: each cell is '▀' with the foreground set to the upper pixel and the
  background to the lower pixel, so a cols x rows area shows cols x (2 rows) square-ish pixels;
- plain ASCII: one grey level per cell from a density ramp, for terminals without colour.

Everything is vectorised: area-averaged downsampling with ``np.add.reduceat``, one
quantised style key per cell, and a bounded cache of rich ``Style`` objects so that a
200x60 preview costs a few milliseconds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from rich.color import Color
from rich.markup import escape
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

HALF_BLOCK = "\u2580"          # '▀': upper half block
ASCII_RAMP = " .:-=+*#%@"      # dark -> bright
BAR_EIGHTHS = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # ' ▁▂▃▄▅▆▇█'
ASCII_BARS = " .:|#"

# Rec. 601 luma weights: cheap and good enough for a focus aid and a histogram.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# ---------------------------------------------------------------- labels


def _visible(value: object) -> str:
    # control characters (ESC of an ANSI sequence, BEL, bidi overrides...) as escapes: a label
    # must never move the cursor, recolour or retitle the operator's terminal
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in str(value))


def plain_label(value: object, style: str = "") -> Text:
    """``value`` as rich Text shown exactly as written: markup stays characters, control
    characters are shown escaped. Use it for every table cell or line built from user text."""
    return Text(_visible(value), style=style)


def label_markup(value: object) -> str:
    """``value`` escaped for a rich markup string (``f"[b]{label_markup(name)}[/b]"``)."""
    return escape(_visible(value))


# ---------------------------------------------------------------- frames -> RGB

def debayer_rggb_binned(raw: np.ndarray) -> np.ndarray:
    """Cheap preview debayer: each 2x2 RGGB cell becomes one RGB pixel.

    Args:
        raw: (H, W) Bayer mosaic, RGGB order (R at [0, 0]), uint8 or uint16.
    Returns:
        (H // 2, W // 2, 3) array of the same dtype (G is the mean of the two greens).
    Raises:
        ValueError: not a 2-D array, or smaller than 2x2.
    """
    if raw.ndim != 2:
        raise ValueError(f"a Bayer mosaic is (H, W); got shape {raw.shape}")
    h, w = (raw.shape[0] // 2) * 2, (raw.shape[1] // 2) * 2
    if h == 0 or w == 0:
        raise ValueError(f"a Bayer mosaic needs at least 2x2 pixels; got shape {raw.shape}")
    r = raw[0:h:2, 0:w:2]
    g1 = raw[0:h:2, 1:w:2].astype(np.uint32)
    g2 = raw[1:h:2, 0:w:2]
    b = raw[1:h:2, 1:w:2]
    out = np.empty((h // 2, w // 2, 3), dtype=raw.dtype)
    out[..., 0] = r
    out[..., 1] = (g1 + g2) >> 1
    out[..., 2] = b
    return out


def frame_to_rgb(array: np.ndarray, fmt: str) -> np.ndarray:
    """Any frame the drivers deliver -> (h, w, 3) uint8 RGB for previewing.

    Args:
        array: (H, W) mosaic or grey, or (H, W, 3) colour.
        fmt: "RAW8_RGGB", "RAW16_RGGB", "RGB", "BGR" or "GRAY" (Frame.format).
    Returns:
        (H/2, W/2, 3) for Bayer formats (2x2 binning), else (H, W, 3); uint8.
    Raises:
        ValueError: an unknown format or a shape that does not match it.
    """
    fmt = fmt.upper()
    if fmt in ("RAW8_RGGB", "RAW16_RGGB"):
        rgb = debayer_rggb_binned(array)
        if rgb.dtype != np.uint8:
            rgb = (rgb >> 8).astype(np.uint8) if fmt == "RAW16_RGGB" else np.clip(rgb, 0, 255).astype(np.uint8)
        return rgb
    if fmt in ("RGB", "BGR"):
        if array.ndim != 3 or array.shape[2] < 3:
            raise ValueError(f"a {fmt} frame is (H, W, 3); got shape {array.shape}")
        rgb = array[..., :3] if fmt == "RGB" else array[..., 2::-1]
        return rgb if rgb.dtype == np.uint8 else np.clip(rgb, 0, 255).astype(np.uint8)
    if fmt in ("GRAY", "MONO", "Y8"):
        if array.ndim != 2:
            raise ValueError(f"a grey frame is (H, W); got shape {array.shape}")
        grey = array if array.dtype == np.uint8 else np.clip(array, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    raise ValueError(f"unknown frame format {fmt!r}; expected RAW8_RGGB, RAW16_RGGB, RGB, BGR or GRAY")


def luma(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB -> (H, W) float32 luma in [0, 255]; a 2-D input is returned as float32."""
    if rgb.ndim == 2:
        return rgb.astype(np.float32, copy=False)
    return rgb[..., :3].astype(np.float32) @ _LUMA


# ---------------------------------------------------------------- resampling

def _bin_edges(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Start index and pixel count of each output bin (counts >= 1; repeats upsample)."""
    starts = (np.arange(n_out, dtype=np.int64) * n_in) // n_out
    ends = np.append(starts[1:], n_in)
    counts = np.maximum(ends - starts, 1)
    return starts, counts


def area_resize(image: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Area-averaged resize (box filter over each output pixel's footprint).

    Upsampling repeats pixels (nearest). Works on (H, W) and (H, W, C).

    Args:
        image: (H, W) or (H, W, C), any real dtype.
        out_w, out_h: output size in pixels, >= 1.
    Returns:
        (out_h, out_w[, C]) float32.
    """
    if out_w < 1 or out_h < 1:
        raise ValueError(f"output size must be at least 1x1; got {out_w}x{out_h}")
    h, w = image.shape[:2]
    ys, yc = _bin_edges(h, out_h)
    xs, xc = _bin_edges(w, out_w)
    acc_dtype = np.uint32 if image.dtype.kind in "ub" and image.dtype.itemsize <= 2 else np.float64
    rows = np.add.reduceat(image, ys, axis=0, dtype=acc_dtype)
    cells = np.add.reduceat(rows, xs, axis=1, dtype=acc_dtype)
    norm = (yc[:, None] * xc[None, :]).astype(np.float32)
    if image.ndim == 3:
        norm = norm[..., None]
    return cells.astype(np.float32) / norm


def fit_cells(src_w: int, src_h: int, max_cols: int, max_rows: int, *, half_block: bool = True) -> tuple[int, int]:
    """Largest (cols, rows) inside max_cols x max_rows that keeps the image's aspect ratio.

    A terminal cell is about twice as tall as wide: a half-block cell holds two square
    pixels, an ASCII cell one pixel of aspect 1:2.
    """
    if max_cols < 1 or max_rows < 1 or src_w < 1 or src_h < 1:
        return 0, 0
    px_rows = 2 * max_rows  # both modes: a cell is two "square pixels" tall
    scale = min(max_cols / src_w, px_rows / src_h)
    cols = max(1, min(max_cols, int(round(src_w * scale))))
    rows = max(1, min(max_rows, int(round(src_h * scale / 2))))
    return cols, rows


# ---------------------------------------------------------------- cells

class _StyleCache:
    """Quantised (fg, bg) colour pair -> rich Style, bounded so memory stays flat."""

    def __init__(self, bits: int = 5, max_size: int = 1 << 16) -> None:
        self.bits = bits
        self.max_size = max_size
        self._styles: dict[int, Style] = {}
        self._colors: dict[int, Color] = {}
        levels = (1 << bits) - 1
        self._expand = [int(round(q * 255 / levels)) for q in range(levels + 1)]

    def color(self, key: int) -> Color:
        c = self._colors.get(key)
        if c is None:
            b = self.bits
            mask = (1 << b) - 1
            e = self._expand
            c = Color.from_rgb(e[(key >> 2 * b) & mask], e[(key >> b) & mask], e[key & mask])
            self._colors[key] = c
        return c

    def style(self, key: int) -> Style:
        s = self._styles.get(key)
        if s is None:
            if len(self._styles) >= self.max_size:
                self._styles.clear()  # cheap reset beats LRU bookkeeping per cell
            shift = 3 * self.bits
            s = Style.from_color(self.color(key >> shift), self.color(key & ((1 << shift) - 1)))
            self._styles[key] = s
        return s


_STYLE_CACHES: dict[int, _StyleCache] = {}


def _style_cache(bits: int) -> _StyleCache:
    cache = _STYLE_CACHES.get(bits)
    if cache is None:
        cache = _STYLE_CACHES[bits] = _StyleCache(bits)
    return cache


def halfblock_rows(rgb: np.ndarray, *, bits: int = 5) -> list[list[Segment]]:
    """(2R, C, 3) RGB pixels -> R rows of half-block segments (runs of equal cells merged).

    Args:
        rgb: (2R, C, 3) uint8 or float in [0, 255]; an odd height repeats the last row.
        bits: bits per channel kept (5: 32 levels); fewer bits, more cache hits and merged runs.
    Returns:
        R lists of rich Segments, each list C cells long.
    """
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"half-block rows need (H, W, 3) pixels; got shape {rgb.shape}")
    if rgb.shape[0] % 2:
        rgb = np.concatenate([rgb, rgb[-1:]], axis=0)
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        return []
    q = np.clip(rgb[..., :3], 0, 255).astype(np.uint32) >> (8 - bits)
    color = (q[..., 0] << 2 * bits) | (q[..., 1] << bits) | q[..., 2]
    keys = (color[0::2].astype(np.uint64) << np.uint64(3 * bits)) | color[1::2]
    n_rows, n_cols = keys.shape
    flat = keys.ravel()
    # A run starts where the key changes or a row starts.
    starts = np.flatnonzero(np.concatenate(([True], flat[1:] != flat[:-1])))
    starts = np.union1d(starts, np.arange(0, flat.size, n_cols))
    lengths = np.diff(np.append(starts, flat.size))
    run_keys = flat[starts].tolist()
    run_rows = (starts // n_cols).tolist()
    cache = _style_cache(bits)
    style = cache.style
    rows: list[list[Segment]] = [[] for _ in range(n_rows)]
    for key, length, row in zip(run_keys, lengths.tolist(), run_rows):
        rows[row].append(Segment(HALF_BLOCK * length, style(key)))
    return rows


def ascii_rows(grey: np.ndarray, ramp: str = ASCII_RAMP) -> list[str]:
    """(R, C) grey levels in [0, 255] -> R strings of C characters from a density ramp."""
    if grey.ndim != 2:
        raise ValueError(f"ASCII rows need (H, W) grey levels; got shape {grey.shape}")
    codes = np.frombuffer(ramp.encode("ascii"), dtype=np.uint8)
    idx = np.clip(np.asarray(grey, dtype=np.float32) * ((len(ramp) - 1) / 255.0) + 0.5, 0, len(ramp) - 1)
    chars = codes[idx.astype(np.intp)]
    return [row.tobytes().decode("ascii") for row in chars]


@dataclass
class PreviewCells:
    """A picture ready for a terminal: rows of segments (half-block) or of text (ASCII)."""

    cols: int
    rows: int
    ascii: bool
    lines: list = field(default_factory=list)  # list[list[Segment]] or list[str]
    depth: str = ""              # "truecolor", "256" or "ascii" (console/render_cells.py); "" unknown
    colors: np.ndarray | None = field(default=None, repr=False)  # per-cell colours drawn (render_cells)
    dirty: list | None = None    # (row, x0, x1) spans that changed from the picture ``base``; None: all
    base: int = 0                # ``serial`` of the picture these cells were diffed against (0: none)
    serial: int = 0              # set by the widget that shows the cells
    area: tuple = (0, 0)         # (max_cols, max_rows) the picture was fitted to
    scale: float = 1.0           # fraction of the area used
    source: np.ndarray | None = field(default=None, repr=False)  # the RGB picture, to redraw at a new size

    def as_segments(self, style: Style | None = None) -> list[list[Segment]]:
        """Rows as segment lists whatever the mode (ASCII rows get ``style``)."""
        if not self.ascii:
            return self.lines
        return [[Segment(line, style)] for line in self.lines]


def render_rgb(rgb: np.ndarray, max_cols: int, max_rows: int, *, ascii: bool = False,
               bits: int = 5) -> PreviewCells:
    """Fit an (H, W, 3) RGB image into max_cols x max_rows cells, keeping its aspect ratio."""
    h, w = rgb.shape[:2]
    cols, rows = fit_cells(w, h, max_cols, max_rows, half_block=not ascii)
    if cols == 0:
        return PreviewCells(0, 0, ascii, [])
    if ascii:
        small = area_resize(luma(rgb), cols, rows)
        return PreviewCells(cols, rows, True, ascii_rows(small))
    small = area_resize(rgb, cols, 2 * rows)
    return PreviewCells(cols, rows, False, halfblock_rows(small, bits=bits))


def render_frame(array: np.ndarray, fmt: str, max_cols: int, max_rows: int, *, ascii: bool = False) -> PreviewCells:
    """A driver frame (see ``frame_to_rgb``) -> preview cells fitted to max_cols x max_rows."""
    return render_rgb(frame_to_rgb(array, fmt), max_cols, max_rows, ascii=ascii)


# ---------------------------------------------------------------- focus and exposure aids

def sharpness_score(grey: np.ndarray) -> float:
    """Focus aid: variance of the 4-neighbour Laplacian of a grey image (higher = sharper).

    Args:
        grey: (H, W), at least 3x3; any real dtype (values on a 0-255 scale).
    """
    if grey.ndim != 2 or grey.shape[0] < 3 or grey.shape[1] < 3:
        raise ValueError(f"sharpness needs an (H, W) image of at least 3x3; got shape {grey.shape}")
    g = np.asarray(grey, dtype=np.float32)
    lap = 4.0 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def centre_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central size x size region (or the whole image if smaller)."""
    h, w = image.shape[:2]
    y0, x0 = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[y0:y0 + size, x0:x0 + size]


def histogram(values: np.ndarray, bins: int = 32) -> np.ndarray:
    """Counts of 0-255 values in ``bins`` equal bins (int64, length ``bins``)."""
    if bins < 1 or bins > 256:
        raise ValueError(f"bins must be from 1 to 256; got {bins}")
    v = np.asarray(values)
    if v.dtype == np.uint8:
        counts = np.bincount(v.ravel(), minlength=256)
        return counts.reshape(bins, -1).sum(axis=1) if 256 % bins == 0 else \
            np.add.reduceat(counts, _bin_edges(256, bins)[0])
    idx = np.clip(v.ravel().astype(np.float32) * (bins / 256.0), 0, bins - 1).astype(np.intp)
    return np.bincount(idx, minlength=bins)


def clipping_fractions(values: np.ndarray, low: float = 2, high: float = 253) -> tuple[float, float]:
    """Fractions of values at or below ``low`` (crushed) and at or above ``high`` (clipped)."""
    v = np.asarray(values)
    n = v.size
    if n == 0:
        return 0.0, 0.0
    return float(np.count_nonzero(v <= low)) / n, float(np.count_nonzero(v >= high)) / n


def histogram_bars(counts: Sequence[float] | np.ndarray, width: int, height: int, *,
                   ascii: bool = False) -> list[str]:
    """A small bar chart of ``counts``: ``height`` strings of ``width`` characters.

    Bars use eighth blocks (or ' .:|#' in ASCII); counts are resampled to ``width``.
    """
    if width < 1 or height < 1:
        return []
    c = np.asarray(counts, dtype=np.float64)
    if c.size == 0:
        return [" " * width for _ in range(height)]
    col = area_resize(c[None, :], width, 1)[0].astype(np.float64)
    peak = col.max()
    level = col / peak if peak > 0 else col * 0
    chars = ASCII_BARS if ascii else BAR_EIGHTHS
    steps = len(chars) - 1
    total = np.round(level * height * steps).astype(np.int64)  # in sub-cell steps
    lines = []
    for r in range(height):  # r = 0 is the top line
        below = (height - 1 - r) * steps
        fill = np.clip(total - below, 0, steps)
        lines.append("".join(chars[i] for i in fill.tolist()))
    return lines


# ---------------------------------------------------------------- voxel grids

_AXES = {"x": 0, "y": 1, "z": 2}


def voxel_slice_ascii(grid: np.ndarray, axis: str, index: int = 0, mode: str = "slice",
                      width: int | None = None, height: int | None = None,
                      ramp: str = ASCII_RAMP) -> list[str]:
    """ASCII density picture of one slice, or the max projection, of a voxel grid.

    The grid is indexed ``[i, j, k] = [x, y, z]``. Seen along 'z' the picture has x to the
    right and y up; along 'x', y right and z up; along 'y', x right and z up. Values are
    scaled by the grid's maximum (negative values count as empty), so slices compare.

    Args:
        grid: (Nx, Ny, Nz) real array (fastcore grids are (N, N, N) float32).
        axis: 'x', 'y' or 'z': the axis the slice is perpendicular to.
        index: slice index along ``axis`` (mode "slice"); ignored for "max".
        mode: "slice" or "max" (maximum projection along ``axis``).
        width, height: output size in characters; default: one column per voxel and
            half as many rows (a cell is about twice as tall as wide).
    Returns:
        ``height`` strings of ``width`` characters.
    Raises:
        ValueError: not a 3-D grid, an unknown axis or mode, an index out of range.
    """
    g = np.asarray(grid)
    if g.ndim != 3 or 0 in g.shape:
        raise ValueError(f"grid must be a non-empty (N, N, N) array; got shape {g.shape}")
    if axis not in _AXES:
        raise ValueError(f"axis must be 'x', 'y' or 'z'; got {axis!r}")
    if mode not in ("slice", "max"):
        raise ValueError(f"mode must be 'slice' or 'max'; got {mode!r}")
    a = _AXES[axis]
    if mode == "slice":
        if not 0 <= index < g.shape[a]:
            raise ValueError(f"index {index} is outside 0..{g.shape[a] - 1} along {axis}")
        plane = np.take(g, index, axis=a)
    else:
        plane = g.max(axis=a)
    # plane axes: for z (x, y); for x (y, z); for y (x, z). Rows = second axis, flipped so "up" is up.
    picture = np.asarray(plane, dtype=np.float32).T[::-1]
    top = float(np.nanmax(g)) if g.size else 0.0
    w = width if width is not None else picture.shape[1]
    h = height if height is not None else max(1, picture.shape[0] // 2)
    if w < 1 or h < 1:
        raise ValueError(f"width and height must be at least 1; got {w}x{h}")
    small = area_resize(np.nan_to_num(np.maximum(picture, 0.0)), w, h)
    scaled = small * (255.0 / top) if top > 0 else small * 0.0
    return ascii_rows(np.clip(scaled, 0, 255), ramp)
