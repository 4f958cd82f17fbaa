"""Keys that always work (issue 12, item 2), one Pilot test per focus path, at 80x24 on the
simulated recorder pair: a tab's keys after Tab, ctrl+s after ctrl+r from a form field, Esc
out of the session-name field (then q and 1-5 are keys again, not text), ctrl+s during a
countdown and from another tab, Esc out of every dialog, ctrl+c through the quit guard."""
from __future__ import annotations

import pytest
from textual.widgets import Input, TabbedContent, Tabs

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.confirm import ConfirmQuit, ConfirmScreen
from camdeck.console.tui.screens.controls import ControlsForm
from camdeck.console.tui.screens.help import HelpScreen
from camdeck.console.tui.tabs.reconstruction import ReconstructionTab
from tests.console import RECORDER_RIG, run_async, sim_settings, until
from tests.console.test_tui_recording import decode_count, open_tab


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RECORDER_RIG)
    return load_settings(path, tmp_path / "data")


def active(app) -> str:
    return app.query_one(TabbedContent).active


@run_async
async def test_tab_keeps_the_focus_inside_the_shown_tab_so_its_keys_still_fire(settings):
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(3):                      # Tab, Tab, Tab: never onto the tab strip
            await pilot.press("tab")
            await pilot.pause()
            assert not isinstance(app.focused, Tabs)
            assert app.cameras_tab in app.focused.ancestors_with_self
        await pilot.press("p")                  # the Cameras tab's own key
        await pilot.pause()
        assert app.cameras_tab.paused

        await pilot.press("2")
        await pilot.pause()
        recording = app._tab_bodies["recording"]
        for _ in range(3):                      # through the session form's fields
            await pilot.press("tab")
        await pilot.pause()
        assert isinstance(app.focused, Input) and recording in app.focused.ancestors
        await pilot.press("shift+tab", "shift+tab", "shift+tab", "shift+tab", "shift+tab", "shift+tab")
        await pilot.pause()
        assert recording in app.focused.ancestors_with_self


@run_async
async def test_tab_then_a_slice_key_on_the_reconstruction_tab(tmp_path):
    app = make_app(sim_settings(tmp_path / "data"), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        tab = app.query_one(ReconstructionTab)
        before = tab.view.index
        await pilot.press("tab")                # once used to land on the tab strip
        await pilot.pause()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert tab.view.index == before + 1


@run_async
async def test_ctrl_r_from_a_form_field_then_ctrl_s_stops_the_recording(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, out, "field", mode="manual")
        tab.name_input.focus()
        await pilot.pause()
        await pilot.press("ctrl+r")             # the form is disabled under the focus
        await until(pilot, lambda: tab.state == "recording" and tab.table.row_text("darkroom")[1] not in ("0", ""),
                    what="frames")
        assert app.focused is not None and tab in app.focused.ancestors_with_self
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the stop")
        assert tab.last_result.outcome == "stopped"
        assert decode_count(out / "field_camera_1.h264") == tab.last_result.cameras[0].frames > 0


@run_async
async def test_escape_leaves_the_session_name_so_q_and_tab_keys_are_keys_again(settings, tmp_path):
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, tmp_path / "rec", "take_001")
        tab.name_input.focus()
        await pilot.pause()
        await pilot.press("end", "x")           # printable keys inside a text field are text
        assert tab.name_input.value == "take_001x" and active(app) == "recording"
        await pilot.press("backspace", "escape")
        await pilot.pause()
        assert not isinstance(app.focused, Input)
        for key, pane in (("3", "calibration"), ("5", "monitoring"), ("2", "recording")):
            await pilot.press(key)
            await pilot.pause()
            assert active(app) == pane
        assert tab.name_input.value == "take_001"
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


@run_async
async def test_ctrl_s_cancels_a_countdown_even_from_another_tab(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, out, "cd", mode="manual", countdown="30s")
        tab.countdown_input.focus()
        await pilot.pause()
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "countdown", what="the countdown")
        await pilot.press("1")                  # the Cameras tab is shown; ctrl+s still reaches the recording
        await pilot.pause()
        shown = app.screen.active_bindings.get("ctrl+s")
        assert shown is not None and shown.enabled and shown.binding.show     # and the footer says so
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the cancel")
        assert tab.last_result.outcome == "cancelled"
        assert not list(out.glob("cd_*"))


@run_async
async def test_ctrl_s_while_the_cameras_open_stops_before_anything_is_written(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, out, "early", mode="manual", countdown="30s")
        await pilot.press("ctrl+r", "ctrl+s")   # one burst: the session is still opening its cameras
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the cancel")
        assert tab.last_result.outcome == "cancelled"
        assert not list(out.glob("early_*"))


@run_async
async def test_escape_closes_every_dialog(settings):
    app = make_app(settings, live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the keys page")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), what="the keys page to close")
        await until(pilot, lambda: app.cameras_tab._fields.get(app.cameras_tab.current), what="the controls")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ControlsForm), what="the controls form")
        await pilot.press("tab")                # into a field of the form: Esc still closes it
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ControlsForm), what="the form to close")
        app.push_screen(ConfirmScreen("test", ["sure?"]))
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm dialog")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="the dialog to close")
        assert app.is_running


@run_async
async def test_ctrl_c_quits_through_the_same_guard_as_q(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, out, "cc", mode="manual")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording", what="the recording")
        tab.preset_select.focus()               # even from a form field (the preset list stays on in a take)
        await pilot.pause()
        await pilot.press("ctrl+c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit guard")
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and tab.state == "recording"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.state == "idle", what="the stop")
        await pilot.press("ctrl+c")             # nothing runs: quits at once
        await pilot.pause()
    assert app.return_code == 0
