"""A take as the origin's users know it: its data file against the origin's format, changes
logged as they happen, the take timed from the cameras' first frames at one frame rate, and
the drop limit. Real sessions on the simulated rig; files decoded with PyAV."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from camdeck.drivers.base import CameraSpec
from camdeck.drivers.recording.data_file import data_file_outline, parse_data_file, read_timecodes
from camdeck.drivers.recording.session import RecordingRequest, RecordingSession
from camdeck.drivers.registry import DriverContext

SAMPLE = Path(__file__).parent / "data" / "origin_data_file_sample.txt"

# The value format of every label of the origin's sections (the sample and a real take must match).
FORMATS = {
    "Session Name": r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    "Save Path": r"/.+",
    "Start Date/Time": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "End Date/Time": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "Total Duration": r"\d\d:\d\d:\d\d",
    "Elapsed Seconds": r"\d+\.\d\d",
    "Stop Method": r"Manual|Timer",
    "Timer Duration": r"\d+(\.\d+)? minutes|N/A",
    "Recording Delay (Countdown)": r"\d+(\.\d+)? seconds",
    "Video File": r"\S+_camera_\d+\.h264",
    "Start Time": r"\d\d:\d\d:\d\d\.\d{3}",
    "End Time": r"\d\d:\d\d:\d\d\.\d{3}",
    "Camera Configuration": r"",
    "  FrameDurationLimits": r"\(\d+, \d+\)",
    "  ExposureTime": r"\d+",
    "  Resolution": r"\d+x\d+",
}


def pi_spec(name: str, model: str, role: str) -> CameraSpec:
    return CameraSpec(name=name, driver="sim", model=model, label=f"{model} module", resolution=(320, 240),
                      controls={"ExposureTime": 20000, "AnalogueGain": 2.0}, options={"camera_num": 0, "role": role})


LIGHT = pi_spec("lightroom", "IMX219", "LightRoom")
DARK = pi_spec("darkroom", "IMX708", "DarkRoom")


def decode_count(path: Path) -> int:
    import av

    with av.open(str(path), format="h264") as container:
        return sum(1 for _ in container.decode(video=0))


def origin_part(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The outline up to camdeck's own section, camera headings reduced to ``CAMERA n (...)``
    and each configuration cut to the origin's first three controls (the rest vary by sensor)."""
    out = []
    for title, pairs in data_file_outline(text):
        if title == "CAMDECK DETAILS":
            break
        title = re.sub(r"^CAMERA (\d+) \(.+\)$", r"CAMERA \1 (ROLE)", title)
        pairs = [(k, v) for k, v in pairs if not k.startswith("  ") or k.strip() in
                 ("FrameDurationLimits", "ExposureTime", "Resolution")]
        out.append((title, pairs))
    return out


def test_a_real_take_parses_against_the_origins_sample(tmp_path):
    """The sample was rebuilt from the issue's list of the origin's labels (the origin's manual is
    not available here): same sections, same labels, same order, same value formats; camdeck's
    figures only after the origin's sections, in a section of their own."""
    request = RecordingRequest(session="take_1", folder=tmp_path, cameras=[LIGHT, DARK], duration_s=0.5,
                               countdown_s=0.2, max_drop_pct=None)
    result = RecordingSession(request, DriverContext(data_dir=tmp_path / "data")).run()
    assert result.outcome == "complete"
    text = (tmp_path / "take_1_data.txt").read_text()
    sample, real = origin_part(SAMPLE.read_text()), origin_part(text)
    assert [(t, [k for k, _ in p]) for t, p in real] == [(t, [k for k, _ in p]) for t, p in sample]
    for outline in (sample, real):
        for _, pairs in outline:
            for key, value in pairs:
                assert re.fullmatch(FORMATS[key], value), (key, value)
    sections = parse_data_file(text)
    assert list(sections)[-1] == "CAMDECK DETAILS"
    assert "CAMERA 1 (LightRoom)" in sections and "CAMERA 2 (DarkRoom)" in sections
    assert sections["RECORDING PARAMETERS"]["Stop Method"] == "Timer"
    assert sections["RECORDING PARAMETERS"]["Recording Delay (Countdown)"] == "0.2 seconds"
    config = sections["CAMERA 1 (LightRoom)"]
    assert config["config.FrameDurationLimits"] == "(33333, 33333)" and config["config.Resolution"] == "320x240"
    assert not any(k in text for k in ("position_m", "fault_timeout_every", "camera_num"))   # no config internals
    details = sections["CAMDECK DETAILS"]
    assert int(details["Camera 2 frames"]) == result.cameras[1].frames == decode_count(tmp_path / "take_1_camera_2.h264")
    assert details["Camera 1 timestamps file"] == "take_1_camera_1.pts.txt"


