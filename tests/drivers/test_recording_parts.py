"""Recording parts that need no camera: the encoder + output, session files and names (presets: test_recording_presets.py)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from camdeck.drivers.recording.encoders import EncoderError, LibX264Encoder
from camdeck.drivers.recording.h264_output import TIMECODE_HEADER, AnnexBFileOutput
from camdeck.drivers.recording.data_file import (
    CameraRecord, NotEnoughDiskSpace, OutputNotWritable, SessionExists, SessionPaths, SessionRecord,
    UnsafeSessionName, check_disk_space, check_no_existing, check_output_folder, check_session_name,
    data_file_outline, parse_data_file, read_timecodes, render_data_file, skew_ms,
)


def decode(path: Path) -> list:
    """Decoded frames of a raw H.264 file (PyAV, as a player would)."""
    import av

    with av.open(str(path), format="h264") as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def synthetic(i: int, w: int = 160, h: int = 96) -> np.ndarray:
    """A moving gradient with a bright square at a position set by ``i``."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[..., 2] = 128
    x = (i * 4) % (w - 16)
    img[40:56, x:x + 16] = 255
    return img


def test_encoder_writes_annex_b_with_one_timestamp_per_frame(tmp_path):
    out = AnnexBFileOutput(tmp_path / "s_camera_1.h264", tmp_path / "s_camera_1.pts.txt")
    enc = LibX264Encoder(160, 96, 30.0)
    enc.start(out)
    for i in range(45):
        enc.encode(synthetic(i), i * 33_333_333 + 2_000_000)
    enc.stop()
    out.close()
    data = (tmp_path / "s_camera_1.h264").read_bytes()
    assert data.startswith(b"\x00\x00\x00\x01")                        # Annex B start code
    assert data.count(b"\x00\x00\x00\x01\x67") >= 2                      # SPS repeated at each IDR
    frames = decode(tmp_path / "s_camera_1.h264")
    assert len(frames) == 45
    assert abs(int(frames[10][48, 40 + 8, 0]) - 255) < 40               # the square is where frame 10 put it
    lines = (tmp_path / "s_camera_1.pts.txt").read_text().splitlines()
    assert lines[0] == TIMECODE_HEADER
    times = read_timecodes(tmp_path / "s_camera_1.pts.txt")
    assert len(times) == 45 and times[0] == pytest.approx(2.0) and times[1] - times[0] == pytest.approx(33.333, abs=0.01)


def test_output_flushes_to_disk_every_interval(tmp_path):
    now = [0.0]
    out = AnnexBFileOutput(tmp_path / "a.h264", tmp_path / "a.pts.txt", flush_interval_s=1.0, wall_clock=lambda: now[0])
    out.write(b"\x00\x00\x00\x01abc", 0)
    assert (tmp_path / "a.h264").stat().st_size == 0                    # still buffered
    now[0] = 1.0
    out.write(b"\x00\x00\x00\x01def", 33_000_000)
    assert (tmp_path / "a.h264").stat().st_size == 14                   # on disk after one interval
    assert read_timecodes(tmp_path / "a.pts.txt") == [0.0, 33.0]
    out.close()


def test_encoder_rejects_odd_sizes():
    with pytest.raises(EncoderError, match="even"):
        LibX264Encoder(161, 96, 30)


@pytest.mark.parametrize("name", ["../x", "", "a/b", "x/../../etc", ".hidden", "a b", "..", "a..b", "n" * 65, "ok\n"])
def test_unsafe_session_names_are_refused(name):
    with pytest.raises(UnsafeSessionName) as info:
        check_session_name(name)
    assert info.value.bad_input and "fix:" in str(info.value)


@pytest.mark.parametrize("name", ["run-01", "2026.11.21_dusk", "A"])
def test_safe_session_names_pass(name):
    assert check_session_name(name) == name


