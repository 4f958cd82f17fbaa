"""Pilot tests of the Recording tab on the simulated recorder pair: record, confirm an overwrite, stop a
manual session, cancel a countdown, lose a camera mid-session."""
from __future__ import annotations

import tomllib

import pytest
from textual.widgets import TabbedContent

from camdeck.console.config import load_settings, parse_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.confirm_overwrite import ConfirmOverwrite
from camdeck.console.tui.tabs.recording import RecordingTab
from tests.console import RECORDER_RIG, run_async, until

RIG = RECORDER_RIG


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RIG)
    return load_settings(path, tmp_path / "data")


def settings_with(tmp_path, camera: str, **keys):
    """The recorder rig with extra keys on one camera (fault injection of the simulator)."""
    data = tomllib.loads(RIG)
    data["cameras"][camera].update(keys)
    data["console"] = {"data_dir": str(tmp_path / "data")}
    return parse_settings(data, "test config")


def decode_count(path) -> int:
    import av

    with av.open(str(path), format="h264") as container:
        return sum(1 for _ in container.decode(video=0))


async def open_tab(pilot, folder, session: str, mode: str = "timer", duration: str = "0.5s",
                   countdown: str = "0s") -> RecordingTab:
    await pilot.press("2")
    await pilot.pause()
    assert pilot.app.query_one(TabbedContent).active == "recording"
    tab = pilot.app.query_one(RecordingTab)
    tab.name_input.value = session
    tab.folder_input.value = str(folder)
    tab.mode_select.value = mode
    tab.duration_input.value = duration
    tab.countdown_input.value = countdown
    return tab


@run_async
async def test_record_a_timer_session_then_confirm_the_overwrite(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, out, "tui1")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the end")
        result = tab.last_result
        assert result.outcome == "complete"
        for cam in result.cameras:
            assert decode_count(out / f"tui1_camera_{cam.index}.h264") == cam.frames > 0
            assert tab.table.row_text(cam.name)[1] == str(cam.frames)
        assert "complete" in str(tab.timer.caption.render())
        before = (out / "tui1_data.txt").read_text()
        assert tab.name_input.value == "tui2"                      # the next take's name

        tab.name_input.value = "tui1"
        await pilot.press("ctrl+r")                                # same name: the confirm dialog
        await until(pilot, lambda: isinstance(app.screen, ConfirmOverwrite), what="the confirm dialog")
        await pilot.press("n")
        await pilot.pause()
        assert tab.state == "idle" and (out / "tui1_data.txt").read_text() == before

        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmOverwrite), what="the confirm dialog")
        await pilot.press("y")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the second end")
        assert tab.last_result.outcome == "complete"
        assert (out / "tui1_data.txt").read_text() != before


@run_async
async def test_manual_session_stops_on_ctrl_s_and_countdown_cancels(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, out, "man", mode="manual")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording" and tab.table.row_text("darkroom")[1] not in ("0", ""),
                    what="frames")
        assert app.cameras_tab.paused                              # the preview pauses while recording
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the stop")
        assert tab.last_result.outcome == "stopped"
        assert not app.cameras_tab.paused                          # and resumes after
        assert decode_count(out / "man_camera_2.h264") == tab.last_result.cameras[1].frames > 0

        tab.name_input.value = "cd"
        tab.countdown_input.value = "30s"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "countdown", what="the countdown")
        assert tab.timer.text in ("0:30", "0:29") and "starting in" in str(tab.timer.caption.render())
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the cancel")
        assert tab.last_result.outcome == "cancelled"
        assert not list(out.glob("cd_*"))


@run_async
async def test_bad_session_name_is_shown_and_nothing_starts(settings, tmp_path):
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await open_tab(pilot, tmp_path / "rec", "../x")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert tab.state == "idle" and "session name" in tab.last_error
        assert not (tmp_path / "rec").exists()


@run_async
async def test_a_camera_unplugged_mid_session_is_reported_and_the_other_records_on(tmp_path):
    settings = settings_with(tmp_path, "darkroom", fault_disconnect_after=5)
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        # 2 s: long enough on a loaded machine for the simulator to unplug darkroom at frame 5
        tab = await open_tab(pilot, out, "unplug", duration="2s")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the end")
        result = tab.last_result
        assert result.outcome == "camera_fault" and not result.ok
        light, dark = result.cameras
        # the simulator unplugged it after 5 frames; those it gave while warming up are not recorded
        assert 1 <= dark.frames <= 5 < light.frames
        assert decode_count(out / "unplug_camera_2.h264") == dark.frames    # what it recorded is playable
        assert decode_count(out / "unplug_camera_1.h264") == light.frames
        warnings = [n.message for n in app._notifications if n.title == "recording"]
        assert any("darkroom" in w and "failed" in w for w in warnings)
        assert "camera fault" in str(tab.timer.caption.render())
        assert "darkroom" in str(tab.status.render())
        await pilot.press("q")
    assert app.return_code == 0
