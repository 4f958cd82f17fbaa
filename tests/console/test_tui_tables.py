"""Tables and text (issue 12, items 7 and 9): at 80, 120 and 200 columns no cell loses its unit
or its state (read from the rendered lines, not from the data); a monitoring failure reads in
full in a dialog and raises a toast; ``/`` filters the camera and fleet tables; j/k move."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.messages import CameraState
from camdeck.console.tui.screens.record_detail import RecordDetail
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.widgets.fit_text import fit_count, fit_number, fit_significant, human_size
from camdeck.console.tui.widgets.tables import ColumnSpec, column_widths
from camdeck.drivers.recording.camera_track import CameraStats
from camdeck.drivers.sim.clock import ManualClock
from camdeck.monitoring.history import HistoryStore, MonitoringRecord
from tests.console import RECORDER_RIG, run_async, sim_settings, until
from tests.console.test_tui_monitoring import CONFIG as FLEET_CONFIG

WIDTHS = (80, 120, 200)
REASON = ("no reference scan for site/ptz-1 in /srv/camdeck/scans/site/ptz-1/reference (the folder is "
          "missing); fix: camdeck monitor collect-references --device site/ptz-1")


def rendered(table: DataTable) -> list[str]:
    """The table's lines as the terminal shows them."""
    return [strip.text for strip in (table.render_line(y) for y in range(table.size.height))]


def row_line(table: DataTable, starts: str) -> str:
    return next(line for line in rendered(table) if line.strip().startswith(starts))


@pytest.mark.parametrize("value,width,expect", [
    (47.3, 5, "47.3"), (1234.5, 5, "1234"), (123456.0, 5, "123k"), (47.25, 4, "47.2"),
    (-12.5, 5, "-12.5"), (0.5, 5, "0.5"), (2.5e6, 4, "2.5M"),
])
def test_fit_number_keeps_the_digits_that_matter(value, width, expect):
    assert fit_number(value, width) == expect and len(expect) <= width


def test_formatters_never_lose_the_unit_or_use_an_exponent():
    assert fit_significant(30000.0, 6) == "30000" and fit_significant(0.0123, 6) == "0.0123"
    assert fit_count(99999, 5) == "99999" and fit_count(123456, 5) == "123k"
    assert human_size(428_100_000) == "428.1 MB" and human_size(1_234_567_890_123) == "1.2 TB"
    assert all(len(human_size(n)) <= 8 for n in (0, 999, 999_949_999, 10**15, 999_999_999_999_999))


def test_column_widths_give_the_spare_width_to_the_flex_columns():
    specs = (ColumnSpec("name", "camera", 9, flex=2), ColumnSpec("fps", "fps", 5), ColumnSpec("x", "x", 10, flex=1))
    assert column_widths(specs, 30) == {"name": 9, "fps": 5, "x": 10}          # narrower than the minimums
    wide = column_widths(specs, 60)
    assert wide["fps"] == 5 and wide["name"] + wide["x"] + 5 + 6 == 60 and wide["name"] > wide["x"]


@pytest.mark.parametrize("cols", WIDTHS)
@run_async
async def test_recording_table_keeps_units_and_states_at_every_width(tmp_path, cols):
    path = tmp_path / "config.toml"
    path.write_text(RECORDER_RIG)
    app = make_app(load_settings(path, tmp_path / "data"), live=False)
    async with app.run_test(size=(cols, 24)) as pilot:
        await pilot.press("2")
        tab = app.query_one(RecordingTab)
        tab.table.update_stats([
            CameraStats(1, "lightroom", "", frames=123456, fps=47.3, dropped=12, bytes_written=428_100_000,
                        status="recording"),
            CameraStats(2, "darkroom", "", frames=98, fps=9.96, dropped=1234567, bytes_written=1_234_567_890,
                        status="fault", fault="CameraDisconnected: camera 'darkroom' was unplugged"),
        ])
        await pilot.pause()
        light = row_line(tab.table, "1 lightroom")
        for text in ("123456", "47.3", "12", "428.1 MB", "recording"):
            assert f" {text} " in f" {light} ", (cols, text, light)
        dark = row_line(tab.table, "2 darkroom")
        for text in ("98", "10.0", "1234567", "1.2 GB", "fault"):
            assert f" {text}" in dark, (cols, text, dark)
        if cols >= 200:
            assert "CameraDisconnected: camera 'darkroom' was unplugged" in dark


