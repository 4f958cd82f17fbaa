"""The MP4 output and the pre-trigger buffer on their own: a real libx264 encoder, real files."""
from __future__ import annotations

import subprocess
import uuid

import numpy as np
import pytest

from camdeck.drivers.recording.data_file import read_timecodes
from camdeck.drivers.recording.encoders import LibX264Encoder
from camdeck.drivers.recording.h264_output import AnnexBFileOutput
from camdeck.drivers.recording.mp4_output import Mp4FileOutput
from camdeck.drivers.recording.pretrigger import PreTriggerOutput

FPS = 10
PERIOD_NS = 100_000_000      # 10 fps: a keyframe every 10 frames (one a second)


def noisy_frames(n: int, seed: int = 0):
    """(240, 320, 3) uint8 frames that compress badly, so a small disk fills fast."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)


def decode_pts(path, fmt=None) -> list[int]:
    import av

    with av.open(str(path), format=fmt) as container:
        return [f.pts for f in container.decode(video=0)]


def test_pretrigger_buffer_starts_at_a_keyframe_and_keeps_the_window(tmp_path):
    """5 s of frames, 2 s window, trigger at 5 s: the file starts at the keyframe at 3 s."""
    video, pts_file = tmp_path / "p.h264", tmp_path / "p.pts.txt"
    buffer = PreTriggerOutput(lambda: AnnexBFileOutput(video, pts_file), window_ns=2_000_000_000)
    enc = LibX264Encoder(320, 240, FPS, gop=FPS)
    enc.start(buffer)
    frames = noisy_frames(70)
    for i in range(50):                                  # 0.0 .. 4.9 s, armed
        enc.encode(next(frames), i * PERIOD_NS)
    assert not video.exists() and buffer.buffered_bytes > 0
    assert buffer.buffered_frames() <= 3 * FPS           # the window and at most one GOP more
    first = buffer.cut(5 * PERIOD_NS * FPS)
    assert first == 3_000_000_000                         # the last keyframe at or before 5 s - 2 s
    enc.encode(next(frames), 50 * PERIOD_NS)             # after the cut, before the release: kept
    buffer.release(first)
    for i in range(51, 60):
        enc.encode(next(frames), i * PERIOD_NS)
    enc.stop()
    buffer.close()
    times = read_timecodes(pts_file)
    assert times == [round(t * 100.0, 3) for t in range(30)]      # 3.0 .. 5.9 s, counted from the take's zero
    assert len(decode_pts(video, "h264")) == 30
    assert buffer.frames_discarded == 30


def test_mp4_killed_output_keeps_whole_fragments(tmp_path):
    """Without close() (the process died), the fragments written so far decode."""
    video, pts_file = tmp_path / "k.mp4", tmp_path / "k.pts.txt"
    out = Mp4FileOutput(video, pts_file)
    enc = LibX264Encoder(320, 240, FPS, gop=FPS)
    enc.start(out)
    for i, rgb in enumerate(noisy_frames(35)):
        enc.encode(rgb, 1_000_000_000 + i * PERIOD_NS)
    out.flush()
    # no close(): 3 fragments are in the file, the 4th is still being built
    times = read_timecodes(pts_file)
    assert len(times) == 30 and times[0] == 1000.0
    assert decode_pts(video) == [round(t * 1000) for t in times]   # pts = timestamps, the 1 s offset kept


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MiB tmpfs (needs mount rights; skipped where mounting is impossible, with the reason)."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_cuts_the_mp4_and_its_timestamps_back_to_the_last_fragment(small_disk):
    video, pts_file = small_disk / "f.mp4", small_disk / "f.pts.txt"
    out = Mp4FileOutput(video, pts_file)
    enc = LibX264Encoder(320, 240, FPS, gop=FPS)
    enc.start(out)
    with pytest.raises(OSError) as info:
        for i, rgb in enumerate(noisy_frames(400)):
            enc.encode(rgb, i * PERIOD_NS)
    assert info.value.errno == 28 and out.failed is not None
    out.close()
    times = read_timecodes(pts_file)
    assert len(times) >= FPS and len(times) % FPS == 0          # whole fragments (one keyframe each)
    assert decode_pts(video) == [round(t * 1000) for t in times]
    assert out.frames_written == len(times)
    assert 0 < out.bytes_written <= video.stat().st_size       # the units kept, not those the disk refused


def test_mp4_refuses_a_stream_without_sps_pps(tmp_path):
    """A keyframe with no SPS/PPS before it cannot start an MP4: a clear EncoderError, no crash."""
    from camdeck.drivers.recording.h264_output import EncoderError

    out = Mp4FileOutput(tmp_path / "x.mp4", tmp_path / "x.pts.txt")
    with pytest.raises(EncoderError) as info:
        out.write(b"\x00\x00\x00\x01\x65" + bytes(64), 0, keyframe=True)     # an IDR slice alone
    assert "SPS/PPS" in str(info.value) and "fix:" in str(info.value)
    out.close()
