"""The Calibration tab: capture chessboard views from a camera or a stereo pair, watch the
coverage fill, solve, save.

Keys (footer): c capture a view, s solve, w save the set and the result, t next target
(a stereo rig or a single camera), x clear the set. t and x ask before they discard captured
views; read-only (``camdeck tui --read-only``) turns x and w off, and t while views are held.

Threads: every driver call and every solve runs in a thread worker; workers post the
messages below and never touch a widget; widgets never touch a driver. One
``on_worker_state_changed`` turns every worker failure into one visible error.

Cameras: each capture borrows the target's cameras from the app's CameraPool for that one
capture, so the Cameras tab previews them between captures; a camera busy elsewhere (a
recording) is refused with the holder's name.

Who moves the board is the cameras' business (drivers.base.calibration_target): a simulated
camera poses its own board at a new pose for every capture; on real cameras the operator moves
the board between captures. The tab never asks which kind of camera it holds.

Quitting during a solve: the app asks first (``running_jobs``); ``stop_for_exit`` makes the
solve stop at its next progress step (a view detected, a round solved) and the app waits for
the workers. Unmounting cancels the workers, which stops the solve the same way.
"""
from __future__ import annotations

from rich.markup import escape   # error text is shown verbatim: 'camdeck[fleet]' is not markup
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from camdeck.console.tui.camera_pool import CameraPool
from camdeck.console.tui.tabs.calibration_model import (CapturedView, SetSaved, Solved, SolveProgress,
                                                        SolveStopped, Target, ViewCaptured, _OnLoan,
                                                        result_text, targets_of)
from camdeck.console.tui.widgets.calibration_coverage import CoverageView
from camdeck.console.tui.widgets.preview import PreviewView

BOARD_SPEC = ("9x6", 25.0)          # inner corners, square size in mm
MIN_VIEWS = 5
COVERAGE_GRID = (6, 16)             # heat-map rows x cols: fits 80x24 beside the preview
CAPTURE_TIMEOUT_S = 5.0


