"""Switching tabs moves the keyboard to the new tab at once, so a key typed in the same burst
as the tab key ("4 r" over a slow SSH link) reaches the new tab."""
from __future__ import annotations

from pathlib import Path

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from tests.console import run_async

REPO = Path(__file__).resolve().parents[2]


@run_async
async def test_each_tab_key_focuses_that_tab_synchronously(tmp_path):
    settings = load_settings(REPO / "config.toml", tmp_path / "data")
    app = make_app(settings, live=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for pane in ("recording", "calibration", "reconstruction", "monitoring", "cameras"):
            app.action_show_tab(pane)          # no await: the next key could arrive right now
            body = app._tab_bodies[pane]
            assert app.focused is body.focus_target(), pane
            await pilot.pause()
            assert app.focused is body.focus_target(), f"{pane}: focus moved away after the redraw"


@run_async
async def test_a_click_on_a_tab_header_gives_that_tab_the_keyboard(tmp_path):
    settings = load_settings(REPO / "config.toml", tmp_path / "data")
    app = make_app(settings, live=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        for pane in ("reconstruction", "monitoring", "recording"):
            await pilot.click(f"#--content-tab-{pane}")
            await pilot.pause()
            assert app.query_one("TabbedContent").active == pane
            assert app.focused is app._tab_bodies[pane].focus_target(), pane
