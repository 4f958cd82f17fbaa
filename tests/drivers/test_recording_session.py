"""Recording sessions on the simulated rig, end to end: the files are decoded with PyAV."""
from __future__ import annotations

import threading
from pathlib import Path


from camdeck.drivers.base import CameraSpec
from camdeck.drivers.recording.presets import PresetStore
from camdeck.drivers.recording.session import RecordingRequest, RecordingSession
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.recording.data_file import parse_data_file, read_timecodes


def pi_spec(name: str, model: str, label: str, **options) -> CameraSpec:
    """A small simulated Pi camera (320x240): cheap enough for two cores."""
    return CameraSpec(name=name, driver="sim", model=model, label=label, resolution=(320, 240),
                      controls={"ExposureTime": 20000, "AnalogueGain": 2.0}, options={"camera_num": 0, **options})


LEFT = pi_spec("lightroom", "IMX219", "Camera Module 2.1 NoIR")
RIGHT = pi_spec("darkroom", "IMX708", "Camera Module 3 NoIR Wide")


def decode_count(path: Path) -> int:
    import av

    with av.open(str(path), format="h264") as container:
        return sum(1 for _ in container.decode(video=0))


def counting_opener(last_seq: dict):
    """Opens cameras as the registry does, and remembers the seq of the last frame each one
    gave: the sensor made ``seq + 1`` frames up to then (seq counts from 0 at the start)."""
    from camdeck.drivers.registry import open_camera

    def opener(spec, ctx):
        cam = open_camera(spec, ctx)
        capture = cam.capture

        def counted(timeout_s=None):
            frame = capture(timeout_s)
            last_seq[spec.name] = frame.seq
            return frame

        cam.capture = counted
        return cam

    return opener


def record(tmp_path, cameras=(LEFT, RIGHT), **kwargs):
    """A session of ``cameras``; drops are not what these tests are about (this machine is shared
    and loaded), so no drop limit unless one is given."""
    kwargs.setdefault("max_drop_pct", None)
    events = []
    on_event = kwargs.pop("progress", None)
    opener = kwargs.pop("open_camera", None)
    request = RecordingRequest(session=kwargs.pop("session", "s1"), folder=tmp_path, cameras=list(cameras), **kwargs)
    session = RecordingSession(request, DriverContext(data_dir=tmp_path / "data"),
                               progress=on_event or events.append, open_camera=opener)
    return session, events


def test_two_cameras_timer_session(tmp_path):
    """Only structural facts: a loaded machine may drop frames or start one thread late."""
    last_seq: dict[str, int] = {}
    session, events = record(tmp_path, duration_s=1.0, open_camera=counting_opener(last_seq))
    result = session.run()
    assert result.outcome == "complete" and result.ok and result.elapsed_s >= 1.0
    assert {p.name for p in tmp_path.iterdir() if p.is_file()} == {
        "s1_data.txt", "s1_events.txt", "s1_camera_1.h264", "s1_camera_2.h264", "s1_camera_1.pts.txt",
        "s1_camera_2.pts.txt"}
    times = {}
    for cam in result.cameras:
        video, pts = tmp_path / f"s1_camera_{cam.index}.h264", tmp_path / f"s1_camera_{cam.index}.pts.txt"
        t = read_timecodes(pts)
        times[cam.index] = t
        assert decode_count(video) == len(t) == cam.frames >= 1        # one timestamp per decoded frame
        gaps = [b - a for a, b in zip(t, t[1:])]
        assert all(g > 0 for g in gaps)
        period_ms = session.tracks[cam.index - 1].camera.frame_period_s * 1000   # the sensor's own period
        # every gap is a whole number of sensor frame periods (drops show as multiples) ...
        assert all(round(g / period_ms) >= 1 and abs(g / period_ms - round(g / period_ms)) < 0.01 for g in gaps)
        # ... and each missing frame is counted as dropped
        assert cam.dropped >= sum(round(g / period_ms) - 1 for g in gaps)
        # every frame the sensor made from the first recorded one to the last one read is in the
        # file or counted as dropped (the frames before it were the camera warming up)
        first_seq = session.tracks[cam.index - 1].first_seq
        assert cam.frames + cam.dropped == last_seq[cam.name] - first_seq + 1
    # both streams are on one clock and overlap in time
    assert times[1][0] <= times[2][-1] and times[2][0] <= times[1][-1]
    kinds = [e.kind for e in events]
    assert kinds[0] == "opened" and kinds[1] == "started" and kinds[-1] == "finished" and "progress" in kinds

    data = parse_data_file((tmp_path / "s1_data.txt").read_text())
    assert list(data)[:4] == ["RECORDING SESSION DATA", "SESSION INFORMATION", "TIMING INFORMATION",
                              "RECORDING PARAMETERS"]
    cam1 = data["CAMERA 1 (Camera Module 2.1 NoIR)"]
    cam2 = data["CAMERA 2 (Camera Module 3 NoIR Wide)"]
    assert cam1["Video File"] == "s1_camera_1.h264" and cam2["Video File"] == "s1_camera_2.h264"
    details = data["CAMDECK DETAILS"]
    assert int(details["Camera 1 frames"]) == result.cameras[0].frames
    assert cam1["config.ExposureTime"] == "20000" and "config.LensPosition" in cam2
    assert details["Result"].startswith("complete")
    assert "median |skew|" in details["Camera 2 skew vs camera 1"]