def test_existing_session_is_refused_without_overwrite(tmp_path):
    paths = SessionPaths(tmp_path, "s1", 2)
    assert check_no_existing(paths, overwrite=False) == []
    (tmp_path / "s1_camera_3.h264").write_bytes(b"old")                 # an earlier 3-camera session
    (tmp_path / "s10_data.txt").write_text("another session")          # a different name: not ours
    with pytest.raises(SessionExists, match="--overwrite"):
        check_no_existing(paths, overwrite=False)
    assert check_no_existing(paths, overwrite=True) == [tmp_path / "s1_camera_3.h264"]


def test_output_folder_checks(tmp_path):
    assert check_output_folder(tmp_path / "new" / "deeper").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritable):
        check_output_folder(blocker)
    with pytest.raises(OutputNotWritable):
        check_output_folder(blocker / "sub")


def test_disk_space_check(tmp_path):
    assert check_disk_space(tmp_path, 10, disk_free=lambda p: 100) == 100
    with pytest.raises(NotEnoughDiskSpace, match="MB free"):
        check_disk_space(tmp_path, 10**9, disk_free=lambda p: 10**6)


def test_skew_between_cameras():
    a = [0.0, 33.3, 66.7, 100.0]
    b = [1.5, 34.8, 68.2, 101.5]
    sk = skew_ms(a, b)
    assert sk["start_offset_ms"] == pytest.approx(1.5)
    assert sk["median_abs_ms"] == pytest.approx(1.5)
    assert skew_ms(a, []) is None


def test_data_file_has_the_origins_sections_then_camdecks(tmp_path):
    t0 = datetime(2026, 11, 21, 10, 0, tzinfo=timezone.utc)
    cams = [CameraRecord(i, f"cam{i}", f"Role{i}", tmp_path / f"s_camera_{i}.h264", tmp_path / f"s_camera_{i}.pts.txt",
                         controls={"FrameDurationLimits": (33333, 33333), "ExposureTime": 20000, "Resolution": "320x240"},
                         encoder={"encoder": "libx264 (PyAV)", "preset": "ultrafast"}, frames=3, dropped=1,
                         times_ms=[0.0, 33.3, 66.7])
            for i in (1, 2)]
    rec = SessionRecord(name="s", folder=tmp_path, mode="manual", duration_s=None, countdown_s=3.0, preset="dusk",
                        created_utc=t0, start_utc=t0, end_utc=t0, elapsed_s=3725.4, cameras=cams, result="complete",
                        changes=["+1.500 s  camera 1 (cam1)  preset 'dusk'  ExposureTime 20000 -> 8000"])
    text = render_data_file(rec)
    sections = parse_data_file(text)
    assert list(sections) == ["RECORDING SESSION DATA", "SESSION INFORMATION", "TIMING INFORMATION",
                              "RECORDING PARAMETERS", "CAMERA 1 (Role1)", "CAMERA 2 (Role2)", "CAMDECK DETAILS"]
    assert sections["TIMING INFORMATION"]["Total Duration"] == "01:02:05"
    assert sections["RECORDING PARAMETERS"] == {"Stop Method": "Manual", "Timer Duration": "N/A",
                                                "Recording Delay (Countdown)": "3 seconds"}
    assert sections["CAMERA 2 (Role2)"]["Video File"] == "s_camera_2.h264"
    assert sections["CAMERA 1 (Role1)"]["config.FrameDurationLimits"] == "(33333, 33333)"
    details = sections["CAMDECK DETAILS"]
    assert details["Preset at start"] == "dusk" and details["Camera 2 dropped frames"] == "1 (25.00 %)"
    assert "median |skew| 0.000 ms" in details["Camera 2 skew vs camera 1"]
    assert details["Change"].endswith("ExposureTime 20000 -> 8000")
    # no label twice with two meanings: each is unique in its section ("Change" lists the changes),
    # and only the per-camera sections share labels
    where: dict[str, set[str]] = {}
    for title, pairs in data_file_outline(text):
        keys = [k for k, _ in pairs if k != "Change"]
        assert len(keys) == len(set(keys)), title
        for key in keys:
            where.setdefault(key.strip(), set()).add("CAMERA" if title.startswith("CAMERA ") else title)
    assert {k: v for k, v in where.items() if len(v) > 1} == {}


# ---------------------------------------------------------------- faults: a full disk

