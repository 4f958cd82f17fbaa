"""Recording: H.264 sessions from two or more cameras (the recorder rig).

Following picamera2's split, the format and the destination are separate modules, and
the session composes them:

- ``session.py``: ``RecordingSession`` (timers, countdown, faults, the progress events);
  ``session_types.py``: what it takes and reports (request, events, result);
- ``encoders.py``: the encoders (libx264 through PyAV, the Pi's hardware encoder);
- ``camera_track.py``: the per-camera ``CameraTrack`` that drives one;
- ``h264_output.py``: ``AnnexBFileOutput``, the destination (Annex B file + timestamp file);
  ``mp4_output.py`` (fragmented MP4), ``segments.py`` (parts), ``pretrigger.py`` (the rolling
  buffer), combined per take by ``take.py``;
- ``data_file.py``: the session's files, pre-flight checks and the ``NAME_data.txt`` data file;
- ``presets.py``: named sets of controls saved as JSON and applied live.

Nothing is imported here: callers import the module they need (PyAV loads only when an
encoder starts).
"""