def test_a_failing_camera_does_not_stop_the_other(tmp_path):
    flaky = pi_spec("flaky", "IMX708", "loose cable", fault_disconnect_after=12)
    session, events = record(tmp_path, cameras=(LEFT, flaky), duration_s=1.0)
    result = session.run()
    assert result.outcome == "camera_fault" and not result.ok
    good, bad = result.cameras
    assert bad.status == "fault" and "CameraDisconnected" in bad.fault
    # playable up to the fault: the 12 frames it gave, but those from before the take (warming up)
    flaky_track = session.tracks[1]
    assert decode_count(tmp_path / "s1_camera_2.h264") == bad.frames == \
        12 - flaky_track.warmup_frames - flaky_track.lead_frames - flaky_track.queue_dropped
    assert good.status == "done" and good.frames >= 1 and result.elapsed_s >= 1.0   # went on to the timer
    assert decode_count(tmp_path / "s1_camera_1.h264") == good.frames
    assert any(e.kind == "camera_fault" for e in events)
    text = (tmp_path / "s1_data.txt").read_text()
    details = parse_data_file(text)["CAMDECK DETAILS"]
    assert "CAMERA 2 (loose cable)" in parse_data_file(text)
    assert details["Camera 2 status"].startswith("fault") and "12 frames" in details["Camera 2 fault"]
    assert "camera fault" in details["Result"]


def test_manual_session_stops_cleanly_on_request(tmp_path):
    seen = threading.Event()
    holder = {}

    def progress(event):
        if event.kind == "progress" and all(c.frames >= 5 for c in event.cameras):
            seen.set()
            holder["session"].request_stop()

    request = RecordingRequest(session="m", folder=tmp_path, cameras=[LEFT, RIGHT], max_drop_pct=None)   # manual
    holder["session"] = session = RecordingSession(request, DriverContext(), progress=progress)
    result = session.run()
    assert seen.is_set() and result.outcome == "stopped" and result.ok
    for cam in result.cameras:
        assert decode_count(tmp_path / f"m_camera_{cam.index}.h264") == cam.frames >= 5
    assert "stopped by the operator" in (tmp_path / "m_data.txt").read_text()


def test_cancelled_countdown_writes_nothing(tmp_path):
    holder = {}

    def progress(event):
        if event.kind == "countdown":
            holder.setdefault("shown", []).append(event.countdown_s)
            holder["session"].cancel()

    request = RecordingRequest(session="c", folder=tmp_path / "out", cameras=[LEFT, RIGHT], duration_s=5.0,
                               countdown_s=30.0)
    holder["session"] = session = RecordingSession(request, DriverContext(), progress=progress)
    result = session.run()
    assert result.outcome == "cancelled" and holder["shown"] == [30.0]
    assert list((tmp_path / "out").iterdir()) == []


