"""Pilot tests of the Recording tab's presets and take preview on the simulated recorder pair:
presets are picked from a list, saving asks a name and saves each camera's own controls, a preset
applied during a take reaches the cameras; the preview is off by default, follows the take when
turned on, and the take's frames are all filed or counted dropped as without it."""
from __future__ import annotations

import json

import pytest

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.confirm import ConfirmScreen
from camdeck.console.tui.screens.preset_name import PresetNameScreen
from camdeck.drivers.recording.presets import CameraPreset, PresetStore
from tests.console import RECORDER_RIG, run_async, until
from tests.console.test_tui_recording import decode_count, open_tab


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RECORDER_RIG)
    return load_settings(path, tmp_path / "data")


async def type_text(pilot, text: str) -> None:
    for ch in text:
        await pilot.press("space" if ch == " " else ch)


@run_async
async def test_presets_come_from_a_list_and_save_each_cameras_own_controls(settings, tmp_path):
    store = PresetStore(tmp_path / "data")
    store.save("night", {"lightroom": CameraPreset("IMX219", {"ExposureTime": 9000})})
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, tmp_path / "rec", "p")
        assert [name for _, name in tab.preset_select._options if isinstance(name, str)] == ["night"]
        assert tab.selected_preset() is None                      # no preset unless one is picked

        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, PresetNameScreen), what="the name dialog")
        await type_text(pilot, "../up")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PresetNameScreen) and "not a safe name" in str(app.screen.error.render())
        app.screen.field.value = ""
        await type_text(pilot, "dusk")
        await pilot.press("enter")
        await until(pilot, lambda: tab.selected_preset() == "dusk", what="the saved preset picked in the list")
        saved = json.loads((tmp_path / "data" / "presets" / "dusk.json").read_text())["cameras"]
        assert saved["lightroom"]["model"] == "IMX219" and saved["darkroom"]["model"] == "IMX708"
        assert saved["lightroom"]["controls"]["ScalerCrop"] != saved["darkroom"]["controls"]["ScalerCrop"]
        assert sorted(p.name for p in (tmp_path / "data" / "presets").iterdir()) == ["dusk.json", "night.json"]

        await pilot.press("ctrl+o")                               # an existing name asks before replacing
        await until(pilot, lambda: isinstance(app.screen, PresetNameScreen), what="the name dialog")
        await pilot.press("enter")                                # the picked name, "dusk"
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the replace question")
        await pilot.press("n")
        await pilot.pause()
        assert json.loads((tmp_path / "data" / "presets" / "dusk.json").read_text())["cameras"] == saved


@run_async
async def test_a_preset_applied_during_a_take_reaches_each_camera(settings, tmp_path):
    PresetStore(tmp_path / "data").save("bright", {
        "lightroom": CameraPreset("IMX219", {"ExposureTime": 7000, "AnalogueGain": 3.0}),
        "darkroom": CameraPreset("IMX708", {"ExposureTime": 6000, "LensPosition": 2.5,
                                            "FrameDurationLimits": (100000, 100000)})})
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, tmp_path / "rec", "live", mode="manual")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording", what="the recording")
        tab.preset_select.value = "bright"
        await pilot.press("ctrl+l")
        dark_rate = next(c for c in tab.session.cameras if c.name == "darkroom").controls()["FrameDurationLimits"].value
        await until(pilot, lambda: "applied live" in str(tab.status.render()), what="the preset")
        light, dark = tab.session.cameras
        assert "FrameDurationLimits waits for the next take" in str(tab.status.render())
        assert dark.controls()["FrameDurationLimits"].value == dark_rate             # the take keeps its rate
        assert light.controls()["ExposureTime"].value == 7000 and light.controls()["AnalogueGain"].value == 3.0
        assert dark.controls()["ExposureTime"].value == 6000 and dark.controls()["LensPosition"].value == 2.5
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the stop")
        assert tab.last_result.outcome == "stopped"


@run_async
async def test_the_take_preview_is_off_by_default_and_follows_the_take_when_on(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(100, 40)) as pilot:
        tab = await open_tab(pilot, out, "pv", mode="manual")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording" and tab.table.row_text("darkroom")[1] not in ("0", ""),
                    what="frames")
        assert not tab.preview.on and not tab.preview.display and tab.preview.updates == 0
        await pilot.press("v")
        await until(pilot, lambda: all(v.frames_shown >= 2 for v in tab.preview.views), what="both previews")
        assert tab.preview.display
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the stop")
        result = tab.last_result
        assert result.outcome == "stopped"
        for stats in result.cameras:
            assert decode_count(out / f"pv_camera_{stats.index}.h264") == stats.frames > 0
            # the rule of every take: each frame the sensor made is in the file, counted dropped,
            # or skipped before the take's zero
            assert stats.frames + stats.dropped + stats.skipped == tab.preview.last_seq[stats.name] + 1
        assert tab.preview.taps == {}                             # no frame is kept after the take
        shown = tab.preview.updates
        await pilot.pause(1.2)
        assert tab.preview.updates == shown                       # no take, no drawing
