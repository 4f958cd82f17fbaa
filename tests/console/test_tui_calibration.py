"""Pilot test of the Calibration tab on the simulated stereo pair: capture, coverage, solve, save."""
from __future__ import annotations


import numpy as np
import pytest
from textual.widgets import TabbedContent

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.tabs.calibration import CalibrationTab
from tests.console import run_async, until

RIG = """
[sim]
seed = 0

[cameras.asi-left]
driver = "sim"
model = "ASI662MC"
serial = "SIM662L0001"
resolution = [1280, 720]
controls = { bin = 2 }

[cameras.asi-right]
driver = "sim"
model = "ASI662MC"
serial = "SIM662R0002"
resolution = [1280, 720]
controls = { bin = 2 }

[rigs.asi-stereo]
type = "stereo"
cameras = ["asi-left", "asi-right"]
baseline_mm = 100.0
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RIG)
    return load_settings(path, tmp_path / "data")


@run_async
async def test_capture_views_watch_coverage_solve_and_save(settings, tmp_path):
    app = make_app(settings, live=False, frame_limit=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert app.query_one(TabbedContent).active == "calibration"
        tab = app.query_one(CalibrationTab)
        assert tab.target.stereo and tab.target.cameras == ("asi-left", "asi-right")
        footer_keys = {b.key for b in tab.BINDINGS}
        assert {"c", "s", "w", "t", "x"} <= footer_keys

        await pilot.press("s")                                    # too few views: says so, no solve
        await pilot.pause()
        assert not tab.solving and "need 5 views" in str(tab.status.render())

        for n in range(1, 7):
            await pilot.press("c")
            await until(pilot, lambda: len(tab.views) >= n or "rejected" in str(tab.status.render()),
                        what=f"capture {n}")
        assert len(tab.views) == 6
        assert tab.preview.cells is not None and tab.preview.frames_shown >= 6
        assert tab._coverage.n_views == 6 and tab._coverage.counts.sum() == 6 * 54
        bars = {b.name: b.progress for b in tab._coverage.bars()}
        assert bars["x"] > 0 and bars["y"] > 0
        assert "coverage: 6 views" in str(tab.coverage_view.render())

        await pilot.press("s")
        await until(pilot, lambda: tab.result is not None or bool(tab.last_error), what="the solve")
        assert not tab.last_error, tab.last_error
        assert abs(tab.result.baseline_mm - 100.0) < 2.0
        assert "baseline" in str(tab.result_view.render())

        await pilot.press("w")
        await until(pilot, lambda: tab.saved_to is not None or bool(tab.last_error), what="the save")
        files = sorted(p.name for p in tab.saved_to.iterdir())
        assert "stereo.npz" in files and "left_000.png" in files and "right_005.png" in files
        with np.load(tab.saved_to / "stereo.npz") as data:
            assert float(data["baseline_mm"]) == pytest.approx(tab.result.baseline_mm)

        await pilot.press("t", "y")                               # next target (views discarded: asks): a fresh set
        await pilot.pause()
        assert not tab.target.stereo and tab.views == [] and tab.result is None
