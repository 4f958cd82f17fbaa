"""A take accounts for every frame its cameras made, even when the recorder's capture thread is
late: a frame the sensor made is in the file, counted dropped, or skipped before the take.

On a loaded machine the capture thread can come late to a camera that is already running, so
the camera's buffer overwrites frames before the take's first one (before the first capture,
or between two warm-up frames). Here that lateness is forced: the capture thread sleeps on the
camera's own clock before its first captures, so the real simulated sensor runs on and drops
frames exactly as it would under load, however fast or slow this machine is."""
from __future__ import annotations

from camdeck.drivers.recording.frame_tap import FrameTap, tapping
from camdeck.drivers.registry import open_camera
from tests.drivers.test_recording_session import LEFT, RIGHT, decode_count, record

LATE_CAPTURES = {LEFT.name: (1, 2, 5), RIGHT.name: (1, 2, 3, 4, 5, 6)}   # which captures come late
LATE_PERIODS = 4      # frame periods a late capture waits: more than the sensor's 2-frame buffer holds


def late_opener(spec, ctx):
    """Opens a camera as the registry does; its chosen captures start ``LATE_PERIODS`` frame
    periods late (on the camera's clock), so the sensor overwrites frames meanwhile. The darkroom
    camera is late for longer, so the lightroom camera leads it and is late once while it leads."""
    cam = open_camera(spec, ctx)
    capture, calls = cam.capture, [0]

    def late_capture(timeout_s=None):
        calls[0] += 1
        if calls[0] in LATE_CAPTURES[spec.name]:
            cam.clock.sleep(LATE_PERIODS * cam.frame_period_s)
        return capture(timeout_s)

    cam.capture = late_capture
    return cam


def test_frames_lost_before_the_take_are_counted_as_skipped(tmp_path):
    taps: dict[str, FrameTap] = {}
    session, _ = record(tmp_path, session="late", duration_s=1.0, open_camera=tapping(late_opener, taps))
    result = session.run()
    assert result.outcome == "complete", result.warnings
    for track, stats in zip(session.tracks, result.cameras):
        last = taps[stats.name].latest()[0]
        received_not_filed = track.warmup_frames + track.lead_frames + track.queue_dropped
        assert stats.frames >= 1 and decode_count(tmp_path / f"late_camera_{track.index}.h264") == stats.frames
        # the first capture came after the sensor had overwritten frames: lost before the take
        assert track.unseen_frames >= LATE_PERIODS - 2 and stats.skipped > track.warmup_frames + track.lead_frames
        # every frame the sensor made up to the last one received: filed, dropped or skipped
        assert stats.frames + stats.dropped + stats.skipped == last.seq + 1
        # and, seen from the camera's side: what it dropped plus what the recorder received but
        # did not file is what the take did not file
        assert stats.dropped + stats.skipped == track.camera.dropped_frames + received_not_filed
