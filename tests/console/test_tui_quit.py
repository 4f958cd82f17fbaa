"""Quitting while jobs run, on the real simulated rig: q asks first (naming the job), y stops the
jobs cleanly and exits, n keeps them running; a recording stopped this way (or by the unmount
safety net) finishes its files and its data file says the operator stopped it; a fleet run stops
at its next step and the devices it did not reach are skipped, not failed. The camera pool
waits (bounded) for lent cameras before it closes them."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.camera_pool import CameraPool
from camdeck.console.tui.screens.confirm import ConfirmQuit
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.monitoring.fleet import run_fleet
from camdeck.monitoring.history import HistoryStore
from tests.console import OpenedCameras, run_async, sim_settings, until
from tests.console.test_tui_monitoring import CONFIG as FLEET_CONFIG
from tests.console.test_tui_recording import RIG, decode_count, open_tab

EXIT_WITHIN_S = 60.0      # generous: "the app exits", not a timing assertion


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RIG)
    return load_settings(path, tmp_path / "data")


async def exited(app, timeout_s: float = EXIT_WITHIN_S) -> None:
    """Wait (without the pilot: the app is going away) until the app has decided to exit."""
    deadline = time.monotonic() + timeout_s
    while app.return_code is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"the app did not exit within {timeout_s:.0f} s")
        await asyncio.sleep(0.02)


def result_line(data_file) -> str:
    return next(line for line in data_file.read_text().splitlines() if line.startswith("Result:"))


async def recording(pilot, out, session: str, countdown: str = "0s"):
    tab = await open_tab(pilot, out, session, mode="manual", countdown=countdown)
    await pilot.press("ctrl+r")
    if countdown == "0s":
        await until(pilot, lambda: tab.state == "recording" and tab.table.row_text("darkroom")[1] not in ("0", ""),
                    what="frames")
    else:
        await until(pilot, lambda: tab.state == "countdown", what="the countdown")
    return tab


@run_async
async def test_quit_during_a_manual_recording_asks_then_finishes_the_files(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await recording(pilot, out, "quit1")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit dialog")
        assert any("recording" in job and "quit1" in job for job in app.screen.jobs)
        await pilot.press("y")
        await exited(app)
    assert app.return_code == 0
    assert "stopped by the operator" in result_line(out / "quit1_data.txt")
    assert "camera fault" not in (out / "quit1_data.txt").read_text()
    for index in (1, 2):
        assert decode_count(out / f"quit1_camera_{index}.h264") > 0


@run_async
async def test_quit_answered_no_keeps_recording(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await recording(pilot, out, "stay")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit dialog")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmQuit), what="the dialog to close")
        assert app.return_code is None and tab.state == "recording"
        frames = int(tab.table.row_text("darkroom")[1])
        await until(pilot, lambda: int(tab.table.row_text("darkroom")[1]) > frames, what="more frames")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: tab.last_result is not None and tab.state == "idle", what="the stop")
        assert tab.last_result.outcome == "stopped"
        await pilot.press("q")                       # nothing runs now: no question
        await exited(app)
    assert app.return_code == 0


@run_async
async def test_quit_during_the_countdown_cancels_it(settings, tmp_path):
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await recording(pilot, out, "cd", countdown="30s")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit dialog")
        assert any("countdown" in job for job in app.screen.jobs)
        await pilot.press("y")
        await exited(app)
    assert not list(out.glob("cd_*"))               # cancelled during the countdown: nothing written


@run_async
async def test_exit_without_asking_still_stops_the_recording_cleanly(settings, tmp_path):
    """The safety net: the tab's on_unmount stops the session and the pool waits for its cameras."""
    out = tmp_path / "rec"
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        await recording(pilot, out, "net")
        app.exit()
    assert "stopped by the operator" in result_line(out / "net_data.txt")
    for index in (1, 2):
        assert decode_count(out / f"net_camera_{index}.h264") > 0


