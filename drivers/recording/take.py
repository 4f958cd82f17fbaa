"""What a take is written as: the container, segments, the pre-trigger buffer, and arming.

The session (drivers/recording/session.py) asks this module for each camera's output
(``open_take_output``): ``AnnexBFileOutput`` (.h264) or ``Mp4FileOutput`` (.mp4), split into
parts by ``SegmentedOutput`` when ``segment_s`` is set, behind a ``PreTriggerOutput`` when
``pretrigger_s`` is set. The encoder and the capture loop are the same for all of them.

With a pre-trigger buffer the session is armed before the take (``run_armed``): the
cameras start as for any take (their first steady frames are the buffers' zero, see
CameraTrack) and the buffers fill; the take begins at the trigger (``trigger()``: Enter or
SIGUSR1 in the CLI) or at the end of the countdown, whichever comes first; a stop while
armed cancels and writes nothing. The files are opened at the trigger and begin with the
buffered frames; their timestamps count from the take's zero, the first buffered frame of
any camera, and the data file says where the trigger lies (``TakeFacts``).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from camdeck.drivers.recording.data_file import H264_CONTAINER, read_timecodes
from camdeck.drivers.recording.h264_output import AnnexBFileOutput
from camdeck.drivers.recording.pretrigger import PreTriggerOutput
from camdeck.drivers.recording.segments import Segment, SegmentedOutput

FORMATS = ("h264", "mp4")
CONTAINERS = {"h264": H264_CONTAINER,
              "mp4": "fragmented MP4 (H.264, pts = each frame's timestamp in us), one file per camera"}


@dataclass
class TakeFacts:
    """The data file's facts about how the take was written."""

    format: str = "h264"
    segment_s: float | None = None
    pretrigger_s: float = 0.0
    trigger_ms: float | None = None       # where the trigger lies in the files' timestamps
    trigger_by: str = ""                  # "Enter", "SIGUSR1", "the countdown"
    armed_s: float | None = None          # how long the cameras ran before the trigger

    @property
    def container(self) -> str:
        text = CONTAINERS[self.format]
        if self.segment_s:
            text += f", split every {self.segment_s:g} s at a keyframe (_partK files)"
        return text


def open_take_output(fmt: str, paths: Any, index: int, *, segment_s: float | None = None,
                     pretrigger_s: float = 0.0, flush_interval_s: float = 1.0) -> Any:
    """The H264Output of camera ``index`` (from 1) for a take (see the module docstring).

    Args:
        fmt: "h264" or "mp4".
        paths: the session's SessionPaths (``video(index, part)``, ``timecodes(index, part)``).
        segment_s: part length in seconds, or None for one file.
        pretrigger_s: seconds kept before the trigger (0: none; the files open at once).
        flush_interval_s: how often the files are fsync'd.
    """
    from camdeck.drivers.recording.h264_output import EncoderError

    if fmt not in FORMATS:
        raise EncoderError(f"unknown recording format {fmt!r}", "use h264 or mp4")

    def file_output(part: int | None = None) -> Any:
        if fmt == "mp4":
            from camdeck.drivers.recording.mp4_output import Mp4FileOutput
            return Mp4FileOutput(paths.video(index, part), paths.timecodes(index, part),
                                 flush_interval_s=flush_interval_s)
        return AnnexBFileOutput(paths.video(index, part), paths.timecodes(index, part),
                                flush_interval_s=flush_interval_s)

    if segment_s:
        def make() -> Any:
            return SegmentedOutput(file_output, int(round(segment_s * 1e9)))
    else:
        make = file_output
    if pretrigger_s > 0:
        return PreTriggerOutput(make, int(round(pretrigger_s * 1e9)))
    return make()


def _real(output: Any) -> Any:
    return output.inner if isinstance(output, PreTriggerOutput) else output


def take_segments(output: Any) -> list[Segment]:
    """The parts of a segmented take (empty for one file, or before the trigger)."""
    real = _real(output)
    return real.segments() if isinstance(real, SegmentedOutput) else []


def take_files(output: Any, video: Path, timecodes: Path) -> list[Path]:
    """The video and timestamps files of one camera's take (``video``/``timecodes``: the unsplit names)."""
    parts = take_segments(output)
    if parts:
        return [p for s in parts for p in (s.video, s.timecodes) if p is not None]
    if isinstance(output, PreTriggerOutput) and output.inner is None:
        return []          # never triggered: no file was opened
    return [video, timecodes]


