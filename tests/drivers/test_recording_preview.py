"""A preview during a take reads the frames the recorder captured (FrameTap): it captures none
itself, so every frame the cameras gave is encoded or counted dropped exactly as without it."""
from __future__ import annotations

import threading

from camdeck.drivers.imaging import frame_to_rgb
from camdeck.drivers.recording.data_file import read_timecodes
from camdeck.drivers.recording.frame_tap import FrameTap, tapping
from camdeck.drivers.recording.session import RecordingRequest, RecordingSession
from camdeck.drivers.registry import DriverContext, open_camera
from tests.drivers.test_recording_session import LEFT, RIGHT, decode_count


def test_a_preview_reads_the_recorders_frames_and_costs_it_none(tmp_path):
    captures: dict[str, int] = {}           # capture() calls that reached each driver

    def counted_open(spec, ctx):
        cam = open_camera(spec, ctx)
        real = cam.capture

        def capture(timeout_s=None):
            captures[spec.name] = captures.get(spec.name, 0) + 1
            return real(timeout_s)

        cam.capture = capture
        return cam

    taps: dict[str, FrameTap] = {}
    request = RecordingRequest(session="pv", folder=tmp_path, cameras=[LEFT, RIGHT], duration_s=1.0,
                               max_drop_pct=None)     # drops are counted below; the drop rule has its own tests
    session = RecordingSession(request, DriverContext(data_dir=tmp_path / "data"),
                               open_camera=tapping(counted_open, taps))
    shown: dict[str, list[int]] = {LEFT.name: [], RIGHT.name: []}
    done = threading.Event()

    def preview():                          # what the Recording tab's preview worker does, faster
        while not done.is_set():
            for name, tap in list(taps.items()):
                frame, _ = tap.latest()
                if frame is not None and (not shown[name] or shown[name][-1] != frame.seq):
                    assert frame_to_rgb(frame).ndim == 3
                    shown[name].append(frame.seq)
            done.wait(0.01)

    reader = threading.Thread(target=preview)
    reader.start()
    try:
        result = session.run()
    finally:
        done.set()
        reader.join()
    assert result.ok, result.warnings
    for track, stats in zip(session.tracks, result.cameras):
        tap = taps[stats.name]
        assert captures[stats.name] == tap.captured                  # the preview never captured
        # each frame the recorder captured: encoded, counted dropped, or skipped before the take's zero
        received_not_filed = track.warmup_frames + track.lead_frames + track.queue_dropped
        assert tap.captured == track.frames + received_not_filed
        # what the camera dropped plus what the recorder received but did not file: not in the file
        assert stats.dropped + stats.skipped == tap.dropped_frames + received_not_filed
        assert stats.frames + stats.dropped + stats.skipped == tap.latest()[0].seq + 1   # every sensor frame: filed, dropped or skipped
        assert decode_count(tmp_path / f"pv_camera_{track.index}.h264") == stats.frames == \
            len(read_timecodes(tmp_path / f"pv_camera_{track.index}.pts.txt"))
        seqs = shown[stats.name]
        assert len(seqs) >= 3 and seqs == sorted(set(seqs))           # it updated, newest frame each time
