"""The Recording tab's widgets flag a take past the drop limit, and its timer offers the origin's
steps (1 to 60 minutes in 0.5 minute steps). A real take on the simulated recorder pair."""
from __future__ import annotations

import tomllib

from camdeck.console.config import parse_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.widgets.recording_timer import TIMER_STEPS
from tests.console import RECORDER_RIG, run_async, until


def dropping_rig(tmp_path):
    """The recorder pair, each camera's every second capture timing out (the simulator's
    ``fault_timeout_every``): the capture waits its 1 s timeout on the camera's clock while the
    sensor runs on, so its 2-frame buffer overwrites some 28 frames between any two frames the
    recorder gets. That is far past the default 1 % limit however fast or slow this machine is
    (a take that relied on a 200x sensor outrunning the encoder got two frames in a row and no
    drop on a loaded machine, in its 0.1 s of wall time). The clock runs 20 times faster than the
    wall, so the 20 s take is about a second. Takes are MP4 (record.format), which the TUI
    follows as the CLI does."""
    data = tomllib.loads(RECORDER_RIG)
    data["sim"]["time_factor"] = 20.0
    for name in ("lightroom", "darkroom"):
        data["cameras"][name]["fault_timeout_every"] = 2
    data["record"]["max_drop_pct"] = 1.0
    data["record"]["format"] = "mp4"
    data["console"] = {"data_dir": str(tmp_path / "data")}
    return parse_settings(data, "test config")


@run_async
async def test_a_take_past_the_drop_limit_is_flagged(tmp_path):
    app = make_app(dropping_rig(tmp_path), preview_fps=15)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        tab = app.query_one(RecordingTab)
        tab.name_input.value, tab.folder_input.value = "drops", str(tmp_path / "rec")
        tab.mode_select.value, tab.duration_input.value = "timer", "20s"
        suggestion = await tab.duration_input.suggester.get_suggestion("12.")
        assert suggestion == "12.5m"                     # the origin's steps are offered as it is typed
        tab.action_start()
        await until(pilot, lambda: tab.last_result is not None, timeout_s=120)
        result = tab.last_result
        assert result.outcome == "complete_with_drops"
        assert {p.name for p in result.files if p.suffix in (".mp4", ".h264")} == {"drops_camera_1.mp4",
                                                                                 "drops_camera_2.mp4"}
        assert all(cam.frames >= 2 for cam in result.cameras)    # each had a timeout between two frames
        assert tab.table.flagged == {"lightroom", "darkroom"}
        status = tab.table.row_text("lightroom")[-1]
        assert "% dropped" in status
        assert tab.timer.flagged and "drops" in str(tab.timer.caption.render())


def test_the_timer_steps_are_the_origins():
    assert TIMER_STEPS[:3] == ("1m", "1.5m", "2m") and TIMER_STEPS[-1] == "60m" and len(TIMER_STEPS) == 119