def take_timecodes(output: Any, timecodes: Path) -> list[float]:
    """Every frame timestamp (ms) of one camera's take, over all its parts, in order."""
    parts = take_segments(output)
    if parts:
        return [t for s in parts if s.timecodes is not None for t in read_timecodes(s.timecodes)]
    return read_timecodes(timecodes)


def run_armed(tracks: Sequence[Any], barrier: threading.Barrier, facts: TakeFacts, *,
              first_frames: Callable[[], int], clock: Callable[[], int], countdown_s: float,
              triggered: threading.Event, stopped: Callable[[], bool], emit: Callable[..., None],
              before_files: Callable[[], None]) -> tuple[int, int] | None:
    """Start the cameras, wait for the trigger, cut the buffers and open the files.

    The cameras start as for any take (CameraTrack ``prepare()``, ``start(barrier)``), and
    ``first_frames()`` gives their common zero, the latest camera's first steady frame: the
    buffers' timestamps count from it. At the trigger each buffer is cut at a keyframe; the
    take's zero is the earliest buffered frame of any camera, so the files begin with the
    buffered frames at their true timestamps.

    Args:
        tracks: the session's CameraTracks, each with a PreTriggerOutput.
        barrier: the cameras' start barrier (aborted when arming fails).
        facts: the data file's TakeFacts; the trigger's place, cause and the time armed are filled in.
        first_frames: waits for every camera's first steady frame, sets each track's zero and
            returns it (RecordingSession._first_frames), on the session clock in ns.
        clock: the session clock (ns).
        countdown_s: the trigger comes by itself after this long (0: only ``triggered``).
        triggered: set by ``RecordingSession.trigger()``.
        stopped: true once a stop or cancel was asked (then nothing is written).
        emit: ``emit(kind, **fields)`` reports "armed" and "countdown" events.
        before_files: called once the trigger came, before any file opens (checks, the data
            file, the events file).

    Returns:
        (take zero, trigger) on the session clock, in ns; None when stopped while armed
        (the cameras are stopped and joined, nothing was written).
    """
    try:
        for t in tracks:
            t.prepare()
        for t in tracks:
            t.start(barrier)
        armed_ns = first_frames()
        window = tracks[0].output.window_ns / 1e9 if tracks else 0.0
        emit("armed", message=f"armed: keeping the last {window:g} s")
        by = _wait_for_trigger(clock, countdown_s, triggered, stopped, emit, getattr(clock, "sleep", None))
        if by is None:
            _stop_all(tracks)
            return None
        trigger_ns = clock()
        firsts = [t.output.cut(trigger_ns - armed_ns) for t in tracks]
        starts = [f for f in firsts if f is not None]
        take_rel = min(starts) if starts else trigger_ns - armed_ns
        facts.trigger_ms, facts.trigger_by = (trigger_ns - armed_ns - take_rel) / 1e6, by
        facts.armed_s = (trigger_ns - armed_ns) / 1e9
        before_files()
    except BaseException:
        barrier.abort()
        _stop_all(tracks)
        raise
    for t in tracks:
        try:
            t.output.release(take_rel)
        except OSError as err:   # the files cannot be opened (the disk): this camera fails, the take goes on
            t.output.failed_release = err
    return armed_ns + take_rel, trigger_ns


def _wait_for_trigger(clock, countdown_s, triggered, stopped, emit, sleep) -> str | None:
    end = clock() + int(countdown_s * 1e9) if countdown_s > 0 else None
    shown = None
    while True:
        if stopped():
            return None
        if triggered.is_set():
            return getattr(triggered, "by", "") or "the trigger"
        if end is not None:
            left = (end - clock()) / 1e9
            if left <= 0:
                return "the countdown"
            whole = int(left) + (1 if left % 1 else 0)
            if whole != shown:
                shown = whole
                emit("countdown", countdown_s=float(whole))
        if sleep is not None:
            sleep(0.05)
        else:
            triggered.wait(0.05)


def _stop_all(tracks: Sequence[Any]) -> None:
    for t in tracks:
        t.request_stop()
    for t in tracks:
        t.join()
