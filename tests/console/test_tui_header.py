"""The status header (issue 12, item 3): on every tab, the rig, the running jobs (REC with its
elapsed time and session), free disk and the time until full, the clock, the link meter and the
Pi's health read from a fake sysfs tree."""
from __future__ import annotations

import pytest

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.widgets.status_header import (
    LINK_COLUMNS, DiskRate, Segment, StatusHeader, header_text, rig_label,
)
from camdeck.drivers.pi_health import THERMAL_FILE, THROTTLED_FILE
from tests.console import RECORDER_RIG, run_async, until


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RECORDER_RIG)
    return load_settings(path, tmp_path / "data")


def fake_pi(root, throttled: str, millideg: str):
    for rel, text in ((THROTTLED_FILE, throttled), (THERMAL_FILE, millideg)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    return root


def test_header_drops_the_least_important_first_and_keeps_the_link_column():
    segments = [Segment("pi4: recorder", priority=3), Segment("REC 1:23 take_001", priority=9),
                Segment("disk 120.5 GB, full in 3h20m", priority=7), Segment("Pi ok 52°C", priority=2),
                Segment("14:05", priority=4)]
    line = header_text(segments, 78, "link 3.1 kB/s ascii 8fps").plain
    assert len(line) == 78 and line.endswith("link 3.1 kB/s ascii 8fps")
    assert "REC 1:23 take_001" in line and "disk 120.5 GB, full in 3h20m" in line
    assert "Pi ok" not in line and "pi4" not in line                      # dropped first
    wide = header_text(segments, 198, "link").plain
    assert all(s.text in wide for s in segments)


def test_disk_rate_from_free_space_and_time_until_full():
    rate = DiskRate()
    rate.add(0.0, 10_000_000_000, "/data")
    for t in range(1, 40):
        rate.add(float(t), 10_000_000_000 - t * 5_000_000, "/data")      # 5 MB/s written
    assert rate.rate_bps == pytest.approx(5e6, rel=0.01)
    assert rate.seconds_to_full(1_000_000_000) == pytest.approx(200, rel=0.01)
    rate.add(40.0, 9_000_000_000, "/other")                             # another disk: start over
    assert rate.seconds_to_full(1_000_000_000) is None


def test_rig_label_names_the_host_and_the_rig(settings):
    assert rig_label(settings, "pi4.local") == "pi4: recorder"


@run_async
async def test_header_shows_the_pi_health_from_a_fake_sysfs_root(settings, tmp_path):
    root = fake_pi(tmp_path / "root", "50005", "81234")
    app = make_app(settings, live=False, host_root=root)
    async with app.run_test(size=(80, 24)) as pilot:
        header = app.query_one(StatusHeader)
        await until(pilot, lambda: "Pi " in header.plain, what="the Pi's health")
        assert "Pi UNDERVOLT THROTTLED" in header.plain and "81°C" in header.plain
        assert "disk " in header.plain
        (root / THROTTLED_FILE).write_text("50000\n")                    # fixed now, happened earlier
        await until(pilot, lambda: "UNDERVOLT" not in header.plain, what="the new reading")
        await pilot.press("5")
        assert app.query_one(StatusHeader) is header and header.display


@run_async
async def test_a_recording_shows_on_every_tab_with_its_elapsed_time_and_session(settings, tmp_path):
    app = make_app(settings, preview_fps=15, host_root=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        meter = app.link_monitor.summary()          # the real LinkMonitor's meter (console/tui/link.py)
        assert meter
        await pilot.press("2")
        tab = app.query_one(RecordingTab)
        tab.name_input.value, tab.folder_input.value = "take_001", str(tmp_path / "rec")
        tab.mode_select.value = "manual"
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording", what="the recording")
        header = app.query_one(StatusHeader)
        for key in ("1", "3", "5"):
            await pilot.press(key)
            await until(pilot, lambda: "REC 0:0" in header.plain and "take_001" in header.plain,
                        what="REC in the header")
        assert header.plain.rstrip().endswith(app.link_monitor.summary())
        assert len(header.plain) <= 80 - 2
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.state == "idle", what="the stop")
        await until(pilot, lambda: "REC" not in header.plain, what="REC gone from the header")
        assert header.plain.endswith(app.link_monitor.summary().rjust(LINK_COLUMNS))
