"""MP4 takes, segments and the pre-trigger buffer on the simulated rig, decoded with PyAV.

Ground truth is what the cameras delivered: an opener remembers every frame each camera gave
the capture loop, so "no frame lost at a join or at the trigger" is checked frame by frame.
"""
from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

from camdeck.drivers.recording.data_file import parse_data_file, read_timecodes
from camdeck.drivers.recording.session import RecordingRequest, RecordingSession
from camdeck.drivers.registry import DriverContext
from tests.drivers.test_recording_session import LEFT, RIGHT


def capturing_opener(captured: dict):
    """Opens cameras as the registry does and keeps the timestamp (ns) of every frame each gave."""
    from camdeck.drivers.registry import open_camera

    def opener(spec, ctx):
        cam = open_camera(spec, ctx)
        capture = cam.capture
        seen = captured.setdefault(spec.name, [])

        def recorded(timeout_s=None):
            frame = capture(timeout_s)
            seen.append(frame.timestamp)
            return frame

        cam.capture = recorded
        return cam

    return opener


def run_take(tmp_path, captured, *, during=None, **kwargs) -> tuple[RecordingSession, object]:
    kwargs.setdefault("max_drop_pct", None)    # a loaded machine drops frames; the drop rule has its own tests
    request = RecordingRequest(session="t", folder=tmp_path, cameras=[LEFT, RIGHT], **kwargs)
    session = RecordingSession(request, DriverContext(data_dir=tmp_path / "data"),
                               open_camera=capturing_opener(captured))
    if during is not None:
        threading.Thread(target=during, args=(session,), daemon=True).start()
    return session, session.run()


