"""Pilot tests: drive the TUI with keys, as an operator would, on the simulated rig.

The cameras are the real simulated ones (``OpenedCameras`` keeps the ones the app opened, so a
test can unplug one or read its true controls). Their clock is a ManualClock: sensor time moves
only while a camera waits for a frame, so frame rates, timestamps and injected timeouts are the
same on every run and cost no wall time.
"""
from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import TabbedContent

from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.controls import ControlsForm
from camdeck.console.tui.screens.help import HelpScreen
from camdeck.drivers.sim.clock import ManualClock
from tests.console import OpenedCameras, run_async, sim_settings, until


@pytest.fixture
def settings(tmp_path):
    return sim_settings(tmp_path / "data")


@pytest.fixture
def rig():
    return OpenedCameras()


def start(settings, rig: OpenedCameras | None = None, **options):
    """The console on the simulated rig, its cameras on simulated time."""
    return make_app(settings, camera_opener=rig or OpenedCameras(), clock=ManualClock(), preview_fps=15,
                    **options)


def state(app, camera: str) -> str:
    return app.cameras_tab.table.state_of(camera).state


def errors(app) -> list[str]:
    """The error toasts the operator has seen."""
    return [f"{n.title}: {n.message}" for n in app._notifications if n.severity == "error"]


async def streaming(pilot, camera: str = "asi-left", frames: int = 1) -> None:
    app = pilot.app
    await until(pilot, lambda: app.cameras_tab.current == camera
                and app.cameras_tab.preview.frames_shown >= frames
                and state(app, camera) == "streaming", what=f"{camera} streaming")


async def probed(pilot) -> None:
    """Wait until the probe has opened the rest of the rig (it starts after the first preview)."""
    await until(pilot, lambda: state(pilot.app, "still") == "ready", what="probe of the rig cameras")


def picture_level(cells) -> float:
    """Mean channel value (0-255) of a half-block preview: how bright the picture looks."""
    total = count = 0
    for row in cells.lines:
        for segment in row:
            n = len(segment.text)
            for colour in (segment.style.color, segment.style.bgcolor):
                total += sum(colour.get_truecolor()) * n
                count += 3 * n
    return total / count