@pytest.mark.parametrize("cols", WIDTHS)
@run_async
async def test_camera_table_keeps_units_and_states_at_every_width(tmp_path, cols):
    app = make_app(sim_settings(tmp_path / "data"), live=False, frame_limit=1)
    async with app.run_test(size=(cols, 24)) as pilot:
        table = app.cameras_tab.table
        await until(pilot, lambda: table.row_count == 7, what="the camera rows")
        app.cameras_tab._show_state(CameraState("darkroom", "picamera2", "IMX708", "not supported", fps=47.3,
                                                exposure_us=30_000_000.0, gain=16.0, temperature_c=-12.5,
                                                dropped=123456))
        await pilot.pause()
        line = row_line(table, "darkroom")
        for text in ("picamera2", "not supported", "47", "30000", "16", "-12.5", "123k"):
            assert f" {text} " in f" {line} ", (cols, text, line)
        header = rendered(table)[0]
        for text in ("camera", "driver", "state", "fps", "exp ms", "gain", "°C", "drop"):
            assert text in header


def store_failure(settings) -> None:
    HistoryStore.from_settings(settings.storage, settings.data_dir).add(MonitoringRecord(
        deployment="site", device_id="ptz-1", timestamp="2026-11-21T10:00:00Z", success=False,
        failure_logs=REASON))


@run_async
async def test_a_failure_reads_in_full_in_a_dialog(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(FLEET_CONFIG)
    settings = load_settings(path, tmp_path / "data")
    store_failure(settings)
    app = make_app(settings, live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.history.row_count == 1, what="the history row")
        line = row_line(tab.history, "11-21 10:00")
        assert "failed" in line and "no reference" in line and line.rstrip().endswith("…")
        await pilot.press("enter")              # on the fleet row: its newest result
        await until(pilot, lambda: isinstance(app.screen, RecordDetail), what="the detail dialog")
        text = app.screen.text.plain
        assert REASON.split("; fix: ")[0] in text
        assert "fix      camdeck monitor collect-references --device site/ptz-1" in text
        await pilot.press("escape")
        await pilot.press("tab")                # the history table: enter shows that row
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RecordDetail), what="the row's detail")
        assert app.screen.record.failure_logs == REASON
        await pilot.press("escape")


@pytest.mark.parametrize("cols", WIDTHS)
@run_async
async def test_fleet_and_history_keep_units_and_states_at_every_width(tmp_path, cols):
    from tests.console.test_tui_monitoring import seed_history

    path = tmp_path / "config.toml"
    path.write_text(FLEET_CONFIG)
    settings = load_settings(path, tmp_path / "data")
    seed_history(settings)
    store_failure(settings)
    app = make_app(settings, live=False, clock=ManualClock())
    async with app.run_test(size=(cols, 30)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.history.row_count == 5, what="the history rows")
        fleet = row_line(tab.fleet, "site/ptz-1")
        for text in ("11-23 10:00", "passive", "ALERT", "0.700"):      # the newest result
            assert f" {text} " in f" {fleet} ", (cols, text, fleet)
        history = rendered(tab.history)
        header = history[0]
        for text in ("time", "mode", "pitch°", "yaw°", "roll°", "result", "detail"):
            assert text in header, (cols, text, header)
        alert = next(line for line in history if "11-23 10:00" in line)
        for text in ("passive", "-0.700", "+0.000", "+0.200", "ALERT"):
            assert f" {text} " in f" {alert} ", (cols, text, alert)
        failed = next(line for line in history if "11-21 10:00" in line)
        assert " failed " in failed
        if cols >= 200:                         # the reason whole; its fix reads in the dialog
            assert REASON.split("; fix: ")[0] in failed


