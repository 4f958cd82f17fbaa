"""console.render: frames and voxel grids -> terminal cells."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from camdeck.console import render


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """RGGB mosaic of an (H, W, 3) image whose 2x2 cells are uniform (test helper)."""
    h, w = rgb.shape[:2]
    raw = np.empty((h, w), dtype=rgb.dtype)
    raw[0::2, 0::2] = rgb[0::2, 0::2, 0]
    raw[0::2, 1::2] = rgb[0::2, 1::2, 1]
    raw[1::2, 0::2] = rgb[1::2, 0::2, 1]
    raw[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return raw


# ---------------------------------------------------------------- debayer and formats

def test_binned_debayer_recovers_the_colour_of_each_2x2_cell():
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:2, :2] = (200, 100, 50)
    rgb[2:, 4:] = (10, 250, 90)
    out = render.debayer_rggb_binned(mosaic(rgb))
    assert out.shape == (2, 3, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (200, 100, 50)
    assert tuple(out[1, 2]) == (10, 250, 90)
    assert tuple(out[0, 1]) == (0, 0, 0)


def test_debayer_averages_the_two_greens_and_drops_an_odd_edge():
    raw = np.array([[0, 10, 0], [30, 0, 0], [9, 9, 9]], np.uint8)
    out = render.debayer_rggb_binned(raw)
    assert out.shape == (1, 1, 3)
    assert out[0, 0, 1] == 20


@pytest.mark.parametrize("shape", [(4,), (1, 1), (4, 4, 3)])
def test_debayer_rejects_what_is_not_a_mosaic(shape):
    with pytest.raises(ValueError, match="mosaic"):
        render.debayer_rggb_binned(np.zeros(shape, np.uint8))


def test_frame_to_rgb_handles_every_driver_format():
    rgb = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    assert render.frame_to_rgb(rgb, "RGB") is not None
    np.testing.assert_array_equal(render.frame_to_rgb(rgb, "RGB"), rgb)
    np.testing.assert_array_equal(render.frame_to_rgb(rgb[..., ::-1], "BGR"), rgb)
    raw16 = np.full((4, 4), 0x8000, np.uint16)
    out = render.frame_to_rgb(raw16, "RAW16_RGGB")
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3) and (out == 0x80).all()
    grey = render.frame_to_rgb(np.full((3, 5), 7, np.uint8), "GRAY")
    assert grey.shape == (3, 5, 3) and (grey == 7).all()


def test_frame_to_rgb_names_the_bad_format_or_shape():
    with pytest.raises(ValueError, match="YUV420"):
        render.frame_to_rgb(np.zeros((4, 4), np.uint8), "YUV420")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        render.frame_to_rgb(np.zeros((4, 4), np.uint8), "RGB")


# ---------------------------------------------------------------- resampling

def test_area_resize_averages_whole_blocks():
    img = np.arange(16, dtype=np.uint8).reshape(4, 4)
    out = render.area_resize(img, 2, 2)
    np.testing.assert_allclose(out, [[2.5, 4.5], [10.5, 12.5]])


def test_area_resize_keeps_the_mean_with_uneven_factors_and_repeats_when_enlarging():
    img = np.random.default_rng(2).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = render.area_resize(img, 10, 7)
    assert out.shape == (7, 10, 3)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), img.mean(axis=(0, 1)), rtol=0.05)
    up = render.area_resize(np.array([[1, 2]], np.uint8), 4, 2)
    np.testing.assert_array_equal(up, [[1, 1, 2, 2], [1, 1, 2, 2]])


def test_fit_cells_keeps_the_aspect_ratio_of_a_wide_frame():
    cols, rows = render.fit_cells(1920, 1080, 80, 22)
    assert cols <= 80 and rows <= 22
    assert cols / (2 * rows) == pytest.approx(16 / 9, rel=0.05)
    cols, rows = render.fit_cells(1920, 1080, 200, 60)
    assert cols == 200 and rows == 56
    assert render.fit_cells(100, 100, 0, 10) == (0, 0)


# ---------------------------------------------------------------- cells

def test_half_block_cells_put_the_upper_pixel_in_front_and_the_lower_behind():
    px = np.array([[[255, 0, 0], [255, 0, 0], [0, 0, 255]],
                   [[0, 255, 0], [0, 255, 0], [255, 255, 255]]], np.uint8)
    rows = render.halfblock_rows(px)
    assert len(rows) == 1
    segments = rows[0]
    assert "".join(s.text for s in segments) == "▀▀▀"
    assert len(segments) == 2  # the two equal cells are one run
    first, second = segments
    assert first.style.color.triplet == (255, 0, 0) and first.style.bgcolor.triplet == (0, 255, 0)
    assert second.style.color.triplet == (0, 0, 255) and second.style.bgcolor.triplet == (255, 255, 255)


def test_half_block_rows_are_all_as_wide_as_the_picture():
    px = np.random.default_rng(3).integers(0, 256, (10, 17, 3), dtype=np.uint8)
    rows = render.halfblock_rows(px)
    assert len(rows) == 5
    assert {sum(len(s.text) for s in row) for row in rows} == {17}


def test_ascii_rows_map_black_to_blank_and_white_to_the_densest_glyph():
    grey = np.array([[0, 255], [128, 64]], np.float32)
    rows = render.ascii_rows(grey)
    assert rows[0] == " @"
    assert all(ch in render.ASCII_RAMP for row in rows for ch in row)
    ramp = render.ascii_rows(np.linspace(0, 255, 50)[None, :])[0]
    assert [render.ASCII_RAMP.index(c) for c in ramp] == sorted(render.ASCII_RAMP.index(c) for c in ramp)


@pytest.mark.parametrize("ascii", [False, True])
def test_render_frame_fits_a_full_hd_mosaic_into_the_cells_given(ascii):
    raw = np.random.default_rng(4).integers(0, 256, (1080, 1920), dtype=np.uint8)
    cells = render.render_frame(raw, "RAW8_RGGB", 80, 20, ascii=ascii)
    assert cells.ascii is ascii and cells.cols <= 80 and cells.rows <= 20
    assert len(cells.lines) == cells.rows
    widths = {len(line) if ascii else sum(len(s.text) for s in line) for line in cells.lines}
    assert widths == {cells.cols}
    assert len(cells.as_segments()) == cells.rows


# ---------------------------------------------------------------- focus and exposure aids

def test_sharpness_is_higher_for_a_sharp_picture_than_for_its_blurred_copy():
    rng = np.random.default_rng(5)
    sharp = np.kron(rng.integers(0, 2, (16, 16)) * 255, np.ones((8, 8))).astype(np.float32)
    blurred = sharp.copy()
    for _ in range(4):  # box blur
        blurred[1:-1, 1:-1] = (blurred[:-2, 1:-1] + blurred[2:, 1:-1] + blurred[1:-1, :-2]
                               + blurred[1:-1, 2:] + blurred[1:-1, 1:-1]) / 5
    assert render.sharpness_score(sharp) > 3 * render.sharpness_score(blurred)
    assert render.sharpness_score(np.full((8, 8), 90.0)) == 0.0
    with pytest.raises(ValueError):
        render.sharpness_score(np.zeros((2, 2)))


def test_histogram_counts_every_value_in_its_bin():
    values = np.array([0, 7, 8, 255, 255], np.uint8)
    counts = render.histogram(values, bins=32)
    assert counts.sum() == 5 and counts[0] == 2 and counts[1] == 1 and counts[31] == 2
    np.testing.assert_array_equal(render.histogram(values.astype(np.float32), 32), counts)
    assert render.histogram(values, bins=10).sum() == 5


def test_clipping_fractions_count_crushed_and_saturated_photosites():
    values = np.array([0, 1, 50, 200, 254, 255, 255, 100], np.uint8)
    dark, clipped = render.clipping_fractions(values)
    assert dark == pytest.approx(2 / 8) and clipped == pytest.approx(3 / 8)
    assert render.clipping_fractions(np.array([], np.uint8)) == (0.0, 0.0)


def test_histogram_bars_draw_the_peak_full_height_and_empty_bins_blank():
    lines = render.histogram_bars([0, 10, 5, 0], 4, 2)
    assert len(lines) == 2 and all(len(line) == 4 for line in lines)
    assert lines[0][1] == "█" and lines[1][1] == "█"
    assert lines[0][0] == " " and lines[1][0] == " "
    assert lines[1][2] == "█" and lines[0][2] == " "
    ascii_lines = render.histogram_bars([3, 1], 2, 2, ascii=True)
    assert all(ch in render.ASCII_BARS for line in ascii_lines for ch in line)


# ---------------------------------------------------------------- voxel slices

def _grid_with_block() -> np.ndarray:
    grid = np.zeros((16, 16, 16), np.float32)
    grid[12:16, 0:4, 6:10] = 1.0  # high x, low y, middle z
    return grid


def test_z_slice_shows_x_to_the_right_and_y_up():
    lines = render.voxel_slice_ascii(_grid_with_block(), "z", 8, width=16, height=16)
    assert len(lines) == 16 and all(len(line) == 16 for line in lines)
    filled = [(r, c) for r, line in enumerate(lines) for c, ch in enumerate(line) if ch != " "]
    rows = {r for r, _ in filled}
    cols = {c for _, c in filled}
    assert cols == {12, 13, 14, 15}      # x 12..15 on the right
    assert rows == {12, 13, 14, 15}      # y 0..3 at the bottom


def test_slice_outside_the_block_is_blank_and_max_projection_finds_it():
    grid = _grid_with_block()
    assert all(set(line) == {" "} for line in render.voxel_slice_ascii(grid, "z", 0))
    projected = render.voxel_slice_ascii(grid, "z", mode="max")
    assert any("@" in line for line in projected)


def test_x_and_y_slices_put_z_up():
    grid = _grid_with_block()
    along_x = render.voxel_slice_ascii(grid, "x", 13, width=16, height=16)
    filled_rows = {r for r, line in enumerate(along_x) if line.strip()}
    assert filled_rows == {6, 7, 8, 9}   # z 6..9, flipped: rows 15-9 .. 15-6
    assert {c for line in along_x for c, ch in enumerate(line) if ch != " "} == {0, 1, 2, 3}  # y 0..3
    along_y = render.voxel_slice_ascii(grid, "y", 2, width=16, height=16)
    assert {c for line in along_y for c, ch in enumerate(line) if ch != " "} == {12, 13, 14, 15}


def test_voxel_slice_defaults_to_half_as_many_rows_as_columns_and_scales_by_the_grid_max():
    grid = np.zeros((8, 8, 8), np.float32)
    grid[:, :, 0] = 2.0
    grid[0, 0, 1] = 4.0
    lines = render.voxel_slice_ascii(grid, "z", 0)
    assert len(lines) == 4 and all(len(line) == 8 for line in lines)
    assert set("".join(lines)) != {"@"}  # 2.0 of a max of 4.0 is not the densest glyph
    empty = render.voxel_slice_ascii(np.zeros((4, 4, 4)), "y", 1)
    assert all(set(line) == {" "} for line in empty)


@pytest.mark.parametrize("kwargs, match", [
    (dict(axis="w"), "axis"),
    (dict(axis="x", index=16), "outside"),
    (dict(axis="x", mode="mean"), "mode"),
    (dict(axis="x", width=0), "at least 1"),
])
def test_voxel_slice_rejects_bad_requests_naming_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        render.voxel_slice_ascii(_grid_with_block(), **kwargs)
    with pytest.raises(ValueError, match="grid"):
        render.voxel_slice_ascii(np.zeros((4, 4)), "x")


def test_render_does_not_import_textual():
    code = "import sys, camdeck.console.render; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
