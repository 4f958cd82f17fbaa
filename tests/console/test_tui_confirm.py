"""Confirm before what cannot be undone (issue 12, item 4): calibration t and x ask before they
discard captured views, monitoring f asks before a fleet run and a asks before active mode
(which moves cameras); read-only (config key and ``camdeck tui --read-only``) turns off every
key that records, moves or deletes."""
from __future__ import annotations

import pytest

from camdeck.console.config import load_settings, parse_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.confirm import ConfirmScreen
from camdeck.console.tui.tabs.calibration import CalibrationTab
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.console.tui.tabs.reconstruction import ReconstructionTab
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.screens.preset_name import PresetNameScreen
from tests.console import RECORDER_RIG, default_config, run_async, until
from tests.console.test_tui_calibration import RIG as STEREO_RIG
from tests.console.test_tui_monitoring import CONFIG as FLEET_CONFIG


def settings_from(tmp_path, text: str, **console):
    path = tmp_path / "config.toml"
    extra = "".join(f"{k} = {str(v).lower()}\n" for k, v in console.items())
    path.write_text(("[console]\n" + extra if extra else "") + text)
    return load_settings(path, tmp_path / "data")


async def capture_view(pilot, tab: CalibrationTab) -> None:
    before = len(tab.views)
    while len(tab.views) == before:            # the simulator poses a new board each time; retry a miss
        await pilot.press("c")
        await until(pilot, lambda: tab._capture is not None and tab._capture.is_finished, what="a capture")
        await pilot.pause()


@run_async
async def test_calibration_t_and_x_ask_before_discarding_views(tmp_path):
    app = make_app(settings_from(tmp_path, STEREO_RIG), live=False, frame_limit=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        tab = app.query_one(CalibrationTab)
        await capture_view(pilot, tab)
        for key in ("x", "t"):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what=f"{key}'s confirm")
            assert "discards the 1 captured view" in " ".join(app.screen.lines)
            await pilot.press("n")              # kept
            await pilot.pause()
            assert len(tab.views) == 1 and tab.target_index == 0
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="x's confirm")
        await pilot.press("y")
        await pilot.pause()
        assert tab.views == []
        await pilot.press("t")                  # nothing to lose now: no question
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and tab.target_index == 1


@run_async
async def test_monitoring_f_asks_before_a_fleet_run(tmp_path):
    app = make_app(settings_from(tmp_path, FLEET_CONFIG), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.fleet.row_count == 2, what="the fleet table")
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the fleet confirm")
        assert "Run all 2 cameras of the fleet, passive" in " ".join(app.screen.lines)
        await pilot.press("escape")
        await pilot.pause()
        assert not tab.running and tab.events == [] and tab.last_report is None


@run_async
async def test_read_only_config_turns_off_every_key_that_records_moves_or_deletes(tmp_path):
    data = default_config()
    data["console"].update(read_only=True, data_dir=str(tmp_path / "data"))
    for name in ("asi-left", "asi-right"):
        data["cameras"][name].update(resolution=[1280, 720], controls={**data["cameras"][name].get("controls", {}),
                                                                      "bin": 2})
    settings = parse_settings(data, "test config")
    app = make_app(settings, live=False, frame_limit=1)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        recording = app.query_one(RecordingTab)
        recording.folder_input.value = str(tmp_path / "rec")
        await pilot.press("ctrl+r", "ctrl+o")
        await pilot.pause(0.3)
        assert recording.state == "idle" and not (tmp_path / "rec").exists()
        assert not isinstance(app.screen, PresetNameScreen)      # no name asked: nothing is saved
        assert not (tmp_path / "data" / "presets").exists()
        footer = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "ctrl+r" not in footer and "ctrl+s" in footer

        await pilot.press("5")
        monitoring = app.query_one(MonitoringTab)
        await pilot.press("a", "f", "r")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert monitoring.active is False and not monitoring.running and monitoring.events == []

        await pilot.press("3")
        calibration = app.query_one(CalibrationTab)
        await capture_view(pilot, calibration)          # looking is allowed: nothing is written
        await pilot.press("x", "t", "w")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert len(calibration.views) == 1 and calibration.target_index == 0
        assert not (tmp_path / "data" / "calibration").exists()

        await pilot.press("4")
        reconstruction = app.query_one(ReconstructionTab)
        footer = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "s" not in footer and "r" in footer
        assert reconstruction.check_action("save", ()) is False


@pytest.mark.parametrize("flag", [True, False])
def test_tui_read_only_flag_reaches_the_app(cli, tmp_path, monkeypatch, flag):
    """``camdeck tui --read-only`` hands read_only=True to the console (else the config key, false).

    run_app is replaced by one that builds the app without running it: a full-screen app
    cannot take the test's terminal."""
    from camdeck.console.tui import app as tui_app

    seen = {}

    def build_only(settings, *, read_only=None):
        seen["app"] = tui_app.make_app(settings, read_only=read_only)

    monkeypatch.setattr(tui_app, "run_app", build_only)
    (tmp_path / "c.toml").write_text(RECORDER_RIG)
    args = ["--config", tmp_path / "c.toml", "--data-dir", tmp_path / "d", "--log-file", tmp_path / "tui.log", "tui"]
    result = cli(*args, *(["--read-only"] if flag else []))
    assert result.code == 0, result.err
    assert seen["app"].read_only is flag
    assert seen["app"].settings.console.read_only is flag