def enospc(*args):
    import errno

    return OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_flush_keeps_the_whole_frames_in_both_files(tmp_path, monkeypatch):
    """A full disk mid-flush: the video keeps the access units that reached the disk whole, the
    timestamps file exactly their lines, and both end at the same frame (no BufferError either)."""
    import camdeck.drivers.recording.h264_output as h264_output

    now = [0.0]
    out = AnnexBFileOutput(tmp_path / "f.h264", tmp_path / "f.pts.txt", flush_interval_s=1.0, wall_clock=lambda: now[0])
    enc = LibX264Encoder(160, 96, 30.0)
    enc.start(out)
    for i in range(10):
        enc.encode(synthetic(i), i * 33_333_333)
    out.flush()                                                        # 10 frames safely on disk
    real_write = h264_output._write_some

    def half_then_full(fd, data):                                      # the disk fills in the middle of a write
        written, _ = real_write(fd, bytes(data)[: len(data) * 2 // 3])
        return written, enospc()

    monkeypatch.setattr(h264_output, "_write_some", half_then_full)
    for i in range(10, 20):
        enc.encode(synthetic(i), i * 33_333_333)
    with pytest.raises(OSError, match="No space"):
        out.flush()
    assert out.failed is not None and 10 <= out.frames_written < 20
    with pytest.raises(EncoderError, match="earlier write failed"):   # later frames are refused, not half-written
        enc.encode(synthetic(20), 20 * 33_333_333)
    out.close()                                                        # closes without another attempt
    times = read_timecodes(tmp_path / "f.pts.txt")
    assert len(decode(tmp_path / "f.h264")) == out.frames_written == len(times)
    assert times[-1] == pytest.approx((out.frames_written - 1) * 33.333, abs=0.01)   # the same last frame


class ScriptedCamera:
    """Numbered RGB frames; after ``frames`` of them it asks its track to stop (a timer ending)."""

    name = "scripted"
    dropped_frames = 0

    def __init__(self, frames: int):
        self.left = frames
        self.seq = 0
        self.track = None

    def start(self):
        pass

    def stop(self):
        pass

    def capture(self, timeout_s=None):
        from camdeck.drivers.base import Frame

        if self.left == 0:                # stop requested: nothing more comes (like a timeout)
            from camdeck.drivers.errors import CaptureTimeout

            raise CaptureTimeout("scripted: no frame")
        self.left -= 1
        if self.left == 0:
            self.track.request_stop()
        self.seq += 1
        return Frame(synthetic(self.seq), self.seq * 33_333_333, self.seq, self.name, {"format": "RGB"})


def test_a_full_disk_at_the_final_flush_faults_the_camera_and_keeps_the_file(tmp_path, monkeypatch):
    """encoder.stop() fails after the end marker was taken: the encoder thread must not wait for
    another marker (it would hang, and the file would be closed under it)."""
    import threading

    from camdeck.drivers.base import CameraSpec
    from camdeck.drivers.recording.camera_track import CameraTrack

    real_stop = LibX264Encoder.stop

    def stop_on_a_full_disk(self):
        real_stop(self)
        raise enospc()

    monkeypatch.setattr(LibX264Encoder, "stop", stop_on_a_full_disk)
    cam = ScriptedCamera(frames=8)
    spec = CameraSpec(name="scripted", driver="sim", model="IMX219", label="scripted")
    track = CameraTrack(1, spec, cam, tmp_path / "t_camera_1.h264", tmp_path / "t_camera_1.pts.txt", lambda: 0)
    cam.track = track
    track.start(threading.Barrier(1))
    track.set_zero(0)
    track.join(timeout_s=20)                                           # a bound for the old hang, not a timing check
    assert not any(t.is_alive() for t in track._threads), "the encoder thread hangs after a failed final flush"
    assert track.status == "fault" and "No space left" in track.fault
    # the first frame is the camera warming up (it has no predecessor to follow): 7 are recorded
    assert len(decode(tmp_path / "t_camera_1.h264")) == 7 == len(read_timecodes(tmp_path / "t_camera_1.pts.txt"))
