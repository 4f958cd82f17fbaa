"""Pilot tests of the Reconstruction tab against the real simulated stereo rig (no fakes)."""
from __future__ import annotations


import numpy as np
import pytest
from textual.widgets import TabbedContent

from camdeck.console.config import load_settings
from camdeck.console.render import ASCII_RAMP
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.help import HelpScreen
from camdeck.console.tui.tabs.reconstruction import ReconstructionTab
from camdeck.fastcore.grid_io import load_grid
from tests.console import run_async, until

# The default stereo rig, at a small resolution and ten times real time so the test is quick.
RIG = """
[console]
preview_fps = 30

[sim]
seed = 0
time_factor = 10.0

[cameras.asi-left]
driver = "sim"
model = "ASI662MC"
serial = "SIM662L0001"
resolution = [480, 270]

[cameras.asi-right]
driver = "sim"
model = "ASI662MC"
serial = "SIM662R0002"
resolution = [480, 270]

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


def density(text: str) -> int:
    """How many cells of the picture show matter (any ramp character but the blank)."""
    return sum(text.count(c) for c in ASCII_RAMP[1:])


def brightness(text: str) -> int:
    """The picture's summed density (ramp positions)."""
    return sum(ASCII_RAMP.index(c) for c in text if c in ASCII_RAMP)


def footer(app) -> list[str]:
    """The footer's key labels, as the operator reads them ("r Start")."""
    from textual.widgets._footer import FooterKey

    return [f"{k.key_display} {k.description}".strip() for k in app.query(FooterKey) if k.display]


async def show_tab(pilot) -> ReconstructionTab:
    await pilot.press("4")
    await pilot.pause()
    assert pilot.app.query_one(TabbedContent).active == "reconstruction"
    tab = pilot.app.query_one(ReconstructionTab)
    assert tab.panel.has_focus                                   # its keys work at once
    return tab


@run_async
async def test_live_slices_keys_and_save(settings):
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await show_tab(pilot)
        assert tab.state == "idle" and tab.grid is None          # nothing opened before r
        assert {"r Start", "s Save", "m Max"} <= set(footer(app)) and "r Stop" not in footer(app)
        await pilot.press("minus")                               # 64 -> 48 voxels per axis
        assert tab.grid_size == 48
        await pilot.press("r")
        await until(pilot, lambda: tab.figures is not None and tab.figures.frame >= 2, what="carved frames")
        assert tab.state == "running" and app.cameras_tab.paused
        await pilot.pause()
        assert "r Stop" in footer(app) and "r Start" not in footer(app)
        assert tab.grid.shape == (48, 48, 48) and tab.grid.max() > 0
        middle = tab.panel.text
        assert density(middle) > 20, middle
        assert float(tab.stats.values["fps"]) > 0 and tab.stats.values["latency"].endswith(" ms")
        assert tab.panel.border_title == "z = 24 / 47"

        await pilot.press("r")                                   # stop: the last grid stays
        await until(pilot, lambda: tab.state == "idle", what="the stop")
        assert not app.cameras_tab.paused
        await pilot.press("minus")                               # stopped: the grid size changes again
        assert tab.grid_size == 32
        await pilot.press("plus")
        assert tab.grid_size == 48
        shown = tab.panel.pictures_shown
        grid = tab.grid

        pictures = {}
        for key, title in (("right_square_bracket", "z = 25 / 47"), ("left_curly_bracket", "z = 19 / 47"),
                           ("x", "x = 19 / 47"), ("m", "max along x")):
            await pilot.press(key)
            await until(pilot, lambda: tab.panel.border_title == title, what=f"{key} -> {title}")
            pictures[title] = tab.panel.text
        assert tab.panel.pictures_shown > shown and tab.grid is grid     # redrawn from the kept grid
        assert len(set(pictures.values())) == 4                          # every key changed the picture
        projection = pictures["max along x"]
        slice_x = pictures["x = 19 / 47"]
        assert density(projection) >= density(slice_x) > 0               # a projection shows more matter
        assert brightness(projection) > brightness(slice_x)
        rows = projection.splitlines()
        assert 1 <= len(rows) <= 24 and all(len(r) == len(rows[0]) <= 80 for r in rows)

        await pilot.press("s")
        await until(pilot, lambda: len(tab.saved) == 2, what="the saved grids")
        npy, binary = sorted(tab.saved, key=lambda p: p.suffix, reverse=True)
        assert npy.parent == settings.data_dir / "reconstruction"
        on_disk = load_grid(binary)
        assert on_disk.data.shape == (48, 48, 48) and np.array_equal(on_disk.data, grid)
        assert on_disk.voxel_size == pytest.approx(1.0 / 48)
        assert np.array_equal(load_grid(npy).data, grid)
        assert tab.stats.values["saved"] == npy.stem and npy.stem in str(tab.status.render())


@run_async
async def test_a_camera_fault_is_shown_once_and_the_tab_stays_usable(settings):
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await show_tab(pilot)
        await pilot.press("r")
        await until(pilot, lambda: tab.figures is not None, what="a first grid")
        source_pair = tab.source.pair
        source_pair.left.inject_fault("disconnect")               # unplugged mid-run
        await until(pilot, lambda: tab.state == "idle", what="the failure")
        assert "asi-left" in tab.last_error and "error" in str(tab.status.render())
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1
        await pilot.press("r")                                    # a fresh pair opens: carving again
        frames = tab.figures.frame
        await until(pilot, lambda: tab.state == "running" and tab.figures.frame != frames, what="a restart")
        await pilot.press("r")
        await until(pilot, lambda: tab.state == "idle", what="the stop")


@run_async
async def test_help_lists_the_keys_of_every_tab(settings):
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.plain_text()
        for section in ("Everywhere", "Cameras", "Recording", "Calibration", "Reconstruction", "Monitoring"):
            assert section in text
        for keys in ("r", "[ ]", "x y z", "m", "s", "- +", "ctrl+r", "ctrl+p"):
            assert any(line.split("  ")[0].strip() == keys for line in text.splitlines()), keys
