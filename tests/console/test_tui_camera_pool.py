"""The TUI's camera pool on the simulated recorder pair: each camera opened once, lent to one
borrower at a time, given back usable; and a recording from the Recording tab that borrows
the pair while the Cameras tab previews, which resumes after."""
from __future__ import annotations

import threading
import time

import pytest

from camdeck.console.config import load_settings
from camdeck.console.tui.app import make_app
from camdeck.console.tui.camera_pool import CameraInUse, CameraPool
from camdeck.console.tui.tabs.calibration import CalibrationTab
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.drivers.errors import CameraDisconnected, DriverError
from camdeck.drivers.registry import open_camera
from tests.console import run_async, until

RIG = """
[sim]
seed = 0

[cameras.lightroom]
driver = "sim"
model = "IMX219"
camera_num = 0
resolution = [320, 240]
controls = { ExposureTime = 20000, AnalogueGain = 2.0 }

[cameras.darkroom]
driver = "sim"
model = "IMX708"
camera_num = 1
resolution = [320, 240]
controls = { ExposureTime = 20000, AnalogueGain = 2.0 }

[rigs.recorder]
type = "recorder"
cameras = ["lightroom", "darkroom"]

[record]
max_drop_pct = 100.0   # a loaded CI machine drops frames; the drop rule has its own tests
"""