@run_async
async def test_a_failed_run_raises_a_toast_with_the_whole_reason(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(FLEET_CONFIG)
    app = make_app(load_settings(path, tmp_path / "data"), live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.fleet.row_count == 2, what="the fleet table")
        await pilot.press("r")                  # ptz-1 has no reference scan: the run fails
        await until(pilot, lambda: tab.last_report is not None, what="the run's end")
        [device] = tab.last_report["devices"]
        assert not device["success"]
        toasts = [n for n in app._notifications if n.title == "site/ptz-1: run failed"]
        assert toasts and " ".join(device["error"].split()) in " ".join(toasts[0].message.split())


@run_async
async def test_slash_filters_the_camera_table_and_j_k_move(tmp_path):
    app = make_app(sim_settings(tmp_path / "data"), live=False, frame_limit=1)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.cameras_tab.table
        await until(pilot, lambda: table.row_count == 7, what="the camera rows")
        await pilot.press("j", "j")
        await pilot.pause()
        assert table.cursor_row == 2
        await pilot.press("k")
        await pilot.pause()
        assert table.cursor_row == 1
        await pilot.press("slash", "p", "t", "z")   # printable keys go to the filter, not to the tab
        await pilot.pause()
        assert table.shown_keys() == ["ptz-1", "ptz-2"] and not app.cameras_tab.paused
        await pilot.press("enter")              # back to the table, the filter kept
        await pilot.pause()
        assert app.focused is table and table.shown_keys() == ["ptz-1", "ptz-2"]
        await pilot.press("j")
        await pilot.pause()
        assert table.selected_camera() == "ptz-2"
        await pilot.press("slash", "escape")    # esc clears it
        await pilot.pause()
        assert len(table.shown_keys()) == 7 and app.focused is table


@run_async
async def test_slash_filters_the_fleet_table(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(FLEET_CONFIG)
    app = make_app(load_settings(path, tmp_path / "data"), live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.fleet.row_count == 2, what="the fleet table")
        await pilot.press("slash", "2", "enter")   # "2" filters: it does not switch to tab 2
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "monitoring"
        assert tab.fleet.shown_keys() == ["site/ptz-2"] and tab.fleet.selected == "site/ptz-2"
        tab.fleet.show_latest({"site/ptz-1": None, "site/ptz-2": None})   # a reload while filtered
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert tab.fleet.shown_keys() == ["site/ptz-1", "site/ptz-2"]


@pytest.mark.parametrize("name,expect", [
    ("take_001", "take_002"), ("take_009", "take_010"), ("take_999", "take_1000"), ("dawn", "dawn_002"),
    ("run7", "run8"),
])
def test_the_next_take_name_counts_up_keeping_the_padding(name, expect):
    from camdeck.console.tui.tabs.take_name import next_take_name

    assert next_take_name(name) == expect


def test_the_next_take_name_skips_names_already_on_disk_and_renews_a_stamp():
    from datetime import datetime

    from camdeck.console.tui.tabs.take_name import next_take_name

    on_disk = {"take_002", "take_003"}
    assert next_take_name("take_001", taken=on_disk.__contains__) == "take_004"
    assert next_take_name("session-20261203-101500", now=datetime(2026, 12, 3, 10, 20, 0)) == "session-20261203-102000"


@run_async
async def test_after_a_take_the_session_name_advances(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RECORDER_RIG)
    out = tmp_path / "rec"
    (out).mkdir()
    (out / "take_002_data.txt").write_text("an older take 2")   # taken: the form skips it
    app = make_app(load_settings(path, tmp_path / "data"), preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        tab = app.query_one(RecordingTab)
        tab.name_input.value, tab.folder_input.value, tab.duration_input.value = "take_001", str(out), "0.3s"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the take")
        assert tab.last_result.outcome == "complete"
        assert tab.name_input.value == "take_003"
