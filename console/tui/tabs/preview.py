"""Live preview plumbing: what a preview asks of its stream worker, the frame analysis and
rate meter that worker runs, and the control and error mapping of a camera. The Cameras tab
itself is console/tui/tabs/cameras.py.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Mapping

from textual.worker import Worker

from camdeck.console.render import (
    PreviewCells, centre_crop, clipping_fractions, frame_to_rgb, histogram, luma, sharpness_score,
)
from camdeck.console.render_cells import DEFAULT_THRESHOLD, render_cells
from camdeck.console.tui.camera_pool import CameraInUse
from camdeck.console.tui.messages import CameraState, ControlField, FrameStats
from camdeck.drivers.errors import CameraDisconnected, CaptureTimeout, DriverUnavailable, NotSupported


EXPOSURE_CONTROLS = ("exposure_us", "ExposureTime")   # ASI, Picamera2 names (microseconds)
GAIN_CONTROLS = ("gain", "AnalogueGain")


class PreviewRequest:
    """What the UI wants from the stream worker. Plain attributes: the worker only reads them.

    ``depth`` and ``scale`` follow the link (console/tui/link.py); ``shown`` is the picture on
    screen, which the next one is drawn as a change of (console/render_cells.py).
    """

    def __init__(self, cols: int, rows: int, ascii: bool, fps: float, depth: str = "truecolor",
                 scale: float = 1.0) -> None:
        self.cols, self.rows, self.fps = cols, rows, fps
        self.depth = "ascii" if ascii else depth
        self.scale = scale
        self.shown: PreviewCells | None = None

    @property
    def ascii(self) -> bool:
        return self.depth == "ascii"


def control_fields(controls: Mapping[str, Any]) -> tuple[ControlField | None, ControlField | None]:
    """The exposure and gain fields of a camera's ``controls()``, whatever the driver calls them."""
    def pick(names: tuple[str, ...], label: str) -> ControlField | None:
        for name in names:
            rng = controls.get(name)
            if rng is not None and getattr(rng, "writable", True):
                integer = all(isinstance(v, int) and not isinstance(v, bool) for v in (rng.min, rng.max))
                return ControlField(name, label, float(rng.min), float(rng.max), float(rng.value), integer)
        return None
    return pick(EXPOSURE_CONTROLS, "exposure (µs)"), pick(GAIN_CONTROLS, "gain")


def error_state(err: BaseException) -> str:
    """The table state for a failure."""
    if isinstance(err, CameraInUse):
        return "in use"
    if isinstance(err, NotSupported):
        return "not supported"
    if isinstance(err, DriverUnavailable):
        return "unavailable"
    if isinstance(err, CameraDisconnected):
        return "disconnected"
    if isinstance(err, CaptureTimeout):
        return "timeout"
    return "error"


class ExactSweep:
    """Which row of preview cells the next frame draws exactly (render_cells ``exact_rows``).

    One row at a time, round the picture, so every row is exact within ``period_s`` and no
    frame repaints more than one row for it.

    Args:
        period_s: seconds to go round the whole picture.
    """

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self._row = 0
        self._last = float("-inf")

    def next(self, rows: int, now: float) -> slice | None:
        """The rows the frame of ``now`` draws exactly, for a picture of ``rows`` rows; None: none this time."""
        if rows <= 0 or now - self._last < self.period_s / rows:
            return None
        self._last = now
        row = self._row % rows
        self._row = row + 1
        return slice(row, row + 1)


def analyse_frame(frame: Any, request: PreviewRequest, threshold: int | None = None,
                  exact_rows: slice | None = None) -> tuple[Any, FrameStats]:
    """Preview cells at the requested size, plus the focus and exposure aids (worker thread).

    ``threshold``: levels a cell must move to be redrawn (default render_cells.DEFAULT_THRESHOLD);
    ``exact_rows``: rows of cells redrawn wherever they moved at all (render_cells).
    """
    rgb = frame_to_rgb(frame.array, frame.format)
    cells = render_cells(rgb, request.cols, request.rows, depth=request.depth, scale=request.scale,
                         shown=request.shown, threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
                         exact_rows=exact_rows)
    step = max(1, min(rgb.shape[0], rgb.shape[1]) // 270)   # ~ 270 px on the short side is plenty
    small = luma(rgb[::step, ::step])
    raw_step = max(1, min(frame.array.shape[0], frame.array.shape[1]) // 360)
    dark, clipped = clipping_fractions(frame.array[::raw_step, ::raw_step])
    stats = FrameStats(
        sharpness=sharpness_score(luma(centre_crop(rgb, 256))),
        histogram=histogram(small, 32), dark_fraction=dark, clipped_fraction=clipped,
        seq=int(frame.seq), format=frame.format, size=(frame.array.shape[1], frame.array.shape[0]),
    )
    return cells, stats


class FpsMeter:
    """Frame rate from the driver's own timestamps and sequence numbers (what the camera delivers)."""

    def __init__(self, window: int = 30) -> None:
        self._samples: deque[tuple[int, int]] = deque(maxlen=window)

    def add(self, seq: int, timestamp_ns: int) -> float | None:
        self._samples.append((seq, timestamp_ns))
        (s0, t0), (s1, t1) = self._samples[0], self._samples[-1]
        if s1 <= s0 or t1 <= t0:
            return None
        return (s1 - s0) * 1e9 / (t1 - t0)


def _frame_state(name: str, spec: Any, frame: Any, fps: float | None, dropped: int, state: str) -> CameraState:
    meta = frame.meta
    temp = meta.get("temperature_c")
    return CameraState(name, spec.driver, spec.model, state, fps=None if fps is None else round(fps, 1),
                       exposure_us=meta.get("exposure_us"), gain=meta.get("gain"),
                       temperature_c=None if temp is None else round(float(temp), 1), dropped=dropped)


def _stale(source: Any) -> bool:
    """A message from a worker that has since been cancelled (the operator moved on)."""
    return isinstance(source, Worker) and source.is_cancelled


def _sleep_until(deadline: float, worker: Worker) -> None:
    """Sleep to the next preview slot in short steps, so cancelling stays quick."""
    while not worker.is_cancelled:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))