def test_changes_during_a_take_are_logged_as_they_happen(tmp_path):
    from camdeck.drivers.recording.presets import Preset

    seen: dict[str, object] = {}
    holder: dict[str, RecordingSession] = {}

    def progress(event):
        session = holder["session"]
        if event.kind != "progress" or "done" in seen or not all(c.frames >= 5 for c in event.cameras):
            return
        seen["at_s"] = event.elapsed_s
        seen["changed"] = session.set_controls("lightroom", source="camera form", ExposureTime=10000)
        session.apply_preset(Preset("dusk", default={"AnalogueGain": 4.0}))   # for every camera
        seen["file_now"] = (tmp_path / "ev_events.txt").read_text()     # on disk before the take ends
        seen["done"] = True
        session.request_stop()

    request = RecordingRequest(session="ev", folder=tmp_path, cameras=[LIGHT, DARK], max_drop_pct=None)
    holder["session"] = session = RecordingSession(request, DriverContext(data_dir=tmp_path / "data"), progress=progress)
    result = session.run()
    assert result.outcome == "stopped" and seen.get("done")
    assert seen["changed"] == {"ExposureTime": (20000, 10000)}
    lines = [line for line in seen["file_now"].splitlines() if not line.startswith("#")]
    assert len(lines) == 3 and lines == result.changes
    offset, camera, source, change = lines[0].split("\t")
    assert (camera, source, change) == ("camera 1 (lightroom)", "camera form", "ExposureTime 20000 -> 10000")
    assert 0 <= float(offset.removesuffix(" s")) <= result.elapsed_s
    assert {tuple(line.split("\t")[1:]) for line in lines[1:]} == {
        ("camera 1 (lightroom)", "preset 'dusk'", "AnalogueGain 2 -> 4"),
        ("camera 2 (darkroom)", "preset 'dusk'", "AnalogueGain 2 -> 4")}
    text = (tmp_path / "ev_data.txt").read_text()
    assert "Changes during the take:    3" in text
    assert all(f"Change:                     {line.replace(chr(9), '  ')}" in text for line in lines)


def test_the_take_starts_with_the_cameras_first_frames_at_one_rate(tmp_path):
    """The timer and the timestamps count from the moment both cameras deliver (the latest one's
    first steady frame), so both files start within a frame of it; both cameras are pinned to
    30 fps, so every gap is a whole number of 33.333 ms frames, and the first gap is not the
    cameras starting (it was 60-990 ms before)."""
    request = RecordingRequest(session="r", folder=tmp_path, cameras=[LIGHT, DARK], duration_s=1.0, max_drop_pct=None)
    result = RecordingSession(request, DriverContext(data_dir=tmp_path / "data")).run()
    assert result.outcome == "complete"
    firsts = []
    for cam in result.cameras:
        times = read_timecodes(tmp_path / f"r_camera_{cam.index}.pts.txt")
        assert decode_count(tmp_path / f"r_camera_{cam.index}.h264") == len(times) == cam.frames
        firsts.append(times[0])
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(abs(g / 33.333 - round(g / 33.333)) < 0.01 and g > 0 for g in gaps), gaps
        assert gaps[0] < 5 * 33.333, gaps[:3]
        assert 900 <= times[-1] <= 1100          # the file spans the timer from the first frame
    assert min(firsts) == 0.0 and max(firsts) < 33.334, firsts


def test_a_take_past_the_drop_limit_is_complete_with_drops(tmp_path):
    """The simulated sensors run 200 times faster than the wall (their own clock knob): the
    encoders cannot keep up, so most frames drop and the take says so."""
    from camdeck.drivers.registry import open_camera
    from camdeck.drivers.sim.clock import SimClock

    fast = SimClock(time_factor=200.0)
    ctx = DriverContext(data_dir=tmp_path / "data", clock=fast)

    def opener(spec, _ctx):
        return open_camera(spec, ctx)

    request = RecordingRequest(session="d", folder=tmp_path, cameras=[LIGHT, DARK], duration_s=20.0, max_drop_pct=1.0)
    result = RecordingSession(request, ctx, open_camera=opener).run()
    assert result.outcome == "complete_with_drops" and not result.ok
    assert any("more than record.max_drop_pct 1 %" in w for w in result.warnings)
    details = parse_data_file((tmp_path / "d_data.txt").read_text())["CAMDECK DETAILS"]
    assert details["Result"].startswith("complete with drops")
    pct = float(details["Camera 1 dropped frames"].split("(")[1].split(" %")[0])
    assert pct > 1.0
    again = dataclasses.replace(request, session="d2", max_drop_pct=None)   # no limit: the same take is complete
    assert RecordingSession(again, ctx, open_camera=opener).run().outcome == "complete"
