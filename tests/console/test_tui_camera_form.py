"""Pilot tests of the camera form (key c) on a simulated Pi camera: every control the driver reports
is a row with the driver's range, a value outside it is refused in the form, a valid one reaches the
camera while editing (read back from the camera), escape puts it back, a new resolution reopens
the camera between takes."""
from __future__ import annotations

import pytest

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.control_fields import crop_for_zoom
from camdeck.console.tui.screens.controls import ControlsForm
from camdeck.drivers.sim.clock import ManualClock
from tests.console import RECORDER_RIG, OpenedCameras, run_async, until

# Everything of the origin's camera popup that a Picamera2 IMX219 has (no focus lens); the
# control tables add ev, metering, AWB mode and denoise to what the driver reports.
EVERY_IMX219_ROW = {"ExposureTime", "AnalogueGain", "AeEnable", "Brightness", "Contrast", "Saturation",
                    "Sharpness", "AwbEnable", "ColourGains", "ScalerCrop", "FrameDurationLimits"}


# Finding 4 of issue 15: the origin's camera popup, as Picamera2 controls of the IMX708 (Camera Module 3).
ORIGIN_POPUP = {"ExposureTime", "LensPosition", "Brightness", "Contrast", "Saturation", "Sharpness", "ScalerCrop",
                "FrameDurationLimits", "AfMode", "AfRange", "AfSpeed", "AfWindows", "AwbMode", "ColourGains",
                "ExposureValue", "AeMeteringMode", "NoiseReductionMode"}


def test_every_control_of_the_origins_popup_is_a_row_with_the_drivers_choices(tmp_path):
    from camdeck.console.config import BUILTIN_CONFIG
    from camdeck.console.tui.screens.control_fields import form_fields
    from camdeck.drivers.registry import open_camera

    settings = load_settings(BUILTIN_CONFIG, tmp_path / "data")
    with open_camera(settings.cameras["darkroom"], settings.driver_context(ManualClock())) as cam:
        controls = cam.controls()
    fields = {f.control: f for f in form_fields(controls)}
    assert ORIGIN_POPUP <= set(fields)
    for name in ("AfMode", "AfRange", "AfSpeed", "AwbMode", "AeMeteringMode", "NoiseReductionMode"):
        assert fields[name].kind == "enum" and fields[name].choices == controls[name].choices
    assert (fields["LensPosition"].minimum, fields["LensPosition"].maximum) == (controls["LensPosition"].min,
                                                                                controls["LensPosition"].max)
    assert (fields["ScalerCrop"].kind, fields["FrameDurationLimits"].kind) == ("zoom", "fps")


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RECORDER_RIG)
    return load_settings(path, tmp_path / "data")


async def open_form(pilot) -> ControlsForm:
    app = pilot.app
    await until(pilot, lambda: app.cameras_tab.current == "lightroom" and app.cameras_tab.preview.frames_shown >= 1,
                what="the lightroom preview")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ControlsForm), what="the camera form")
    return app.screen