def test_low_disk_space_stops_cleanly_with_a_warning(tmp_path):
    calls = {"n": 0}

    def disk_free(folder):
        calls["n"] += 1
        return 10**12 if calls["n"] <= 2 else 10**6          # plenty at the start, then nearly full

    request = RecordingRequest(session="d", folder=tmp_path, cameras=[LEFT, RIGHT], duration_s=60.0, max_drop_pct=None)
    events = []
    result = RecordingSession(request, DriverContext(), progress=events.append, disk_free=disk_free).run()
    assert result.outcome == "disk_low" and not result.ok and result.elapsed_s < 60
    assert any(e.kind == "disk_low" for e in events) and "disk space low" in result.warnings[0]
    for cam in result.cameras:
        assert decode_count(tmp_path / f"d_camera_{cam.index}.h264") == cam.frames
    assert "disk space low" in (tmp_path / "d_data.txt").read_text()


def test_preset_is_applied_to_every_camera(tmp_path):
    store = PresetStore(tmp_path / "data")
    store.save("dim", default={"ExposureTime": 8000, "AnalogueGain": 1.5, "LensPosition": 2.0})
    session, _ = record(tmp_path, duration_s=0.3, preset=store.load("dim"))
    result = session.run()
    assert result.ok
    data = parse_data_file((tmp_path / "s1_data.txt").read_text())
    assert data["CAMDECK DETAILS"]["Preset at start"] == "dim"
    assert data["CAMERA 1 (Camera Module 2.1 NoIR)"]["config.ExposureTime"] == "8000"
    assert data["CAMERA 2 (Camera Module 3 NoIR Wide)"]["config.LensPosition"] == "2"
    assert "lightroom has no LensPosition" in (tmp_path / "s1_data.txt").read_text()   # IMX219: fixed focus


def test_overwrite_replaces_the_old_session(tmp_path):
    (tmp_path / "s1_camera_3.h264").write_bytes(b"stale third camera")
    (tmp_path / "s1_data.txt").write_text("old")
    session, _ = record(tmp_path, duration_s=0.3, overwrite=True)
    assert session.run().ok
    assert not (tmp_path / "s1_camera_3.h264").exists()
    assert "SESSION INFORMATION" in (tmp_path / "s1_data.txt").read_text()


def test_free_space_that_cannot_be_read_ends_the_session_cleanly(tmp_path):
    """The USB stick is pulled: the free-space check raises. The cameras are stopped and joined,
    the files finished, and the data file says what happened (the error is the result, not raised)."""
    calls = {"n": 0}

    def disk_free(folder):
        calls["n"] += 1
        if calls["n"] <= 2:                       # the pre-flight check and the first check after the start
            return 10**12
        raise OSError(5, "Input/output error", str(folder))

    events = []
    request = RecordingRequest(session="u", folder=tmp_path, cameras=[LEFT, RIGHT], duration_s=60.0, max_drop_pct=None)
    session = RecordingSession(request, DriverContext(), progress=events.append, disk_free=disk_free)
    result = session.run()
    assert result.outcome == "error" and not result.ok and result.elapsed_s < 60
    assert "Input/output error" in result.warnings[0]
    assert not any(th.is_alive() for t in session.tracks for th in t._threads)   # nothing left running
    assert [e.kind for e in events][-2:] == ["stopping", "finished"]
    for cam in result.cameras:
        assert cam.status == "done"
        assert decode_count(tmp_path / f"u_camera_{cam.index}.h264") == cam.frames == \
            len(read_timecodes(tmp_path / f"u_camera_{cam.index}.pts.txt"))
    data = parse_data_file((tmp_path / "u_data.txt").read_text())["CAMDECK DETAILS"]
    assert data["Result"].startswith("stopped early by an error")
    assert "Input/output error" in (tmp_path / "u_data.txt").read_text()
    assert int(data["Camera 1 frames"]) == result.cameras[0].frames


