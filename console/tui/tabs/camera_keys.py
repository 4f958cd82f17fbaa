"""What the Cameras tab's keys do: exposure and gain steps, the camera form (and a reopen for a
new resolution), the table filter, pause, and the preview's quality and frame rate.

A mixin of ``CamerasTab`` (console/tui/tabs/cameras.py), which holds the state these use: the
pool, the table, the current camera, its control fields and the pending control values.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from textual import work

from camdeck.console.tui.link import step_fps
from camdeck.console.tui.messages import ControlField
from camdeck.console.tui.preview_level import DEPTHS
from camdeck.console.tui.screens.controls import show_controls_form, step_exposure, step_gain

QUALITIES = (None, "truecolor", "256", "ascii")   # `m` cycles: automatic, then each depth pinned


class CameraKeys:
    """The Cameras tab's key actions (see the module doc)."""

    def _edit(self, which: int, step: Callable[[ControlField, int], float | int], direction: int) -> None:
        name = self.current
        fields = self._fields.get(name) if name else None
        field = fields[which] if fields else None
        if field is None:
            self.notify(f"{name or 'no camera'}: this control cannot be changed now", severity="warning",
                        timeout=3)
            return
        value = step(field, direction)
        if value == field.value:
            return
        updated = ControlField(field.control, field.label, field.minimum, field.maximum, float(value),
                               field.integer)
        self._fields[name] = (updated, fields[1]) if which == 0 else (fields[0], updated)
        self.queue_controls(name, {field.control: value})

    def queue_controls(self, name: str, values: dict[str, Any]) -> None:
        """Ask for control values; the newest value of each control wins."""
        with self._pending_lock:
            self._pending.setdefault(name, {}).update(values)
        holder = self.pool.holder(name)
        if holder is not None:
            self.notify(f"{name} is in use by {holder}: the change applies when it comes back",
                        severity="warning", timeout=4)
            return
        state = self.table.state_of(name)
        if state is None or state.state != "streaming":
            self._set_controls(name)

    def action_exposure(self, direction: int) -> None:
        self._edit(0, step_exposure, direction)

    def action_gain(self, direction: int) -> None:
        self._edit(1, step_gain, direction)

    def action_edit_controls(self) -> None:
        """c: the camera form (every control with the driver's range, live on the preview)."""
        if self.current is None:
            self.notify("no camera selected", severity="warning", timeout=3)
            return
        if self.settings.cameras[self.current].kind == "ptz":   # its controls move it: the Monitoring tab's job
            self.notify(f"{self.current}: a PTZ camera moves from the Monitoring tab; it has no camera form",
                        severity="warning", timeout=4)
            return
        self._open_form(self.current)

    @work(thread=True, exit_on_error=False, group="controls")
    def _open_form(self, name: str) -> None:
        """Read what the camera form needs (driver calls), then show it on the UI thread."""
        from camdeck.console.tui.screens.control_fields import read_form_data

        holder = self.pool.holder(name)
        if holder is not None:
            self.app.call_from_thread(self.notify, f"{name} is in use by {holder}: its resolution and frame rate "
                                      "change between takes; ctrl+l on the Recording tab applies a preset now",
                                      severity="warning", timeout=6)
            return
        with self.pool.use(name) as cam:
            data = read_form_data(cam)
        self.app.call_from_thread(self._show_form, name, *data)

    def _show_form(self, name: str, controls: dict, size: Any, sizes: list) -> None:
        show_controls_form(self.app, name, controls, size, sizes,
                           apply=lambda values: self.queue_controls(name, values),
                           reopen=lambda resolution: self.reopen_camera(name, resolution))

    @work(thread=True, exit_on_error=False, group="controls")
    def reopen_camera(self, name: str, resolution: tuple[int, int]) -> None:
        """A new resolution (between takes): the pool reopens the camera with it; the preview follows.
        CameraInUse when a take holds it (shown by the Recording tab's form, which refuses it first)."""
        self.app.call_from_thread(self.workers.cancel_group, self, "stream")    # no capture on the old one
        self.pool.reopen(name, replace(self.pool.specs[name], resolution=resolution))
        self.app.call_from_thread(self._restart_stream)

    def action_filter(self) -> None:
        """/: show only the cameras matching what is typed (name, driver, state, ...)."""
        self.filter.open()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._restart_stream()

    def action_toggle_ascii(self) -> None:
        link = self.app.link_monitor
        self.set_quality(None if link.pinned_depth == "ascii" else "ascii")

    def action_cycle_quality(self) -> None:
        """m: automatic quality, then truecolor, 256 colours and ASCII pinned, in turn."""
        link = self.app.link_monitor
        index = QUALITIES.index(link.pinned_depth) if link.pinned_depth in QUALITIES else 0
        self.set_quality(QUALITIES[(index + 1) % len(QUALITIES)])

    def set_quality(self, depth: str | None) -> None:
        """Pin the preview's colour depth ('truecolor', '256', 'ascii'), or None to follow the link."""
        link = self.app.link_monitor
        if depth is not None and DEPTHS.index(depth) < DEPTHS.index(link.max_depth):
            self.notify(f"this terminal shows {link.max_depth} at best; fix: run it with "
                        "COLORTERM=truecolor or TERM=xterm-256color if it can show more", severity="warning",
                        timeout=5)
        link.set_limits(pinned_depth=depth)
        self.notify(f"preview: {'automatic quality' if depth is None else depth} ({link.mode})", timeout=2)

    def action_preview_fps(self, direction: int) -> None:
        """-/+: the preview's frame rate cap, one step down or up."""
        self.set_preview_fps(step_fps(self.app.link_monitor.max_fps, direction))

    def set_preview_fps(self, fps: float) -> None:
        """Cap the preview at ``fps`` frames per second (the link may lower it further)."""
        link = self.app.link_monitor
        link.set_limits(max_fps=fps)
        self.notify(f"preview: at most {fps:g} fps ({link.mode})", timeout=2)