@run_async
async def test_the_form_holds_every_control_with_the_drivers_range_and_edits_live(settings):
    rig = OpenedCameras()
    app = make_app(settings, camera_opener=rig, clock=ManualClock(), preview_fps=15)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        cam = rig.cameras["lightroom"]
        controls = cam.controls()
        assert EVERY_IMX219_ROW <= {f.control for f in form.fields}
        for field in form.fields:                        # every range is the driver's own
            rng = controls[field.control]
            if field.kind in ("int", "float"):
                assert (field.minimum, field.maximum) == (rng.min, rng.max), field.control
        exposure = next(f for f in form.fields if f.control == "ExposureTime")
        assert f"{controls['ExposureTime'].max:,}" in exposure.range_text()

        bright = form._inputs["Brightness"]
        bright.value = "5"                               # Brightness is -1 to 1 on this driver
        await pilot.pause(0.6)
        assert "outside -1 … 1" in str(form._error.render())
        assert cam.controls()["Brightness"].value == 0.0                  # nothing reached the camera
        bright.value = "0.3"
        form._inputs["ScalerCrop"].value = "2"           # zoom 2x
        await until(pilot, lambda: cam.controls()["Brightness"].value == 0.3
                    and cam.controls()["ScalerCrop"].value == crop_for_zoom(controls["ScalerCrop"], 2.0),
                    what="the live edits on the camera")
        assert app.screen is form and str(form._error.render()) == ""    # still editing: it was live
        form._choices["AwbMode"].value = "Daylight"      # an enum, from the driver's choices
        await until(pilot, lambda: cam.controls()["AwbMode"].value == "Daylight", what="the AWB mode")
        await pilot.press("escape")                      # cancel puts back what the live edits changed
        await until(pilot, lambda: not isinstance(app.screen, ControlsForm), what="the form to close")
        await until(pilot, lambda: cam.controls()["Brightness"].value == 0.0 and cam.controls()["AwbMode"].value == "Auto"
                    and cam.controls()["ScalerCrop"].value == controls["ScalerCrop"].value, what="the old values")

        form = await open_form(pilot)
        form._inputs["Contrast"].value = "2.5"
        form._inputs["FrameDurationLimits"].value = "20"  # 20 fps
        form._inputs["Contrast"].focus()
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, ControlsForm), what="the form to close")
        await until(pilot, lambda: cam.controls()["Contrast"].value == 2.5
                    and cam.controls()["FrameDurationLimits"].value == (50000, 50000), what="the applied values")


@run_async
async def test_a_new_resolution_reopens_the_camera_between_takes(settings):
    rig = OpenedCameras()
    app = make_app(settings, camera_opener=rig, clock=ManualClock(), preview_fps=15)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot)
        assert (320, 240) in form.resolutions and (640, 480) in form.resolutions   # the sensor's modes offered
        form._resolution_select.value = (640, 480)
        form._inputs["Contrast"].focus()
        await pilot.press("enter")
        await until(pilot, lambda: rig.opened.count("lightroom") == 2, what="the camera reopened")
        await until(pilot, lambda: app.cameras_tab.preview.frames_shown >= 1
                    and rig.cameras["lightroom"].info().output_size == (640, 480), what="the new size previewing")
        assert settings.cameras["lightroom"].resolution == (320, 240)      # the config file's value stays
        from camdeck.console.tui.tabs.recording import RecordingTab

        request = app.query_one(RecordingTab)._request(overwrite=False)   # the next take records at the new size
        assert [spec.resolution for spec in request.cameras] == [(640, 480), (320, 240)]


@run_async
async def test_during_a_take_the_form_edits_through_the_session_and_keeps_rate_and_size_for_later(settings, tmp_path):
    from tests.console.test_tui_recording import open_tab

    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(100, 30)) as pilot:
        tab = await open_tab(pilot, tmp_path / "rec", "form", mode="manual")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording", what="the take")
        tab.table.focus()
        await pilot.press("c")                            # the first row: lightroom
        await until(pilot, lambda: isinstance(app.screen, ControlsForm), what="the camera form")
        form = app.screen
        assert form.camera == "lightroom" and form.take_running.startswith("a take is running")
        assert form._inputs["FrameDurationLimits"].disabled and form._resolution_select.disabled
        assert "between takes" in str(form.query_one(".note").render())
        applied = []
        session = tab.session
        real_apply = session.apply_preset
        session.apply_preset = lambda preset: applied.append(preset) or real_apply(preset)
        form._inputs["Saturation"].value = "0"            # greyscale, while recording
        light = next(c for c in session.cameras if c.name == "lightroom")
        await until(pilot, lambda: light.controls()["Saturation"].value == 0.0, what="the edit on the take's camera")
        assert [p.controls_for("lightroom") for p in applied] == [{"Saturation": 0.0}]   # through the session
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ControlsForm), what="the form to close")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the stop")
        assert tab.last_result.outcome == "stopped"