def test_a_progress_callback_that_raises_ends_the_session_cleanly(tmp_path):
    calls = []

    def progress(event):
        calls.append(event.kind)
        if event.kind == "progress" and calls.count("progress") == 3:
            raise RuntimeError("the display went away")

    request = RecordingRequest(session="p", folder=tmp_path, cameras=[LEFT, RIGHT], max_drop_pct=None)   # manual
    session = RecordingSession(request, DriverContext(), progress=progress)
    result = session.run()
    assert result.outcome == "error" and "the display went away" in result.warnings[0]
    assert calls[-1] == "progress"                 # the broken callback is not called again
    assert not any(th.is_alive() for t in session.tracks for th in t._threads)
    for cam in result.cameras:
        assert decode_count(tmp_path / f"p_camera_{cam.index}.h264") == cam.frames
    text = (tmp_path / "p_data.txt").read_text()
    assert "stopped early by an error" in text and "the display went away" in text


def test_an_out_of_range_preset_is_bad_input_before_anything_starts(tmp_path):
    from camdeck.drivers.recording.presets import BadPreset

    store = PresetStore(tmp_path / "data")
    store.save("hot", default={"ExposureTime": 8000, "AnalogueGain": 1000.0})
    session, events = record(tmp_path / "out", duration_s=0.3, preset=store.load("hot"))
    try:
        session.run()
    except BadPreset as err:
        message = str(err)
        assert err.bad_input
    else:
        raise AssertionError("an out-of-range preset was accepted")
    assert "preset 'hot'" in message and "hot.json" in message and "AnalogueGain=1000.0" in message
    assert "is out of range" in message and " to " in message            # the allowed range
    assert [e.kind for e in events] == []                                 # nothing started
    assert list((tmp_path / "out").iterdir()) == []                        # nothing written


def test_the_session_runs_on_the_clock_the_cameras_report(tmp_path):
    """No driver name picks the clock: the cameras say which clock stamps their frames.

    The request names a "picamera2" camera; the opener hands over a camera whose frames are
    stamped by a clock 20 times faster than the wall. The session times itself on that clock:
    a 2 s timer is 2 s of the camera's time (about 40 s of it if the session used the wall clock),
    and no track had to rebase its timestamps."""
    import dataclasses

    from camdeck.drivers.registry import open_camera
    from camdeck.drivers.sim.clock import SimClock

    fast = SimClock(time_factor=20.0)
    opened = []

    def opener(spec, ctx):
        cam = open_camera(dataclasses.replace(spec, driver="sim"), DriverContext(data_dir=ctx.data_dir, clock=fast))
        opened.append(cam)
        return cam

    pi = dataclasses.replace(LEFT, driver="picamera2")
    request = RecordingRequest(session="c", folder=tmp_path, cameras=[pi], duration_s=2.0, max_drop_pct=None)
    session = RecordingSession(request, DriverContext(data_dir=tmp_path / "data"), open_camera=opener)
    result = session.run()
    assert result.outcome == "complete" and result.elapsed_s >= 2.0
    assert opened[0].clock is fast and session.clock is fast
    assert not any(t.rebased for t in session.tracks)
    times = read_timecodes(tmp_path / "c_camera_1.pts.txt")
    assert times and times[-1] < 10_000            # milliseconds of the camera's time, not 40 s of it
    section = parse_data_file((tmp_path / "c_data.txt").read_text())["CAMDECK DETAILS"]
    assert section["Camera 1 status"] == "ok"


def test_an_injected_clock_wins_over_the_cameras(tmp_path):
    from camdeck.drivers.recording.session import session_clock
    from camdeck.drivers.registry import open_camera
    from camdeck.drivers.sim.clock import ManualClock

    manual = ManualClock()
    with open_camera(LEFT, DriverContext(data_dir=tmp_path)) as cam:
        assert session_clock(DriverContext(clock=manual), [cam]) is manual
        assert session_clock(DriverContext(), [cam]) is cam.clock
