"""Terminal capabilities in the TUI (Pilot): the too-small message, the kept theme, the preview
keys, and a preview that follows its widget's size."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from textual.widgets import Static, TabbedContent

from camdeck.console.tui.app import make_app
from camdeck.console.tui.terminal import MIN_COLS, MIN_ROWS
from camdeck.console.tui.widgets.status_header import StatusHeader
from camdeck.drivers.sim.clock import ManualClock
from tests.console import OpenedCameras, run_async, sim_settings, until


@pytest.fixture
def settings(tmp_path):
    return sim_settings(tmp_path / "data")


def start(settings, **options):
    return make_app(settings, camera_opener=OpenedCameras(), clock=ManualClock(), preview_fps=15, **options)


def state_file() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "camdeck" / "tui.json"


@run_async
async def test_below_the_minimum_size_a_message_replaces_the_tabs(settings):
    app = start(settings, live=False)
    async with app.run_test(size=(40, 12)) as pilot:
        await pilot.pause()
        message = app.query_one("#too-small", Static)
        assert message.display and not app.query_one(TabbedContent).display
        text = str(message.render())
        assert "terminal too small: 40x12" in text and f"{MIN_COLS}x{MIN_ROWS}" in text
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: app.query_one(TabbedContent).display, what="the tabs back at 80x24")
        assert not message.display
        await pilot.press("q")
    assert app.return_code == 0


@run_async
async def test_the_theme_chosen_is_kept_across_restarts(settings):
    app = start(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "camdeck-dark"
        app.theme = "camdeck-sunlight"          # what the palette's "Change theme" does
        await until(pilot, state_file().is_file, what="the state file")
    assert json.loads(state_file().read_text())["theme"] == "camdeck-sunlight"

    again = start(settings, live=False)
    async with again.run_test(size=(80, 24)):
        assert again.theme == "camdeck-sunlight"

    # Someone edits the config's theme later: that newer decision wins.
    edited = replace(settings, console=replace(settings.console, theme="camdeck-light"))
    third = start(edited, live=False)
    async with third.run_test(size=(80, 24)):
        assert third.theme == "camdeck-light"


@run_async
async def test_a_damaged_state_file_is_ignored(settings):
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text("{not json")
    app = start(settings, live=False)
    async with app.run_test(size=(80, 24)):
        assert app.theme == "camdeck-dark"


@run_async
async def test_keys_set_the_preview_quality_and_rate(settings):
    app = start(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        tab, link = app.cameras_tab, app.link_monitor
        await until(pilot, lambda: tab.preview.cells is not None and tab.preview.cells.depth == "truecolor",
                    what="a truecolor frame")
        await pilot.press("m")                 # automatic -> truecolor pinned
        assert link.pinned_depth == "truecolor"
        await pilot.press("m")                 # -> 256 colours
        await until(pilot, lambda: tab.preview.cells.depth == "256", what="a 256-colour frame")
        assert link.mode == "15fps 256c" and "256c" in app.query_one(StatusHeader).plain
        await pilot.press("m")                 # -> ASCII
        await until(pilot, lambda: tab.preview.cells.ascii, what="an ASCII frame")
        await pilot.press("m")                 # -> automatic again
        assert link.pinned_depth is None
        await until(pilot, lambda: tab.preview.cells.depth == "truecolor", what="truecolor again")

        await pilot.press("minus", "minus")    # 15 -> 10 -> 5 fps
        assert link.max_fps == 5 and tab.request.fps == 5
        await pilot.press("plus")
        assert link.max_fps == 10 and link.mode == "10fps truecolor"
        await until(pilot, lambda: "10fps tc" in app.query_one(StatusHeader).plain, what="the meter in the header")


@run_async
async def test_the_preview_redraws_its_last_frame_when_it_is_resized(settings):
    app = start(settings, live=False, frame_limit=1)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = app.cameras_tab
        await until(pilot, lambda: tab.preview.cells is not None and tab._probe_started, what="a frame")
        await app.workers.wait_for_complete()
        before = tab.preview.cells
        assert before.area == tab.preview.picture_area
        await pilot.resize_terminal(120, 40)
        await until(pilot, lambda: tab.preview.cells.area == tab.preview.picture_area, what="a redraw")
        after = tab.preview.cells
        assert after.cols > before.cols and after.rows > before.rows   # no stream ran: the last frame, redrawn
