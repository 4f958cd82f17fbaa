"""Pilot tests: drive the TUI with keys, as an operator would (scripted FakeCameras for speed)."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest
from textual.widgets import TabbedContent

from console.config import BUILTIN_CONFIG, load_settings
from console.tui.app import make_app
from console.tui.screens.controls import ControlsForm
from console.tui.screens.help import HelpScreen
from tests.console import FakeRig, run_async


@pytest.fixture
def settings(tmp_path):
    return load_settings(BUILTIN_CONFIG, tmp_path / "data")


async def until(pilot, condition, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (workers run in threads)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def state(app, camera: str) -> str:
    return app.cameras_tab.table.state_of(camera).state


async def streaming(pilot, camera: str = "asi-left", frames: int = 1) -> None:
    app = pilot.app
    await until(pilot, lambda: app.cameras_tab.current == camera
                and app.cameras_tab.preview.frames_shown >= frames
                and state(app, camera) == "streaming", what=f"{camera} streaming")


@run_async
async def test_number_keys_switch_tabs_and_nothing_crashes(settings):
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tabs = app.query_one(TabbedContent)
        assert tabs.active == "cameras"
        for key, pane in (("2", "recording"), ("3", "calibration"), ("4", "reconstruction"),
                          ("5", "monitoring"), ("1", "cameras")):
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == pane
        await pilot.press("q")
    assert app.return_code == 0


@run_async
async def test_question_mark_shows_the_keys_and_escape_closes_them(settings):
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@run_async
async def test_every_configured_camera_has_a_row_and_ptz_ones_wait_to_be_selected(settings):
    rig = FakeRig()
    app = make_app(settings, camera_opener=rig, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        table = app.cameras_tab.table
        assert table.row_count == len(settings.cameras)
        await until(pilot, lambda: state(app, "still") == "ready", what="probe of the rig cameras")
        assert state(app, "asi-right") == "ready" and state(app, "ptz-1") == "closed"
        assert "ptz-1" not in rig.cameras
        status = table.state_of("asi-left")
        assert status.exposure_us == 10000 and status.gain == 100 and status.temperature_c == 31.5
        assert status.dropped == 0
        await until(pilot, lambda: table.state_of("asi-left").fps is not None, what="measured fps")
        assert table.state_of("asi-left").fps == pytest.approx(30.0, abs=0.5)


@run_async
async def test_moving_the_cursor_previews_the_next_camera_and_stops_the_previous(settings):
    rig = FakeRig()
    app = make_app(settings, camera_opener=rig, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("down")
        await streaming(pilot, "asi-right")
        await until(pilot, lambda: not rig.cameras["asi-left"].started, what="asi-left stopped")
        assert state(app, "asi-left") == "ready"
        assert app.cameras_tab.panel.render_text().plain.startswith("asi-right")


@run_async
async def test_a_ptz_camera_shows_why_there_is_no_preview_without_an_error_toast(settings):
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        names = list(settings.cameras)
        for _ in range(names.index("ptz-1")):
            await pilot.press("down")
        await until(pilot, lambda: "not supported" in app.cameras_tab.preview.message, what="ptz message")
        assert "PTZ" in app.cameras_tab.preview.message
        assert not app._notifications


@run_async
async def test_exposure_and_gain_keys_step_the_controls_of_the_previewed_camera(settings):
    rig = FakeRig()
    app = make_app(settings, camera_opener=rig, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("E", "E", "g")
        cam = rig.cameras["asi-left"]
        await until(pilot, lambda: cam.controls()["gain"].value == 90
                    and cam.controls()["exposure_us"].value == 15874, what="controls applied")
        await until(pilot, lambda: app.cameras_tab.table.state_of("asi-left").exposure_us == 15874,
                    what="table shows new exposure")
        await pilot.press("e", "e", "e")
        await until(pilot, lambda: cam.controls()["exposure_us"].value == 7937, what="exposure down")


@run_async
async def test_the_controls_form_applies_typed_values_and_refuses_bad_ones(settings):
    rig = FakeRig()
    app = make_app(settings, camera_opener=rig, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("c")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ControlsForm)
        exposure = form._inputs["exposure_us"]
        exposure.value = "99999999999"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form and "outside" in str(form._error.render())
        exposure.value = "25000"
        form._inputs["gain"].value = "250"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is not form
        cam = rig.cameras["asi-left"]
        await until(pilot, lambda: cam.controls()["exposure_us"].value == 25000
                    and cam.controls()["gain"].value == 250, what="typed controls applied")


@run_async
async def test_pause_stops_the_camera_and_resume_restarts_it(settings):
    rig = FakeRig()
    app = make_app(settings, camera_opener=rig, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("p")
        await until(pilot, lambda: not rig.cameras["asi-left"].started, what="camera stopped")
        await until(pilot, lambda: state(app, "asi-left") == "paused", what="paused state")
        assert "paused" in app.cameras_tab.preview.message
        # While paused, edits still reach the camera.
        await pilot.press("G")
        await until(pilot, lambda: rig.cameras["asi-left"].controls()["gain"].value == 110, what="gain")
        await pilot.press("p")
        await streaming(pilot, frames=app.cameras_tab.preview.frames_shown + 1)


@run_async
async def test_leaving_the_cameras_tab_stops_the_preview(settings):
    rig = FakeRig()
    app = make_app(settings, camera_opener=rig, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("2")
        await until(pilot, lambda: not rig.cameras["asi-left"].started, what="camera stopped")
        await pilot.press("1")
        await until(pilot, lambda: rig.cameras["asi-left"].started, what="camera restarted")


@run_async
async def test_a_key_switches_to_the_plain_ascii_preview(settings):
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        assert not app.cameras_tab.preview.cells.ascii
        await pilot.press("a")
        await until(pilot, lambda: app.cameras_tab.preview.cells.ascii, what="ascii cells")


@run_async
async def test_ascii_preview_from_the_config(settings):
    settings = replace(settings, console=replace(settings.console, ascii_preview=True))
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        cells = app.cameras_tab.preview.cells
        assert cells.ascii and all(line.isascii() for line in cells.lines)


@run_async
async def test_preview_is_rendered_at_the_size_of_the_preview_area(settings):
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(120, 40)) as pilot:
        await streaming(pilot, frames=3)
        preview = app.cameras_tab.preview
        cells = preview.cells
        assert cells.rows == preview.size.height or cells.cols == preview.size.width


@run_async
async def test_the_themes_come_from_the_config_and_are_in_the_palette(settings):
    settings = replace(settings, console=replace(settings.console, theme="camdeck-sunlight"))
    app = make_app(settings, camera_opener=FakeRig(), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "camdeck-sunlight"
        for name in ("camdeck-dark", "camdeck-light", "camdeck-sunlight"):
            assert name in app.available_themes
        from textual.theme import ThemeProvider
        provider = ThemeProvider(app.screen)
        names = [name for name, _ in provider.commands]
        assert {"camdeck-dark", "camdeck-light", "camdeck-sunlight"} <= set(names)
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Theme" in commands and "Preview: ASCII / colour" in commands
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"
        await pilot.press("escape")
        app.theme = "camdeck-dark"
        await pilot.pause()