def decode(path: Path) -> tuple[list[int], list[bool], Fraction]:
    """(pts, keyframe flags, time base) of every decoded frame of a video file."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        return [f.pts for f in frames], [f.key_frame for f in frames], stream.time_base


def as_us(times_ms: list[float]) -> list[int]:
    return [round(t * 1000) for t in times_ms]


def kept_from_capture(session: RecordingSession, index: int, captured_ns: list[int], take_zero_ns: int) -> list[int]:
    """The captured frames (us since the take's zero) from the first one the files keep."""
    track = session.tracks[index - 1]
    return [(ts - track.zero_ns) // 1000 - take_zero_ns // 1000 for ts in captured_ns]


def assert_every_frame_kept(files_us: list[int], captured_us: list[int], queue_dropped: int) -> None:
    """The files hold the captured frames from their first one on, in order: none lost, except
    those the encoder queue dropped (counted, on a loaded machine)."""
    start = captured_us.index(files_us[0])
    tail = captured_us[start:]
    if queue_dropped == 0:
        assert files_us == tail[:len(files_us)] and len(tail) - len(files_us) <= 1   # the last may be in flight
    else:
        it = iter(tail)
        assert all(t in it for t in files_us)      # a subsequence: nothing invented, order kept
        assert len(tail) - len(files_us) <= queue_dropped + 1


def test_mp4_pts_are_the_frame_timestamps_on_both_cameras(tmp_path):
    captured: dict[str, list[int]] = {}
    session, result = run_take(tmp_path, captured, duration_s=1.0, format="mp4")
    assert result.outcome == "complete", result.warnings
    assert {p.name for p in result.files} == {"t_data.txt", "t_events.txt", "t_camera_1.mp4", "t_camera_1.pts.txt",
                                              "t_camera_2.mp4", "t_camera_2.pts.txt"}
    for cam in result.cameras:
        pts, keys, time_base = decode(tmp_path / f"t_camera_{cam.index}.mp4")
        times = as_us(read_timecodes(tmp_path / f"t_camera_{cam.index}.pts.txt"))
        assert time_base == Fraction(1, 1_000_000)
        assert pts == times and len(pts) == cam.frames > 10          # the real timestamps, one per frame
        assert all(b > a for a, b in zip(pts, pts[1:])) and keys[0]
        spec_name = (LEFT, RIGHT)[cam.index - 1].name
        assert_every_frame_kept(pts, kept_from_capture(session, cam.index, captured[spec_name], 0),
                                session.tracks[cam.index - 1].queue_dropped)
    data = parse_data_file((tmp_path / "t_data.txt").read_text())
    assert data["CAMDECK DETAILS"]["Container"].startswith("fragmented MP4")     # camdeck's section, not the origin's
    assert "Container" not in data["RECORDING PARAMETERS"]
    assert data["CAMERA 1 (Camera Module 2.1 NoIR)"]["Video File"] == "t_camera_1.mp4"


def test_segments_join_without_a_lost_frame(tmp_path):
    """0.6 s parts with a keyframe a second: most boundaries need a forced IDR frame."""
    captured: dict[str, list[int]] = {}
    session, result = run_take(tmp_path, captured, duration_s=2.0, format="mp4", segment_s=0.6)
    assert result.outcome == "complete", result.warnings
    text = (tmp_path / "t_data.txt").read_text()
    for cam in result.cameras:
        parts = sorted(tmp_path.glob(f"t_camera_{cam.index}_part*.mp4"), key=lambda p: int(p.stem.rsplit("part")[1]))
        assert len(parts) >= 3 and not (tmp_path / f"t_camera_{cam.index}.mp4").exists()
        all_us: list[int] = []
        starts: list[int] = []       # index of each part's first frame in the take
        for k, part in enumerate(parts, 1):
            pts, keys, _ = decode(part)
            times = as_us(read_timecodes(part.with_name(f"t_camera_{cam.index}_part{k}.pts.txt")))
            assert pts == times and keys[0], part.name      # each part: its own timestamps, starts at a keyframe
            if all_us:                                       # the join: one frame interval, like any gap
                assert pts[0] > all_us[-1]
            starts.append(len(all_us))
            all_us += pts
            assert f"Camera {cam.index} part {k}:" in text and part.name in text
        assert len(all_us) == cam.frames
        def period(t: int) -> int:           # which 0.6 s period of the take a frame falls in
            return (t - all_us[0]) // 600_000

        for at in starts[1:]:     # a part begins at the first frame at or past a boundary, first + m x 0.6 s
            assert period(all_us[at]) > period(all_us[at - 1])
        inside = [i for i in range(1, len(all_us)) if i not in starts]
        assert all(period(all_us[i]) == period(all_us[i - 1]) for i in inside)    # and none crosses one inside a part
        spec_name = (LEFT, RIGHT)[cam.index - 1].name
        assert_every_frame_kept(all_us, kept_from_capture(session, cam.index, captured[spec_name], 0),
                                session.tracks[cam.index - 1].queue_dropped)


def test_pretrigger_take_begins_with_the_buffered_seconds(tmp_path):
    """Armed for 3 s (the countdown triggers; 2 s of slack for cameras slow to start on a loaded
    machine), 1 s kept before the trigger, 1 s after it."""
    changed: dict[str, int] = {}

    def change_while_armed(session):       # the buffers fill: the change is in the take's frames
        while not session.tracks or not all(t.first_frame.is_set() for t in session.tracks):
            threading.Event().wait(0.02)
        threading.Event().wait(0.5)
        changed["before_ns"] = session.clock()
        session.set_controls("lightroom", source="test", ExposureTime=10000)
        changed["after_ns"] = session.clock()

    captured: dict[str, list[int]] = {}
    session, result = run_take(tmp_path, captured, duration_s=1.0, countdown_s=3.0, pretrigger_s=1.0, format="mp4",
                               during=change_while_armed)
    assert result.outcome == "complete", result.warnings
    # logged when the files opened, timed from the take's zero (the first buffered frame)
    take_zero_ns = session.tracks[0].zero_ns + session.tracks[0].output.zero_ns
    line = (tmp_path / "t_events.txt").read_text().splitlines()[1]
    offset_s = float(line.split("\t")[0].removesuffix(" s"))
    assert line.endswith("camera 1 (lightroom)\ttest\tExposureTime 20000 -> 10000") and result.changes == [line]
    assert round((changed["before_ns"] - take_zero_ns) / 1e9, 3) <= offset_s <= round((changed["after_ns"] - take_zero_ns) / 1e9, 3)
    data = parse_data_file((tmp_path / "t_data.txt").read_text())["CAMDECK DETAILS"]
    trigger_ms = float(data["Trigger"].split(" ms")[0])
    assert "by the countdown" in data["Trigger"]
    firsts = []
    for cam in result.cameras:
        pts, keys, _ = decode(tmp_path / f"t_camera_{cam.index}.mp4")
        assert pts == as_us(read_timecodes(tmp_path / f"t_camera_{cam.index}.pts.txt")) and keys[0]
        before = [p for p in pts if p < trigger_ms * 1000]
        assert pts[0] <= (trigger_ms - 1000) * 1000 and len(before) >= 5         # the whole second before
        assert int(data[f"Camera {cam.index} pre-trigger"].split()[0]) == len(before)
        assert pts[-1] >= (trigger_ms + 900) * 1000                               # and the timer's second after
        assert len(pts) == cam.frames                                             # stats count only kept frames
        firsts.append(pts[0])
        track = session.tracks[cam.index - 1]
        take_zero_us = track.output.zero_ns // 1000          # the take's zero, on this track's clock
        captured_us = [(ts - track.zero_ns) // 1000 - take_zero_us for ts in captured[(LEFT, RIGHT)[cam.index - 1].name]]
        assert_every_frame_kept(pts, captured_us, track.queue_dropped)            # nothing lost at the trigger
    assert min(firsts) == 0      # the take's zero is the first buffered frame of either camera


def test_a_stop_while_armed_writes_nothing(tmp_path):
    def stop_soon(session):
        threading.Event().wait(0.8)
        session.request_stop("the test")

    captured: dict[str, list[int]] = {}
    session, result = run_take(tmp_path, captured, duration_s=1.0, pretrigger_s=5.0, during=stop_soon)
    assert result.outcome == "cancelled"
    assert [p for p in tmp_path.iterdir() if p.is_file()] == []
    assert all(len(v) > 0 for v in captured.values())     # the cameras did run while armed


def test_h264_segments_each_decode_from_a_keyframe(tmp_path):
    import av

    captured: dict[str, list[int]] = {}
    session, result = run_take(tmp_path, captured, duration_s=1.2, segment_s=0.5)
    assert result.outcome == "complete", result.warnings
    for cam in result.cameras:
        parts = sorted(tmp_path.glob(f"t_camera_{cam.index}_part*.h264"))
        assert len(parts) >= 2
        total = 0
        for part in parts:
            with av.open(str(part), format="h264") as container:
                keys = [f.key_frame for f in container.decode(video=0)]
            assert keys[0] and len(keys) == len(read_timecodes(part.with_suffix(".pts.txt")))
            total += len(keys)
        assert total == cam.frames
        data = parse_data_file((tmp_path / "t_data.txt").read_text())
        assert data[f"CAMERA {cam.index} ({(LEFT, RIGHT)[cam.index - 1].label})"]["Video File"] == parts[0].name
        assert data["CAMDECK DETAILS"][f"Camera {cam.index} part {len(parts)}"].startswith(parts[-1].name)
