"""Preview cells at a colour depth, redrawn only where they changed; and the preview ladder."""
from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from camdeck.console.render import render_rgb
from camdeck.console.render_cells import (
    DEPTHS, dirty_spans, palette_index, palette_rgb, render_cells,
)
from camdeck.console.tui.link import format_rate, step_fps, terminal_depth
from camdeck.console.tui.preview_level import LevelChooser, ladder
from camdeck.console.tui.tabs.preview import ExactSweep


def picture(seed: int = 0, h: int = 120, w: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def ansi(cells, color_system: str = "truecolor") -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, color_system=color_system, width=1000)
    for row in cells.as_segments():
        for segment in row:
            console.print(segment.text, style=segment.style, end="")
        console.print()
    return out.getvalue()


def test_truecolor_cells_match_the_half_block_renderer():
    rgb = picture()
    assert render_cells(rgb, 40, 12).lines == render_rgb(rgb, 40, 12).lines


def test_256_colour_cells_are_sent_as_palette_codes_and_cost_fewer_bytes():
    rgb = picture()
    true, c256 = render_cells(rgb, 40, 12), render_cells(rgb, 40, 12, depth="256")
    text = ansi(c256)
    assert "38;5;" in text and "38;2;" not in text
    assert len(text.encode()) < 0.8 * len(ansi(true).encode())


def test_ascii_cells_are_plain_characters():
    cells = render_cells(picture(), 40, 12, depth="ascii")
    assert cells.ascii and all(line.isascii() and len(line) == cells.cols for line in cells.lines)


def test_palette_round_trips_and_finds_the_nearest_grey():
    idx = np.arange(16, 256)
    assert (palette_index(palette_rgb(idx)) == idx).all()
    assert palette_index(np.array([128, 128, 128])) == 244          # grey ramp, not the cube


def test_only_cells_that_moved_beyond_the_threshold_are_redrawn():
    rgb = picture()
    shown = render_cells(rgb, 40, 12)
    shown.serial = 1
    noise = np.random.default_rng(1).integers(-12, 13, rgb.shape)      # sensor noise, averaged away per cell
    noisy = np.clip(rgb.astype(int) + noise, 0, 255).astype(np.uint8)
    again = render_cells(noisy, 40, 12, shown=shown)
    assert again.base == 1 and again.dirty == [] and (again.colors == shown.colors).all()
    moved = rgb.copy()
    moved[0:10, 100:110] = 255                                         # one bright patch, top right
    patch = render_cells(moved, 40, 12, shown=shown)
    assert patch.dirty and all(row == 0 for row, _, _ in patch.dirty)
    assert all(x0 >= 18 and x1 <= 24 for _, x0, x1 in patch.dirty)


def test_a_change_of_the_whole_picture_is_drawn_exactly():
    rgb = (np.full((120, 200, 3), 100)).astype(np.uint8)
    shown = render_cells(rgb, 40, 12)
    shown.serial = 1
    brighter = render_cells((rgb * 1.06).astype(np.uint8), 40, 12, shown=shown)   # +6 levels everywhere
    assert brighter.dirty and (brighter.colors != shown.colors).any()


def test_exact_rows_put_right_the_drift_the_threshold_lets_stand_there_only():
    rgb = np.full((120, 200, 3), 100, np.uint8)
    shown = render_cells(rgb, 40, 12)
    shown.serial = 1
    drifted = rgb.copy()
    drifted[:, :50] = 108                        # the left quarter moved 8 levels: under the threshold
    assert render_cells(drifted, 40, 12, shown=shown).dirty == []
    fixed = render_cells(drifted, 40, 12, shown=shown, exact_rows=slice(3, 4))
    assert fixed.dirty and {row for row, _, _ in fixed.dirty} == {3}
    assert (fixed.colors[3] != shown.colors[3]).any() and (fixed.colors[4] == shown.colors[4]).all()


def test_the_exact_sweep_goes_round_every_row_one_at_a_time_within_its_period():
    sweep = ExactSweep(10.0)
    rows = [sweep.next(5, t * 0.5) for t in range(40)]           # 2 fps for 20 s, a 5-row picture
    drawn = [r for r in rows if r is not None]
    assert all(r.stop - r.start == 1 for r in drawn)
    assert [r.start for r in drawn[:10]] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    assert len(drawn) == 10                      # one row every 2 s: round the picture each 10 s
    assert sweep.next(0, 100.0) is None          # no picture on screen yet: nothing to put right


def test_a_new_depth_or_size_is_drawn_whole():
    shown = render_cells(picture(), 40, 12)
    shown.serial = 1
    assert render_cells(picture(), 40, 12, depth="256", shown=shown).dirty is None
    assert render_cells(picture(), 30, 12, shown=shown).dirty is None
    with pytest.raises(ValueError, match="depth"):
        render_cells(picture(), 40, 12, depth="16")


def test_dirty_spans_merge_near_runs():
    changed = np.zeros((2, 20), bool)
    changed[0, [1, 2, 4, 15]] = True
    assert dirty_spans(changed, gap=3) == [(0, 1, 5), (0, 15, 16)]


def test_the_ladder_lowers_fps_then_depth_then_size():
    levels = ladder(15, DEPTHS)
    assert [lv.fps for lv in levels[:5]] == [15, 10, 5, 2, 15]
    assert [lv.depth for lv in levels[:5]] == ["truecolor"] * 4 + ["256"]
    assert levels[-1].scale == 0.5 and levels[-1].depth == "ascii"


def test_the_chooser_falls_to_what_fits_and_climbs_back_after_a_hold():
    chooser = LevelChooser(15, "truecolor", None)
    chooser.record(20_000, full=True)
    chooser.record(6_000, full=False)
    old = chooser.adapt(32_000, now=10.0)              # 6 KB frames on 32 KB/s: 5 KB per frame at most
    assert old == (15, "truecolor", 1.0) and chooser.level.depth != "truecolor"
    low = chooser.index
    for _ in range(10):
        chooser.record(200, full=False)               # the scene went still: tiny frames
    assert chooser.adapt(32_000, now=10.5) is None     # within the hold: no climb yet
    chooser.adapt(32_000, now=13.0)
    assert chooser.index == low - 1


def test_a_full_repaint_that_cannot_drain_in_time_lowers_even_the_current_look():
    chooser = LevelChooser(15, "truecolor", None)
    chooser.record(15_000, full=True)            # a whole truecolor picture: 15 KB
    chooser.record(300, full=False)              # a still scene: tiny steady frames
    assert chooser.adapt(60_000, now=10.0, limited=False) is None       # 0.25 s at 60 KB/s: fits
    assert chooser.adapt(20_000, now=11.0, limited=False) is not None   # 0.75 s at 20 KB/s: a key waits
    assert chooser.level.depth == "256"          # its whole picture, about 8 KB, drains in 0.41 s


def test_terminal_depth_sends_16_colours_to_ascii():
    assert terminal_depth("truecolor") == "truecolor" and terminal_depth("256") == "256"
    assert terminal_depth("standard") == "ascii" and terminal_depth(None) == "ascii"


def test_rates_and_fps_steps_read_well():
    assert [format_rate(r) for r in (850, 3100, 42_000, 1_200_000)] == ["850B/s", "3.1KB/s", "42KB/s", "1.2MB/s"]
    assert step_fps(15, -1) == 10 and step_fps(15, 1) == 30 and step_fps(0.5, -1) == 0.5