class CountingOpener:
    """``drivers.registry.open_camera``, counting the opens: ``opened`` lists names in order."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.cameras: list = []

    def __call__(self, spec, ctx):
        cam = open_camera(spec, ctx)
        self.opened.append(spec.name)
        self.cameras.append(cam)
        return cam


@pytest.fixture
def settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(RIG)
    return load_settings(path, tmp_path / "data")


@pytest.fixture
def opener():
    return CountingOpener()


@pytest.fixture
def pool(settings, opener):
    pool = CameraPool(settings.cameras, settings.driver_context(), opener)
    yield pool
    pool.close_all()


def test_each_camera_is_opened_once_across_the_preview_and_borrowers(pool, opener):
    with pool.use("lightroom") as cam:          # the Cameras tab's preview
        cam.start()
        cam.capture(2.0)
    with pool.borrow(["lightroom", "darkroom"], by="recording") as (left, right):
        assert not left.started                  # handed out stopped, as a fresh open would be
        for cam in (left, right):
            cam.start()
            assert cam.capture(2.0).camera == cam.name
    with pool.borrow(["darkroom"], by="calibration") as (cam,):
        assert cam.capture(2.0).array.shape[:2] == (240, 320)
    with pool.use("lightroom") as cam:
        assert cam.capture(2.0).camera == "lightroom"
    assert opener.opened == ["lightroom", "darkroom"]


def test_a_second_borrower_is_refused_with_the_holders_name(pool):
    with pool.borrow(["lightroom"], by="recording"):
        with pytest.raises(CameraInUse, match="'lightroom' is in use by recording"):
            with pool.borrow(["darkroom", "lightroom"], by="reconstruction"):
                pass
        assert pool.holder("darkroom") is None   # all or none: darkroom was not kept
        with pytest.raises(CameraInUse, match="in use by recording"):
            with pool.use("lightroom"):
                pass
        with pool.borrow(["darkroom"], by="calibration"):
            assert pool.holder("darkroom") == "calibration"
    assert pool.holder("lightroom") is None
    with pool.borrow(["lightroom", "darkroom"], by="reconstruction") as cams:
        assert [c.name for c in cams] == ["lightroom", "darkroom"]


def test_close_by_a_borrower_keeps_the_camera_open_and_its_controls_come_back(pool, opener):
    with pool.borrow(["lightroom"], by="recording") as (cam,):
        with cam:                                # a job closing the cameras it "opened"
            cam.set_controls(ExposureTime=5000)  # a preset for the session
            cam.start()
            assert cam.capture(2.0).meta["exposure_us"] == pytest.approx(5000, rel=0.05)
        assert not cam.started
    with pytest.raises(DriverError, match="given back"):
        cam.capture(2.0)                         # the loan is over
    with pool.borrow(["lightroom"], by="calibration") as (again,):
        assert again.controls()["ExposureTime"].value == 20000
        again.start()
        assert again.capture(2.0).camera == "lightroom"
    assert opener.opened == ["lightroom"]


def test_a_disconnected_camera_is_closed_and_reopened_on_next_use(pool, opener):
    with pool.borrow(["lightroom"], by="recording") as (cam,):
        cam.start()
        cam.capture(2.0)
        cam.inject_fault("disconnect")           # unplugged mid-session
        with pytest.raises(CameraDisconnected):
            cam.capture(2.0)
    with pool.borrow(["lightroom"], by="recording") as (cam,):
        cam.start()
        assert cam.capture(2.0).camera == "lightroom"
    assert opener.opened == ["lightroom", "lightroom"]
    assert opener.cameras[1] is not opener.cameras[0]

    opener.cameras[1].inject_fault("disconnect")   # and under the preview
    with pytest.raises(CameraDisconnected):
        with pool.use("lightroom") as cam:
            cam.capture(2.0)
    with pool.use("lightroom") as cam:
        cam.start()
        assert cam.capture(2.0).camera == "lightroom"
    assert opener.opened == ["lightroom"] * 3


def test_a_borrow_from_another_thread_waits_for_the_preview_capture_and_stops_it(pool):
    stopped = threading.Event()
    outcome: list[BaseException] = []

    def preview() -> None:                       # the Cameras tab's stream worker
        try:
            while True:
                with pool.use("lightroom") as cam:
                    cam.start()
                    cam.capture(2.0)
                stopped.wait(0.001)
        except BaseException as err:
            outcome.append(err)

    thread = threading.Thread(target=preview)
    thread.start()
    time.sleep(0.2)
    with pool.borrow(["lightroom"], by="recording") as (cam,):
        thread.join(5.0)
        assert not thread.is_alive() and isinstance(outcome[0], CameraInUse)
        assert not cam.started                   # the preview's stream was stopped for the borrower
        cam.start()
        cam.capture(2.0)


# ---------------------------------------------------------------- the app


@run_async
async def test_recording_borrows_the_previewed_cameras_and_the_preview_resumes(settings, opener, tmp_path,
                                                                              monkeypatch):
    # Every open in the process is counted: the app's default opener and any job's (RecordingSession's).
    monkeypatch.setattr("camdeck.drivers.registry.open_camera", opener)
    app = make_app(settings, preview_fps=15)
    async with app.run_test(size=(100, 30)) as pilot:
        cameras = app.cameras_tab
        await until(pilot, lambda: cameras.current == "lightroom" and cameras.preview.frames_shown >= 2
                    and "darkroom" in opener.opened, what="the preview and the probe")

        await pilot.press("2")
        await pilot.pause()
        rec = app.query_one(RecordingTab)
        rec.folder_input.value = str(tmp_path / "rec")
        rec.name_input.value = "pooled"
        rec.mode_select.value = "manual"
        rec.pause_check.value = False            # keep the preview on: only the pool keeps it off the pair
        await pilot.press("ctrl+r")
        await until(pilot, lambda: rec.state == "recording" and rec.table.row_text("lightroom")[1] not in ("0", ""),
                    what="frames recorded")
        assert app.camera_pool.holder("lightroom") == "recording"

        await pilot.press("1")                   # the operator looks at the preview meanwhile
        await until(pilot, lambda: "in use by recording" in cameras.preview.message, what="the in-use message")
        assert cameras.table.state_of("lightroom").state == "in use"

        await pilot.press("3")                   # and tries to calibrate lightroom: refused, holder named
        await pilot.pause()
        calib = app.query_one(CalibrationTab)
        assert calib.target.cameras == ("lightroom",)
        await pilot.press("c")
        await until(pilot, lambda: "in use by recording" in calib.last_error, what="the calibration refusal")

        await pilot.press("2")
        await pilot.press("ctrl+s")
        await until(pilot, lambda: rec.last_result is not None and rec.state == "idle", what="the stop")
        result = rec.last_result
        assert result.outcome == "stopped" and all(cam.frames > 0 for cam in result.cameras)
        assert app.camera_pool.holder("lightroom") is None

        await pilot.press("1")
        shown = cameras.preview.frames_shown
        await until(pilot, lambda: cameras.preview.frames_shown >= shown + 3
                    and cameras.table.state_of("lightroom").state == "streaming", what="the preview resumed")
        assert opener.opened.count("lightroom") == 1 and opener.opened.count("darkroom") == 1
    assert not any(cam.started for cam in opener.cameras)   # the app stopped and closed them at exit
    with pytest.raises(DriverError, match="closing"):
        with app.camera_pool.use("lightroom"):
            pass
