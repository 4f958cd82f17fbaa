"""The Monitoring tab, driven with keys: history per camera, alerts highlighted, offsets plotted, run-now
with live progress against the simulated PTZ camera (its bump is the truth). The whole rig is
the real simulated one, its cameras on simulated time (ManualClock)."""
from __future__ import annotations


import pytest

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.confirm import ConfirmScreen
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.console.tui.widgets.monitoring_plot import plot_scale_deg, sparkline_text
from camdeck.drivers.sim.clock import ManualClock
from camdeck.drivers.sim.ptz_state import Bump, write_bump
from camdeck.monitoring.history import HistoryStore, MonitoringRecord
from tests.console import run_async, until

CONFIG = """
[sim]
seed = 0
time_factor = 50.0

[cameras.still]
driver = "sim"
model = "IMX708"
resolution = [320, 240]

[deployments.site]

[cameras.ptz-1]
driver = "sim"
model = "PTZ"
deployment = "site"
resolution = [640, 360]
tilt_range_deg = [-20.0, 20.0]
port = 0
speed_deg_s = 360.0

[cameras.ptz-2]
driver = "sim"
model = "PTZ"
deployment = "site"
resolution = [640, 360]
tilt_range_deg = [-20.0, 20.0]
port = 0

[monitor]
horizontal_stops = 4
vertical_stops = 1
stabilize_time_s = 0.2
timeout_s = 60.0
"""


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return load_settings(path, tmp_path / "data")


def seed_history(settings) -> list[MonitoringRecord]:
    store = HistoryStore.from_settings(settings.storage, settings.data_dir)
    rows = [(0.01, -0.02, 0.0, True), (0.1, 0.62, -0.1, True), (None, None, None, False), (-0.7, 0.0, 0.2, True)]
    for n, (p, y, r, ok) in enumerate(rows):
        store.add(MonitoringRecord(deployment="site", device_id="ptz-1", timestamp=f"2026-11-2{n}T10:00:00Z",
                                   pitch_offset_deg=p, yaw_offset_deg=y, roll_offset_deg=r, success=ok,
                                   failure_logs="" if ok else "no reference scan"))
    return store.query(device_id="ptz-1")


@run_async
async def test_history_per_camera_with_alerts_highlighted_and_plotted(settings):
    seed_history(settings)
    app = make_app(settings, live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.history.row_count == 4, what="history rows")
        assert tab.devices == ["site/ptz-1", "site/ptz-2"]
        assert tab.fleet.selected == "site/ptz-1"
        assert tab.history.alert_rows == [0, 2]          # newest first: -0.7 pitch, then 0.62 yaw
        assert tab.plot.series["yaw"] == [-0.02, 0.62, None, 0.0]
        latest = tab.fleet.get_cell("site/ptz-1", "result")
        assert latest.plain == "ALERT"
        assert tab.fleet.get_cell("site/ptz-2", "result").plain == "no runs"
        await pilot.press("down")                        # the other camera: no history yet
        await until(pilot, lambda: tab.history.row_count == 0, what="ptz-2's empty history")
        assert tab.plot.series["pitch"] == []
        await pilot.press("q")


@run_async
async def test_run_now_measures_the_bump_with_live_progress(settings):
    from camdeck.monitoring.scans import collect_references

    collect_references(settings, "site/ptz-1", settle_s=0.1)
    bump = Bump(pitch_deg=0.9, yaw_deg=-0.6, roll_deg=0.4)
    write_bump(settings.data_dir, "ptz-1", bump)
    app = make_app(settings, live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.fleet.row_count == 2, what="fleet table")
        await pilot.press("r")
        await until(pilot, lambda: tab.running, timeout_s=5, what="run started")
        await until(pilot, lambda: tab.last_report is not None, what="run finished")
        stages = [e.stage for e in tab.events]
        assert "capture" in stages and "offsets" in stages and stages[-1] == "done"
        [row] = tab.last_report["devices"]
        assert row["success"] and row["alert"]
        for axis in ("pitch", "yaw", "roll"):
            assert row[f"{axis}_deg"] == pytest.approx(getattr(bump, f"{axis}_deg"), abs=0.05)
        await until(pilot, lambda: tab.history.row_count == 1, what="the new history row")
        assert tab.history.alert_rows == [0]
        assert "run finished: 1 of 1 processed" in str(tab.run_label.render())
        await pilot.press("a")                  # active moves the cameras: it asks first
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the active-mode confirm")
        assert tab.active is False
        await pilot.press("y")
        await pilot.pause()
        assert tab.active is True
        await pilot.press("a")                  # back to passive: no question
        await pilot.pause()
        assert tab.active is False and not isinstance(app.screen, ConfirmScreen)
        await pilot.press("q")


def test_sparkline_marks_values_over_the_threshold_and_failures():
    text = sparkline_text([0.0, 0.25, 1.0, None, -0.6], threshold_deg=0.5, scale_deg=1.0)
    assert text.plain == "▁▂█×▅"
    styles = [str(span.style) for span in text.spans]
    assert styles == ["green", "green", "bold red", "dim red", "bold red"]
    assert sparkline_text([0.5, None, 1.0], 0.5, 1.0, ascii_only=True).plain == "=x@"
    assert plot_scale_deg([0.1, None, -0.2], 0.5) == 1.0 and plot_scale_deg([3.0], 0.5) == 3.0
