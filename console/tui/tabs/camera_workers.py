"""The Cameras tab's thread workers: the probe, the preview stream and the control edits.

A mixin of ``CamerasTab`` (console/tui/tabs/cameras.py), which holds the state these use: the
settings, the pool, ``frame_limit``, the pending control values and the stream bookkeeping.
It lives apart because it is the tab's other side: this code runs on worker threads and only
reads the cameras and posts ``CameraStatus``, ``CameraControls`` and ``PreviewFrame``
messages; it never touches a widget. The tab handles those messages on the UI thread.

- the probe worker opens each camera once and reports its state and controls;
- the stream worker (exclusive: one at a time) captures the previewed camera at the preview
  rate, renders cells at the preview widget's size, and computes the focus/exposure aids;
- the controls worker applies exposure/gain edits between two captures.

Every driver call runs inside ``pool.use(name)`` (console/tui/camera_pool.py).
"""
from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.worker import Worker, get_current_worker

from camdeck.console.tui.messages import CameraControls, CameraState, CameraStatus, PreviewFrame
from camdeck.console.tui.tabs.preview import (
    ExactSweep, FpsMeter, PreviewRequest, _frame_state, _sleep_until, analyse_frame, control_fields, error_state,
)
from camdeck.drivers.errors import CaptureTimeout, DriverError

STATUS_EVERY_S = 1.0          # table refresh period while streaming (redrawing the table is not free)
EXACT_EVERY_S = 10.0          # every row of the preview is drawn without the change threshold this often
MAX_TIMEOUTS = 5              # consecutive capture timeouts before the stream gives up


class CameraWorkers:
    """The Cameras tab's thread workers (see the module doc)."""

    @work(thread=True, exclusive=True, exit_on_error=False, group="probe")
    def _probe(self) -> None:
        """Open every rig camera once: state and controls for the table (one failure is one row).

        PTZ cameras are left closed until selected: they sit across deployments behind
        networks and tunnels, and connecting to a fleet at start would stall the console.
        """
        worker = get_current_worker()
        for name, spec in self.settings.cameras.items():
            if worker.is_cancelled:
                return
            if spec.kind == "ptz":
                continue
            try:
                with self.pool.use(name) as cam:
                    fields = control_fields(cam.controls())
                    dropped = int(cam.dropped_frames)
            except DriverError as err:
                self.post_message(CameraStatus(CameraState(name, spec.driver, spec.model, error_state(err),
                                                           detail=str(err)), probe=True))
                continue
            exposure, gain = fields
            self.post_message(CameraControls(name, exposure, gain))
            self.post_message(CameraStatus(CameraState(
                name, spec.driver, spec.model, "ready", exposure_us=exposure.value if exposure else None,
                gain=gain.value if gain else None, dropped=dropped), probe=True))

    @work(thread=True, exclusive=True, exit_on_error=False, group="stream")
    def _stream(self, name: str, request: PreviewRequest) -> None:
        """Capture ``name`` at the preview rate until cancelled (or ``frame_limit`` frames)."""
        worker = get_current_worker()
        spec = self.settings.cameras[name]
        with self.pool.use(name) as cam:
            self._streams[name] = worker
            cam.start()
            exposure, gain = control_fields(cam.controls())
        self.post_message(CameraControls(name, exposure, gain))
        meter, timeouts, frames = FpsMeter(), 0, 0
        last_status = 0.0
        sweep = ExactSweep(EXACT_EVERY_S)
        due = time.monotonic()
        try:
            while not worker.is_cancelled:
                with self.pool.use(name) as cam:   # CameraInUse when another tab borrowed it
                    self._apply_pending(name, cam)
                    try:
                        # The driver's own timeout follows the exposure (2 x exposure + 0.5 s),
                        # so a 30 s exposure previews slowly instead of timing out.
                        frame = cam.capture()
                    except CaptureTimeout:
                        timeouts += 1
                        if timeouts >= MAX_TIMEOUTS:
                            raise
                        frame = None
                        last_status = 0.0   # the next good frame reports "streaming" at once
                    dropped = int(cam.dropped_frames)
                if frame is None:
                    self.post_message(CameraStatus(CameraState(name, spec.driver, spec.model, "timeout",
                                                               dropped=dropped), source=worker))
                    continue
                timeouts = 0
                frames += 1
                fps = meter.add(frame.seq, frame.timestamp)
                done = self.frame_limit is not None and frames >= self.frame_limit
                status = _frame_state(name, spec, frame, fps, dropped, "ready" if done else "streaming")
                # Frames redraw every cell that moved at all one row at a time, round the picture
                # every EXACT_EVERY_S, so the drift the change threshold lets stand never lasts
                # (a whole exact frame every 10 s was a full repaint: at 8 KB/s 15 KB held every
                # key behind it for up to 2 s). The last frame of a stream that stops is exact
                # whole: it stays on screen, the same whichever frames were shown before.
                shown = request.shown
                rows = None if done else sweep.next(shown.rows if shown is not None else 0, time.monotonic())
                cells, stats = analyse_frame(frame, request, threshold=0 if done else None, exact_rows=rows)
                now = time.monotonic()
                if now - last_status >= STATUS_EVERY_S or done:
                    last_status = now
                else:
                    status = None
                self.post_message(PreviewFrame(name, cells, stats, status, source=worker))
                if done:
                    return
                # A fixed schedule keeps the average rate when one frame runs late.
                period = 1.0 / max(0.1, request.fps)
                due = max(due + period, time.monotonic() - period)
                _sleep_until(due, worker)
        finally:
            self._stop_stream(name, worker)

    def _stop_stream(self, name: str, worker: Worker) -> None:
        """Stop the camera, unless a newer stream took it over or a borrower has it."""
        try:
            with self.pool.use(name, open_missing=False) as cam:
                if cam is not None and self._streams.get(name) is worker:
                    del self._streams[name]
                    cam.stop()
        except DriverError:
            pass   # lent out (the pool stopped it), or gone: nothing to stop

    def _apply_pending(self, name: str, cam: Any) -> None:
        """Apply queued control edits (caller holds the camera's lock)."""
        with self._pending_lock:
            values = self._pending.pop(name, None)
        if not values:
            return
        try:
            cam.set_controls(**values)
        finally:
            exposure, gain = control_fields(cam.controls())
            self.post_message(CameraControls(name, exposure, gain))

    @work(thread=True, exit_on_error=False, group="controls")
    def _set_controls(self, name: str) -> None:
        """Apply edits to a camera that is not streaming (a streaming one applies them itself)."""
        with self.pool.use(name) as cam:
            self._apply_pending(name, cam)
