"""The Recording tab's widgets flag a take past the drop limit, and its timer offers the origin's
steps (1 to 60 minutes in 0.5 minute steps). A real take on the simulated recorder pair."""
from __future__ import annotations

import tomllib

from camdeck.console.config import parse_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.widgets.recording_timer import TIMER_STEPS
from tests.console import RECORDER_RIG, run_async, until


def fast_rig(tmp_path):
    """The recorder pair with sensors 200 times faster than the wall (the simulator's clock knob):
    the encoders cannot keep up, so nearly every frame drops; the limit is the default 1 %. Its
    takes are MP4 (record.format), which the TUI follows as the CLI does."""
    data = tomllib.loads(RECORDER_RIG)
    data["sim"]["time_factor"] = 200.0
    data["record"]["max_drop_pct"] = 1.0
    data["record"]["format"] = "mp4"
    data["console"] = {"data_dir": str(tmp_path / "data")}
    return parse_settings(data, "test config")


@run_async
async def test_a_take_past_the_drop_limit_is_flagged(tmp_path):
    app = make_app(fast_rig(tmp_path), preview_fps=15)
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
        assert tab.table.flagged == {"lightroom", "darkroom"}
        status = tab.table.row_text("lightroom")[-1]
        assert "% dropped" in status
        assert tab.timer.flagged and "drops" in str(tab.timer.caption.render())


def test_the_timer_steps_are_the_origins():
    assert TIMER_STEPS[:3] == ("1m", "1.5m", "2m") and TIMER_STEPS[-1] == "60m" and len(TIMER_STEPS) == 119
