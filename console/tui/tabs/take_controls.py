"""The Recording tab's ``c``: the camera form (console/tui/screens/controls.py) of the camera under
the table's cursor, as the origin's camera popup was reachable while recording.

During a take the form reads the session's own camera, and every edit goes through the session
(``RecordingSession.apply_preset``, which logs each change with its time offset), never around
it; the resolution and frame-rate rows are disabled and the form says they change between
takes. Between takes the camera comes from the console's pool, edits are set directly, and a new
resolution reopens the camera (``CameraPool.reopen``). Driver calls run in thread workers; a
failure reaches the tab's one ``on_worker_state_changed``.
"""
from __future__ import annotations

from typing import Any

from textual import work

from camdeck.console.tui.screens.controls import show_controls_form


class TakeCameraForm:
    """A mixin of RecordingTab (it uses the tab's ``session``, ``pool``, ``table`` and ``notify``)."""

    def _cursor_camera(self) -> str | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # no row under the cursor (an empty or filtered table)
            return None

    def action_camera_form(self) -> None:
        """c: the camera form of the camera under the cursor (during a take too)."""
        name = self._cursor_camera()
        if name is None:
            self.notify("no camera in the table", severity="warning", timeout=3)
            return
        self._read_camera_form(name)

    def _take_camera(self, name: str) -> Any:
        """The running session's camera ``name``, or None between takes."""
        session = self.session
        if session is None:
            return None
        return next((cam for cam in list(session.cameras) if cam.name == name), None)

    @work(thread=True, exit_on_error=False, group="camera-form")
    def _read_camera_form(self, name: str) -> None:
        from camdeck.console.tui.screens.control_fields import read_form_data

        cam = self._take_camera(name)
        if cam is not None:
            data, running = read_form_data(cam), f"a take is running (session {self.session.request.session})"
        else:
            with self.pool.use(name) as pooled:
                data, running = read_form_data(pooled), ""
        self.app.call_from_thread(self._show_camera_form, name, data, running)

    def _show_camera_form(self, name: str, data: tuple, running: str) -> None:
        controls, size, sizes = data
        show_controls_form(self.app, name, controls, size, sizes, take_running=running,
                           apply=lambda values: self._apply_camera_form(name, values),
                           reopen=lambda resolution: self._reopen_camera(name, resolution))

    @work(thread=True, exit_on_error=False, group="camera-form")
    def _apply_camera_form(self, name: str, values: dict) -> None:
        """Set the form's edits: through the session during a take, on the pooled camera otherwise."""
        from camdeck.drivers.recording.presets import BETWEEN_TAKES, CameraPreset, Preset

        if self._take_camera(name) is not None:
            live = {k: v for k, v in values.items() if k not in BETWEEN_TAKES}   # the form refused those
            if live:
                self.session.apply_preset(Preset("camera form", cameras={name: CameraPreset("", live)}))
            return
        with self.pool.use(name) as cam:
            cam.set_controls(**values)

    def _reopen_camera(self, name: str, resolution: tuple[int, int]) -> None:
        """A new resolution between takes: the Cameras tab reopens the camera (it owns the preview
        stream that reads it); CameraInUse (said once) if a take started meanwhile."""
        self.app.cameras_tab.reopen_camera(name, resolution)
