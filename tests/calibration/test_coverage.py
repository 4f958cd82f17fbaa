"""Coverage of a calibration set: the corner heat map and the X / Y / size / skew bars."""
from __future__ import annotations

import numpy as np
import pytest

from camdeck.calibration.chessboard import Board
from camdeck.calibration.coverage import Coverage, measure_view
from camdeck.calibration.errors import CalibrationInputError

BOARD = Board(9, 6, 25.0)
SIZE = (960, 540)


def _grid(x0, y0, step, shear=0.0):
    """Synthetic corners: a 9 x 6 grid at (x0, y0), ``step`` px apart, rows sheared by ``shear`` px."""
    ys, xs = np.mgrid[0:6, 0:9]
    return np.stack([x0 + xs * step + ys * shear, y0 + ys * step], axis=-1).reshape(-1, 2).astype(np.float32)


def test_measures_place_size_and_skew():
    left_top = measure_view(_grid(10, 10, 20), BOARD, SIZE)
    right_bottom = measure_view(_grid(770, 420, 20), BOARD, SIZE)
    assert left_top.x < 0.05 and left_top.y < 0.05
    assert right_bottom.x > 0.9 and right_bottom.y > 0.9
    big = measure_view(_grid(100, 50, 80), BOARD, SIZE)
    assert big.size > 3 * left_top.size
    assert left_top.skew == pytest.approx(0.0, abs=1e-6)
    assert measure_view(_grid(200, 100, 20, shear=10), BOARD, SIZE).skew > 0.5


def test_bars_fill_as_views_spread_and_the_heat_map_counts_corners():
    cov = Coverage(BOARD, SIZE, grid=(3, 4))
    assert [b.progress for b in cov.bars()] == [0, 0, 0, 0] and cov.heat.max() == 0
    cov.add(_grid(10, 10, 20))
    assert cov.counts.sum() == 54 and cov.counts[0, 0] == 54
    cov.add(_grid(770, 420, 20))
    x, y, size, skew = cov.bars()
    assert x.progress == 1.0 and y.progress == 1.0 and size.progress == 0.0
    cov.add(_grid(100, 20, 90, shear=30))
    assert cov.bars()[2].progress > 0.5 and cov.bars()[3].progress > 0.5
    assert cov.heat.max() == 1.0 and 0 < cov.filled <= 1.0
    summary = cov.summary()
    assert summary["views"] == 3 and set(summary["bars"]) == {"x", "y", "size", "skew"}
    assert not cov.good_enough(min_views=10)
    cov.clear()
    assert cov.n_views == 0 and cov.counts.sum() == 0


def test_a_simulated_set_covers_the_sensor():
    from tests.calibration import sim_mono_set
    from camdeck.calibration.chessboard import detect_chessboard

    truth, frames = sim_mono_set()
    cov = Coverage(BOARD, truth.image_size)
    for f in frames:
        cov.add(detect_chessboard(f.array, BOARD, pixel_format=f.format).corners)
    assert cov.good_enough(min_views=20), cov.summary()


def test_bad_inputs_are_named():
    with pytest.raises(CalibrationInputError, match="54 corners"):
        measure_view(np.zeros((10, 2)), BOARD, SIZE)
    with pytest.raises(CalibrationInputError, match="grid"):
        Coverage(BOARD, SIZE, grid=(0, 3))