class CalibrationTab(Vertical):
    """Capture, coverage, solve and save for the configured cameras."""

    can_focus = True

    BINDINGS = [
        Binding("c", "capture", "Capture"),
        Binding("s", "solve", "Solve"),
        Binding("w", "save", "Save"),
        Binding("t", "next_target", "Target"),
        Binding("x", "clear", "Clear"),
    ]

    DEFAULT_CSS = """
    CalibrationTab {
        height: 1fr;
    }
    CalibrationTab > #calib-status {
        height: 1;
        padding: 0 1;
    }
    CalibrationTab > Horizontal {
        height: 1fr;
    }
    CalibrationTab #calib-side {
        width: 38;
        height: 1fr;
    }
    CalibrationTab ProgressBar {
        padding: 0 1;
        height: 1;
    }
    CalibrationTab #calib-result {
        padding: 0 1;
        height: auto;
    }
    """

    def __init__(self, settings, *, pool: CameraPool, **kwargs) -> None:
        super().__init__(**kwargs)
        from camdeck.calibration.chessboard import Board

        self.settings = settings
        self.board = Board.parse(*BOARD_SPEC)
        self.targets = targets_of(settings)
        self.target_index = 0
        self.views: list[CapturedView] = []
        self.result: Any = None
        self.result_target: str | None = None
        self.last_error = ""
        self.saved_to: Path | None = None
        self.solving = False
        self.pool = pool                # the app's open cameras; each capture borrows its target's
        self._preview_size = (40, 12)
        self._ascii = bool(settings.console.ascii_preview)
        self._boards: dict[str, Any] = {}      # boards that move themselves, by target (capture worker only)
        self._capture: Worker | None = None    # one capture at a time: a second would find the cameras lent
        self._coverage = None
        self._stop_solve = threading.Event()

    # ---------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        self.status = Static("", id="calib-status")
        self.preview = PreviewView(id="calib-preview")
        self.coverage_view = CoverageView(id="calib-coverage")
        self.progress = ProgressBar(total=None, show_eta=False, id="calib-progress")
        self.result_view = Static("", id="calib-result")
        yield self.status
        with Horizontal():
            yield self.preview
            with Vertical(id="calib-side"):
                yield self.coverage_view
                yield self.progress
                yield self.result_view

    def on_mount(self) -> None:
        self.progress.display = False
        self._reset_set()
        self.preview.show_message("c: capture a view with the chessboard in sight" if self.targets
                                  else "no camera to calibrate in this config")


    def focus_target(self):
        """The widget that takes the keyboard when this tab is shown (the app focuses it)."""
        return self

    def on_unmount(self) -> None:
        self._stop_solve.set()
        self.workers.cancel_node(self)

    # ---------------------------------------------------------------- quitting (the app asks)

    def running_jobs(self) -> list[str]:
        """What quitting would stop, one phrase each (a capture is short: it is waited for, not named)."""
        if not self.solving:
            return []
        target = self.target
        return [f"a calibration solve ({target.label if target else '?'}, {len(self.views)} views)"]

    def header_badges(self) -> list[str]:
        """The status header's words for a solve (none otherwise)."""
        return [f"SOLVE {len(self.views)} views"] if self.solving else []

    def stop_for_exit(self) -> list[Worker]:
        """Stop a solve at its next step; returns the workers to wait for (captures, saves too)."""
        self._stop_solve.set()
        return [w for w in self.app.workers if w.node is self and not w.is_finished]

    @property
    def target(self) -> Target | None:
        return self.targets[self.target_index] if self.targets else None

    def _reset_set(self) -> None:
        from camdeck.calibration.coverage import Coverage

        self.views = []
        self.result = None
        size = self._sensor_size()
        self._coverage = Coverage(self.board, size, grid=COVERAGE_GRID) if size else None
        self._show_coverage()
        self.result_view.update("")
        self._show_status()

    def _sensor_size(self) -> tuple[int, int] | None:
        target = self.target
        if target is None:
            return None
        spec = self.settings.cameras[target.cameras[0]]
        return tuple(spec.resolution) if spec.resolution else (1920, 1080)

    def _show_status(self, note: str = "") -> None:
        target = self.target
        name = target.label if target else "none"
        text = f"[b]{name}[/b]  board {self.board.label} {self.board.square_mm:g} mm  views {len(self.views)}"
        if note:
            text += f"  [dim]|[/dim] {note}"
        self.status.update(text)

    def _show_coverage(self) -> None:
        cov = self._coverage
        if cov is None:
            self.coverage_view.update("")
            return
        self.coverage_view.show(cov.heat, cov.bars(), cov.n_views, cov.filled, ascii=self._ascii)

    def on_preview_view_resized(self, event: PreviewView.Resized) -> None:
        self._preview_size = (max(4, event.cols), max(2, event.rows))

    # ---------------------------------------------------------------- actions
    def action_capture(self) -> None:
        if self.target is None or (self._capture is not None and not self._capture.is_finished):
            return
        self._show_status("capturing...")
        self._capture = self._capture_worker(self.target, self._preview_size, self._ascii)

    def action_solve(self) -> None:
        target = self.target
        if target is None or self.solving or getattr(self.app, "quitting", False):
            return
        if len(self.views) < MIN_VIEWS:
            self._show_status(f"need {MIN_VIEWS} views to solve, have {len(self.views)}")
            return
        self.solving = True
        self._stop_solve.clear()
        self.progress.display = True
        self.progress.update(total=None, progress=0)
        self._show_status("solving...")
        self._solve_worker(target, list(self.views))

    def action_save(self) -> None:
        if self.settings.console.read_only:
            return
        if self.target is None or not self.views:
            self._show_status("nothing to save: capture views first")
            return
        result = self.result if self.result_target == self.target.key else None
        self._save_worker(self.target, list(self.views), result)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only (``camdeck tui --read-only``): no key deletes views or writes files."""
        if self.settings.console.read_only:
            if action in ("clear", "save"):
                return False
            if action == "next_target" and self.views:
                return False
        return True

    def action_next_target(self) -> None:
        if not self.targets or self.solving:
            return
        self._discard_then(self._next_target, "switch to the next target")

    def _next_target(self) -> None:
        self.target_index = (self.target_index + 1) % len(self.targets)
        self._reset_set()
        self.preview.show_message("c: capture a view with the chessboard in sight")

    def action_clear(self) -> None:
        if not self.solving and self.views:
            self._discard_then(self._reset_set, "clear the set")

    def _discard_then(self, then, what: str) -> None:
        """Run ``then``; when it would discard captured views, ask first (no undo)."""
        if not self.views:
            then()
            return
        if self.settings.console.read_only:
            self.notify("read-only: captured views are kept", severity="warning", timeout=3)
            return
        from camdeck.console.tui.screens.confirm import ConfirmScreen

        n = len(self.views)
        lines = [f"{what[0].upper()}{what[1:]}: this discards the {n} captured view{'s' * (n != 1)}.",
                 "There is no undo. Discard them? (y / n)"]

        def answer(discard: bool | None) -> None:
            if discard and not self.solving:
                then()

        self.app.push_screen(ConfirmScreen("discard the views?", lines, yes="Discard", no="Keep",
                                           yes_id="discard", no_id="keep"), answer)

    # ---------------------------------------------------------------- workers (threads)
    def _target_for(self, key: str, cams: list[Any]) -> Any:
        """Who moves the board is the cameras' business (drivers.base.calibration_target). A board
        that moves itself is kept per target, so its poses go on advancing from view to view; it
        sees each capture's loan through stand-ins, and is rebuilt when the pool reopened a camera."""
        from camdeck.drivers.base import calibration_target

        identities = [c.identity for c in cams]
        held = self._boards.get(key)
        if held is not None and held[0] == identities:
            for stand_in, cam in zip(held[2], cams):
                stand_in.lent = cam
            return held[1]
        stand_ins = [_OnLoan(cam) for cam in cams]
        board_target = calibration_target(stand_ins, self.board,
                                          lambda timeout_s: [cam.capture(timeout_s) for cam in stand_ins])
        if board_target.moves_itself:
            self._boards[key] = (identities, board_target, stand_ins)
        return board_target

    @work(thread=True, exclusive=True, group="calibration-capture", exit_on_error=False)
    def _capture_worker(self, target: Target, size: tuple[int, int], ascii: bool) -> None:
        from camdeck.calibration.chessboard import detect_chessboard, draw_detection
        from camdeck.console.render import render_rgb

        with self.pool.borrow(target.cameras, by="calibration") as cams:
            for cam in cams:
                cam.start()
            frames = self._target_for(target.key, cams).next_views(CAPTURE_TIMEOUT_S)
        detections = [detect_chessboard(f.array, self.board, pixel_format=f.format) for f in frames]
        pictures = [draw_detection(f.array, d, self.board, pixel_format=f.format) for f, d in zip(frames, detections)]
        picture = np.concatenate(pictures, axis=1) if len(pictures) > 1 else pictures[0]
        cells = render_rgb(picture, size[0], size[1], ascii=ascii)
        self.post_message(ViewCaptured(target.key, [f.array for f in frames], [f.format for f in frames],
                                       detections, cells))

    @work(thread=True, exclusive=True, group="calibration-solve", exit_on_error=False)
    def _solve_worker(self, target: Target, views: list[CapturedView]) -> None:
        worker = get_current_worker()

        def progress(stage: str, done: int, total: int) -> None:
            if self._stop_solve.is_set() or worker.is_cancelled:
                raise SolveStopped("the solve was stopped")
            self.post_message(SolveProgress(stage, done, total))

        names = [f"view_{i:03d}" for i in range(len(views))]
        if target.stereo:
            from camdeck.calibration.stereo import calibrate_stereo

            result = calibrate_stereo([(n, v.arrays[0]) for n, v in zip(names, views)],
                                      [(n, v.arrays[1]) for n, v in zip(names, views)], self.board,
                                      min_pairs=MIN_VIEWS, pixel_format=views[0].formats[0], progress=progress)
        else:
            from camdeck.calibration.intrinsics import calibrate_intrinsics

            result = calibrate_intrinsics([(n, v.arrays[0]) for n, v in zip(names, views)], self.board,
                                          min_views=MIN_VIEWS, pixel_format=views[0].formats[0], progress=progress)
        self.post_message(Solved(target.key, result))

    @work(thread=True, exclusive=True, group="calibration-save", exit_on_error=False)
    def _save_worker(self, target: Target, views: list[CapturedView], result: Any) -> None:
        from camdeck.drivers.base import Frame
        from camdeck.drivers.imaging import frame_to_rgb, write_image_atomic

        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = Path(self.settings.data_dir) / "calibration" / f"{target.key.split(':', 1)[1]}-{stamp}"
        folder.mkdir(parents=True, exist_ok=True)
        sides = ("left", "right") if target.stereo else ("view",)
        files = 0
        for i, view in enumerate(views):
            for side, array, fmt in zip(sides, view.arrays, view.formats):
                rgb = frame_to_rgb(Frame(array, 0, i, target.cameras[0], {"format": fmt}))
                write_image_atomic(folder / f"{side}_{i:03d}.png", rgb)
                files += 1
        if result is not None:
            if target.stereo:
                from camdeck.calibration.stereo import save_stereo
                save_stereo(folder / "stereo.npz", result)
            else:
                from camdeck.calibration.intrinsics import save_calibration
                save_calibration(folder / "calibration.npz", result)
            files += 1
        self.post_message(SetSaved(folder, files))

    # ---------------------------------------------------------------- messages (UI thread)
    def on_view_captured(self, message: ViewCaptured) -> None:
        if self.target is None or message.target != self.target.key:
            return                                   # a capture for a target no longer shown
        self.preview.show_cells(message.cells)
        missing = [d.reason for d in message.detections if not d.found]
        if missing:
            self._show_status(f"view rejected: {missing[0]}")
            return
        corners = message.detections[0].corners
        self.views.append(CapturedView(list(message.arrays), list(message.formats), corners))
        if self._coverage is not None:
            h, w = message.arrays[0].shape[:2]
            if self._coverage.image_size != (w, h):
                from camdeck.calibration.coverage import Coverage

                self._coverage = Coverage(self.board, (w, h), grid=COVERAGE_GRID)
                for view in self.views:
                    self._coverage.add(view.corners)
            else:
                self._coverage.add(corners)
        self._show_coverage()
        ready = self._coverage is not None and self._coverage.good_enough(min_views=MIN_VIEWS * 2)
        self._show_status("board found" + ("; coverage is good: s to solve" if ready else ""))

    def on_solve_progress(self, message: SolveProgress) -> None:
        self.progress.update(total=max(1, message.total), progress=message.done)
        self._show_status(f"solving: {message.stage} {message.done}/{message.total}")

    def on_solved(self, message: Solved) -> None:
        self.solving = False
        self.progress.display = False
        self.result, self.result_target = message.result, message.target
        self.result_view.update(result_text(message.result))
        self._show_status("solved; w saves the set and the result")

    def on_set_saved(self, message: SetSaved) -> None:
        self.saved_to = message.folder
        self._show_status(f"saved {message.files} files to {message.folder}")
        self.notify(f"saved {message.files} files to {message.folder}", title="calibration")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place a worker failure becomes something the operator sees."""
        if event.state != WorkerState.ERROR:
            return
        if event.worker.group == "calibration-solve":
            self.solving = False
            self.progress.display = False
        err = event.worker.error
        if isinstance(err, SolveStopped):
            self._show_status("solve stopped")
            return
        text = " ".join((str(err) or type(err).__name__).split())
        self.last_error = text
        self._show_status(f"[b]error:[/b] {escape(text)}")
        self.notify(escape(text), title=type(err).__name__, severity="error", timeout=8)