@run_async
async def test_quit_during_a_fleet_run_stops_it_and_skips_the_rest(tmp_path):
    from camdeck.drivers.sim.clock import ManualClock
    from camdeck.monitoring.scans import collect_references

    path = tmp_path / "config.toml"
    # Slower moves: ptz-1's active run takes seconds, so q and y surely land inside it.
    path.write_text(FLEET_CONFIG.replace("speed_deg_s = 360.0", "speed_deg_s = 60.0"))
    settings = load_settings(path, tmp_path / "data")
    # Only ptz-1 has a reference: had the run gone on to ptz-2, it would have failed there.
    collect_references(settings, "site/ptz-1", settle_s=0.1)
    app = make_app(settings, live=False, clock=ManualClock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        tab = app.query_one(MonitoringTab)
        await until(pilot, lambda: tab.fleet.row_count == 2, what="fleet table")
        await pilot.press("a", "y")                 # active: four stops, so the run is still in ptz-1
        await pilot.press("f", "y")                 # each asks first
        await until(pilot, lambda: tab.running, timeout_s=5, what="run started")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit dialog")
        assert any("fleet run" in job for job in app.screen.jobs)
        await pilot.press("y")
        await exited(app)
    report = tab.last_report
    store = HistoryStore.from_settings(settings.storage, settings.data_dir)
    failed = [r for r in store.query() if not r.success] if store.path.exists() else []
    assert failed == []
    if report is not None:                          # the worker's report arrived before the app closed
        assert report["failed"] == 0 and "site/ptz-2" in report.get("skipped", [])


def test_a_stopped_fleet_run_records_nothing(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(FLEET_CONFIG)
    settings = load_settings(path, tmp_path / "data")
    stop = threading.Event()
    stop.set()
    events = []
    report = run_fleet(settings, stop=stop, progress=events.append)
    assert report.stopped and report.devices == [] and report.failed == 0
    assert report.skipped == ["site/ptz-1", "site/ptz-2"]
    assert report.to_dict()["skipped"] == ["site/ptz-1", "site/ptz-2"]
    assert events == []
    store = HistoryStore.from_settings(settings.storage, settings.data_dir)
    assert not store.path.exists() or store.query() == []


def test_stop_ends_a_settle_wait_already_under_way(tmp_path):
    """A passive run asking for a camera-hour of stillness would wait timeout_s (3000 s) in
    ptz-1; it ends as soon as stop is set: the run is stopped, nothing failed or recorded."""
    from camdeck.monitoring.scans import collect_references

    path = tmp_path / "config.toml"
    path.write_text(FLEET_CONFIG)
    settings = load_settings(path, tmp_path / "data")
    collect_references(settings, "site/ptz-1", settle_s=0.1)
    stop, events, reports = threading.Event(), [], []
    thread = threading.Thread(target=lambda: reports.append(run_fleet(
        settings, stop=stop, progress=events.append, stabilize_time_s=3600.0, timeout_s=3000.0)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not any(e.stage == "reference" for e in events):      # ptz-1's query is starting
        assert time.monotonic() < deadline and thread.is_alive(), [e.stage for e in events]
        time.sleep(0.02)
    time.sleep(0.5)                                # inside the settle wait now
    stop.set()
    thread.join(30)
    assert not thread.is_alive(), "the settle wait did not end when stop was set"
    report = reports[0]
    assert report.stopped and report.devices == [] and report.skipped == ["site/ptz-1", "site/ptz-2"]
    assert [e.stage for e in events][-1] == "stopped"
    store = HistoryStore.from_settings(settings.storage, settings.data_dir)
    assert not store.path.exists() or store.query() == []


def test_close_all_waits_for_a_lent_camera_then_gives_up_after_the_bound(tmp_path):
    settings = sim_settings(tmp_path / "data")
    opener = OpenedCameras()
    pool = CameraPool(settings.cameras, settings.driver_context(), opener)
    lent, back = threading.Event(), threading.Event()

    def borrower(hold_s: float) -> None:
        with pool.borrow(["lightroom"], by="recording") as (cam,):
            cam.start()
            lent.set()
            time.sleep(hold_s)
            cam.capture(2.0)                     # still open: close_all waited
        back.set()

    thread = threading.Thread(target=borrower, args=(0.3,))
    thread.start()
    assert lent.wait(10)
    pool.close_all(lent_timeout_s=10.0)
    assert back.is_set()                         # closed only after the loan ended
    thread.join()

    pool2 = CameraPool(settings.cameras, settings.driver_context(), OpenedCameras())
    hold = threading.Event()

    def stuck() -> None:
        with pool2.borrow(["darkroom"], by="recording"):
            lent2.set()
            hold.wait(10)

    lent2 = threading.Event()
    thread = threading.Thread(target=stuck)
    thread.start()
    assert lent2.wait(10)
    start = time.monotonic()
    pool2.close_all(lent_timeout_s=0.2)          # the borrower never returns: closed after the bound
    assert time.monotonic() - start < 5
    hold.set()
    thread.join()


@run_async
async def test_quit_during_the_live_reconstruction_stops_it(tmp_path):
    from tests.console.test_tui_reconstruction import RIG as STEREO_RIG, show_tab

    path = tmp_path / "config.toml"
    path.write_text(STEREO_RIG)
    settings = load_settings(path, tmp_path / "data")
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(80, 24)) as pilot:
        tab = await show_tab(pilot)
        await pilot.press("r")
        await until(pilot, lambda: tab.state == "running", what="the job running")
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, ConfirmQuit), what="the quit dialog")
        assert any("reconstruction" in job for job in app.screen.jobs)
        await pilot.press("y")
        await exited(app)
    assert app.camera_pool.holder("asi-left") is None     # the pair came back before the pool closed
