"""The Recording tab's preview during a take: both cameras, side by side, at a low rate.

Off by default (``v`` on the Recording tab turns it on and off, as the origin's preview
checkbox did). It never costs the recording a frame: the session's cameras are wrapped in
``FrameTap`` (drivers/recording/frame_tap.py) and this widget's worker reads the frame the
recorder captured last, at ``TAKE_PREVIEW_FPS``; it never calls ``capture()``. A frame already
drawn is not drawn again, and a camera whose tap stays empty (Picamera2's hardware encoder keeps
frames out of Python) says so instead of a picture.
"""
from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from camdeck.console.tui.widgets.preview import PreviewView

TAKE_PREVIEW_FPS = 2.0        # low: the encoders need the CPU on a Pi, and the link its bytes


class TakePreviewFrame(Message):
    """New cells for camera ``index``'s view; a newer frame of the same view replaces a queued one."""

    def __init__(self, index: int, cells: Any, seq: int) -> None:
        super().__init__()
        self.index, self.cells, self.seq = index, cells, seq

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TakePreviewFrame) and message.index == self.index


class TakePreviewNote(Message):
    """A line for camera ``index``'s view instead of a picture."""

    def __init__(self, index: int, text: str) -> None:
        super().__init__()
        self.index, self.text = index, text


class TakePreview(Horizontal):
    """One PreviewView per recording camera; hidden while off."""

    DEFAULT_CSS = """
    TakePreview {
        height: 1fr;
        min-height: 4;
        display: none;
    }
    TakePreview.on {
        display: block;
    }
    TakePreview PreviewView {
        width: 1fr;
        margin-right: 1;
    }
    """

    def __init__(self, *, ascii: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ascii = ascii
        self.on = False
        self.views = [PreviewView(), PreviewView()]
        self._areas: list[tuple[int, int]] = [(0, 0), (0, 0)]
        self.taps: Mapping[str, Any] = {}     # the running take's taps, by camera name
        self.last_seq: dict[str, int] = {}    # after a take: the seq of the last frame each camera gave
        self._live = False                    # a take is running
        self._names: list[str] = []
        self.updates = 0              # frames drawn since the widget was made (tests read it)

    def compose(self) -> ComposeResult:
        yield from self.views

    def toggle(self) -> bool:
        """Turn the preview on or off; returns the new state. A running take is followed at once."""
        self.on = not self.on
        self.set_class(self.on, "on")
        if self.on and self._live:
            self._follow()
        elif not self.on:
            self.workers.cancel_group(self, "take-preview")
        return self.on

    def start(self, taps: Mapping[str, Any], names: Sequence[str]) -> None:
        """A take started on ``names`` (in file order); ``taps`` fills as the session opens them."""
        self.taps, self._names, self._live = taps, list(names)[:len(self.views)], True
        for view, name in zip(self.views, self._names):
            view.show_message(f"{name}: waiting for the first frame")
        if self.on:
            self._follow()

    def stop(self) -> None:
        """The take ended: the last pictures stay, the worker ends, the taps (and their frames) go."""
        self._live = False
        self.workers.cancel_group(self, "take-preview")
        self.last_seq = {name: int(tap.latest()[0].seq) for name, tap in self.taps.items()
                         if tap.latest()[0] is not None}
        self.taps = {}          # a frame-sized array per camera would otherwise stay until the next take

    def on_preview_view_resized(self, event: PreviewView.Resized) -> None:
        self._areas = [view.picture_area for view in self.views]    # read by the worker

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A preview that fails says so in its views; the take goes on regardless."""
        if event.state == WorkerState.ERROR:
            text = " ".join(str(event.worker.error).split()) or type(event.worker.error).__name__
            for view in self.views:
                view.show_message(f"preview stopped: {text}")

    def on_take_preview_frame(self, message: TakePreviewFrame) -> None:
        self.views[message.index].show_cells(message.cells)
        self.updates += 1

    def on_take_preview_note(self, message: TakePreviewNote) -> None:
        self.views[message.index].show_message(message.text)

    def _follow(self) -> None:
        depth = "ascii" if self.ascii else (self.app.link_monitor.pinned_depth or self.app.link_monitor.max_depth)
        self._draw(self.taps, list(self._names), depth)

    @work(thread=True, exclusive=True, exit_on_error=False, group="take-preview")
    def _draw(self, taps: Mapping[str, Any], names: list[str], depth: str) -> None:
        """Read each tap's newest frame at TAKE_PREVIEW_FPS and post its cells (worker thread)."""
        from camdeck.console.render import frame_to_rgb
        from camdeck.console.render_cells import render_cells

        worker = get_current_worker()
        drawn = [-1] * len(names)
        shown: list[Any] = [None] * len(names)
        started = time.monotonic()
        said_empty = [False] * len(names)
        while not worker.is_cancelled:
            tick = time.monotonic()
            for i, name in enumerate(names):
                tap = taps.get(name)
                frame, count = tap.latest() if tap is not None else (None, 0)
                if frame is None:
                    if not said_empty[i] and tap is not None and tick - started > 3.0:
                        said_empty[i] = True    # a hardware encoder: frames never reach Python
                        self.post_message(TakePreviewNote(i, f"{name}: no frames to preview (the camera "
                                                             "encodes in hardware)"))
                    continue
                if count == drawn[i]:
                    continue
                cols, rows = self._areas[i]
                if cols <= 0 or rows <= 0:
                    continue
                cells = render_cells(frame_to_rgb(frame.array, frame.format), cols, rows, depth=depth,
                                     shown=shown[i])
                drawn[i], shown[i] = count, cells
                self.post_message(TakePreviewFrame(i, cells, int(frame.seq)))
            time.sleep(max(0.0, 1.0 / TAKE_PREVIEW_FPS - (time.monotonic() - tick)))