@run_async
async def test_number_keys_switch_tabs_and_nothing_crashes(settings):
    app = start(settings)
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
    app = start(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


@run_async
async def test_every_configured_camera_has_a_row_showing_what_the_camera_reports(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        table = app.cameras_tab.table
        assert table.row_count == len(settings.cameras) == 7
        await probed(pilot)
        for name in ("asi-right", "lightroom", "darkroom"):
            assert state(app, name) == "ready"
        # PTZ cameras sit behind networks: nothing connects to them until they are selected.
        assert state(app, "ptz-1") == state(app, "ptz-2") == "closed"
        assert not {"ptz-1", "ptz-2"} & set(rig.opened)
        still = table.state_of("still")                    # a probed row shows the camera's own values
        assert (still.exposure_us, still.gain) == (10000, 1.0)

        cam = rig.cameras["asi-left"]
        status = table.state_of("asi-left")
        truth = cam.controls()
        assert status.exposure_us == truth["exposure_us"].value == 10000
        assert status.gain == truth["gain"].value == 100
        assert status.temperature_c == pytest.approx(cam.temperature_c, abs=0.1)
        assert status.dropped == cam.dropped_frames == 0
        await until(pilot, lambda: table.state_of("asi-left").fps is not None, what="measured fps")
        # The rate the sensor delivers (from its timestamps), not the preview's 15 fps.
        assert table.state_of("asi-left").fps == pytest.approx(1.0 / cam.frame_period_s, abs=0.1)


@run_async
async def test_moving_the_cursor_previews_the_next_camera_and_stops_the_previous(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("down")
        await streaming(pilot, "asi-right")
        await until(pilot, lambda: not rig.cameras["asi-left"].started, what="asi-left stopped")
        assert rig.cameras["asi-right"].started
        assert state(app, "asi-left") == "ready"
        assert app.cameras_tab.panel.render_text().plain.startswith("asi-right")


@run_async
async def test_selecting_a_ptz_camera_opens_it_and_previews_its_view_without_an_error_toast(settings, rig):
    from camdeck.drivers.sim.ptz import SimPtzCamera

    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await probed(pilot)
        assert "ptz-1" not in rig.opened
        for _ in range(list(settings.cameras).index("ptz-1")):
            await pilot.press("down")
        await streaming(pilot, "ptz-1")
        assert isinstance(rig.cameras["ptz-1"], SimPtzCamera)
        await until(pilot, lambda: "640x360 RGB" in app.cameras_tab.panel.render_text().plain,
                    what="a frame of the PTZ view")
        assert app.cameras_tab.preview.cells is not None
        assert "ptz-2" not in rig.opened
        assert not app._notifications


@run_async
async def test_exposure_and_gain_keys_change_the_camera_and_the_preview_brightness(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot, frames=3)
        table, preview = app.cameras_tab.table, app.cameras_tab.preview
        before = picture_level(preview.cells)
        cam = rig.cameras["asi-left"]

        await pilot.press("E", "E", "g")                   # +2/3 stop of exposure, -1 dB of gain
        await until(pilot, lambda: cam.controls()["gain"].value == 90
                    and cam.controls()["exposure_us"].value == 15874, what="controls applied")
        # The table's exposure comes from a frame's metadata: the picture shown with it was taken
        # with the new settings.
        await until(pilot, lambda: table.state_of("asi-left").exposure_us == 15874
                    and table.state_of("asi-left").gain == 90, what="table shows the new controls")
        # The ASI's response is linear: brightness follows exposure x 10 ** (gain / 200).
        gain_factor = 10 ** ((90 - 100) / 200)
        assert picture_level(preview.cells) / before == pytest.approx(15874 / 10000 * gain_factor, rel=0.1)

        await pilot.press("e", "e", "e")                   # one stop down from there
        await until(pilot, lambda: cam.controls()["exposure_us"].value == 7937, what="exposure down")
        await until(pilot, lambda: table.state_of("asi-left").exposure_us == 7937, what="table exposure")
        assert picture_level(preview.cells) / before == pytest.approx(7937 / 10000 * gain_factor, rel=0.1)
        assert not app._notifications


@run_async
async def test_the_controls_form_applies_typed_values_and_refuses_bad_ones(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        cam = rig.cameras["asi-left"]
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ControlsForm), what="the camera form")
        form = app.screen
        exposure = form._inputs["exposure_us"]
        limit = cam.controls()["exposure_us"].max
        exposure.value = str(limit + 1)                    # the camera's own limit, one past it
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is form
        assert "outside" in str(form._error.render()) and f"{limit:,}" in str(form._error.render())
        exposure.value = "25000"
        form._inputs["gain"].value = "250"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is not form
        await until(pilot, lambda: cam.controls()["exposure_us"].value == 25000
                    and cam.controls()["gain"].value == 250, what="typed controls applied")
        await until(pilot, lambda: app.cameras_tab.table.state_of("asi-left").exposure_us == 25000,
                    what="frames taken with the typed exposure")
        assert state(app, "asi-left") == "streaming" and not app._notifications


@run_async
async def test_a_long_exposure_previews_slowly_instead_of_timing_out(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ControlsForm), what="the camera form")
        app.screen._inputs["exposure_us"].value = "20000000"     # 20 s: the ASI allows up to 60 s
        await pilot.press("enter")
        table = app.cameras_tab.table
        await until(pilot, lambda: table.state_of("asi-left").exposure_us == 20_000_000
                    or bool(errors(app)), what="a 20 s frame, or an error")
        assert not errors(app)
        assert state(app, "asi-left") == "streaming"


@run_async
async def test_pause_stops_the_camera_and_resume_restarts_it(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        cam = rig.cameras["asi-left"]
        await pilot.press("p")
        await until(pilot, lambda: not cam.started, what="camera stopped")
        await until(pilot, lambda: state(app, "asi-left") == "paused", what="paused state")
        assert "paused" in app.cameras_tab.preview.message
        # While paused, edits still reach the camera.
        await pilot.press("G")
        await until(pilot, lambda: cam.controls()["gain"].value == 110, what="gain")
        assert not cam.started
        await pilot.press("p")
        await streaming(pilot, frames=app.cameras_tab.preview.frames_shown + 1)
        assert cam.started
        await until(pilot, lambda: app.cameras_tab.table.state_of("asi-left").gain == 110,
                    what="frames taken with the new gain")


@run_async
async def test_leaving_the_cameras_tab_stops_the_preview(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        cam = rig.cameras["asi-left"]
        await pilot.press("2")
        await until(pilot, lambda: not cam.started, what="camera stopped")
        await pilot.press("1")
        await until(pilot, lambda: cam.started, what="camera restarted")
        await streaming(pilot, frames=app.cameras_tab.preview.frames_shown + 1)


@run_async
async def test_an_unplugged_camera_shows_disconnected_and_comes_back_when_reselected(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await probed(pilot)
        unplugged = rig.cameras["asi-left"]
        unplugged.inject_fault("disconnect")
        await until(pilot, lambda: state(app, "asi-left") == "disconnected", what="the disconnected row")
        assert "disconnected" in app.cameras_tab.preview.message
        [toast] = errors(app)
        assert "CameraDisconnected" in toast and "asi-left" in toast
        assert app.cameras_tab.table.state_of("asi-left").detail   # the driver's message and fix

        await pilot.press("down")                          # the rest of the rig keeps working
        await streaming(pilot, "asi-right", frames=app.cameras_tab.preview.frames_shown + 1)
        await pilot.press("up")                            # reconnected: selecting it opens it afresh
        await streaming(pilot, "asi-left", frames=app.cameras_tab.preview.frames_shown + 1)
        assert rig.cameras["asi-left"] is not unplugged and rig.opened.count("asi-left") == 2
        assert len(errors(app)) == 1


@run_async
async def test_a_camera_that_stops_delivering_shows_timeout_and_recovers_on_resume(settings, rig):
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        cam = rig.cameras["asi-left"]
        cam.inject_fault("timeout")                        # every capture times out from now on
        await until(pilot, lambda: bool(errors(app)), what="the preview to give up")
        assert state(app, "asi-left") == "timeout"
        assert "timeout" in app.cameras_tab.preview.message
        assert "CaptureTimeout" in errors(app)[0]

        cam.inject_fault(None)                             # the camera delivers again
        await pilot.press("p")
        await pilot.press("p")
        await streaming(pilot, frames=app.cameras_tab.preview.frames_shown + 2)
        assert rig.opened.count("asi-left") == 1           # the same camera, not reopened


@run_async
async def test_occasional_timeouts_are_shown_and_the_preview_carries_on(tmp_path, rig):
    settings = sim_settings(tmp_path / "data", {"asi-left": {"fault_timeout_every": 6}})
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        await until(pilot, lambda: state(app, "asi-left") == "timeout", what="a timeout in the row")
        shown = app.cameras_tab.preview.frames_shown
        await streaming(pilot, frames=shown + 6)          # back to streaming on its own
        assert not app._notifications


@run_async
async def test_a_camera_unplugged_after_some_frames_keeps_the_app_running(tmp_path, rig):
    settings = sim_settings(tmp_path / "data", {"asi-left": {"fault_disconnect_after": 3}})
    app = start(settings, rig)
    async with app.run_test(size=(80, 24)) as pilot:
        # the row changes at once; the toast arrives as a message (App.notify posts it), so wait for both
        await until(pilot, lambda: state(app, "asi-left") == "disconnected" and errors(app),
                    what="the disconnected row and its error toast")
        assert "#2" in app.cameras_tab.panel.render_text().plain      # frames 0, 1, 2 were shown
        assert "disconnected" in app.cameras_tab.preview.message
        assert len(errors(app)) == 1
        await pilot.press("down")
        await streaming(pilot, "asi-right", frames=4)
        await pilot.press("q")
    assert app.return_code == 0


@run_async
async def test_a_key_switches_to_the_plain_ascii_preview(settings):
    app = start(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        assert not app.cameras_tab.preview.cells.ascii
        await pilot.press("a")
        await until(pilot, lambda: app.cameras_tab.preview.cells.ascii, what="ascii cells")


@run_async
async def test_ascii_preview_from_the_config(settings):
    settings = replace(settings, console=replace(settings.console, ascii_preview=True))
    app = start(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await streaming(pilot)
        cells = app.cameras_tab.preview.cells
        assert cells.ascii and all(line.isascii() for line in cells.lines)


@run_async
async def test_preview_is_rendered_at_the_size_of_the_preview_area(settings):
    app = start(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await streaming(pilot)
        preview = app.cameras_tab.preview
        assert preview.size.width > 80 and preview.size.height > 24
        # A frame or two may still be drawn at the default size before the first layout arrives.
        await until(pilot, lambda: preview.cells.rows == preview.size.height
                    or preview.cells.cols == preview.size.width, what="cells fitted to the preview area")
        cells = preview.cells                              # half-blocks: two pixel rows per cell
        assert cells.cols / (2 * cells.rows) == pytest.approx(640 / 360, abs=0.05)   # the frame's shape


@run_async
async def test_the_themes_come_from_the_config_and_are_in_the_palette(settings):
    settings = replace(settings, console=replace(settings.console, theme="camdeck-sunlight"))
    app = start(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "camdeck-sunlight"
        for name in ("camdeck-dark", "camdeck-light", "camdeck-sunlight"):
            assert name in app.available_themes
        from textual.theme import ThemeProvider
        provider = ThemeProvider(app.screen)
        names = [name for name, _ in provider.commands]
        assert {"camdeck-dark", "camdeck-light", "camdeck-sunlight"} <= set(names)
        commands = [c.title for c in app.get_system_commands(app.screen)]
        # textual's own theme command: "Change theme" before textual 6.4.0, "Theme" since
        assert {"Theme", "Change theme"} & set(commands) and "Preview: ASCII / colour" in commands
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"
        await pilot.press("escape")
        app.theme = "camdeck-dark"
        await pilot.pause()
