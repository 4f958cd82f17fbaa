"""The Recording tab's presets: picked from a list, applied during a take through the session
(which logs each change with its time offset), saved per camera under a name a dialog asks for.

``PresetKeys`` is the tab's part for presets (ctrl+l, ctrl+o, the list, the news line); the
functions below do the driver work in its thread workers (drivers are blocking): apply to a
running take, save each camera's own controls (from the take's cameras, else borrowed from the
console's pool for the moment it takes to read them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rich.markup import escape
from textual import work
from textual.message import Message

from camdeck.console.tui.screens.confirm import ConfirmScreen
from camdeck.console.tui.screens.preset_name import PresetNameScreen


class PresetNews(Message):
    """A preset was applied or saved: one line for the operator (``saved``: the name to pick)."""

    def __init__(self, text: str, saved: str | None = None) -> None:
        super().__init__()
        self.text, self.saved = text, saved


class PresetKeys:
    """The Recording tab's preset keys and list (a mixin of RecordingTab: it uses the tab's
    ``settings``, ``session``, ``state``, ``pool``, ``preset_select``, ``cameras_input`` and ``status``).
    Worker failures reach the tab's one ``on_worker_state_changed``."""

    def reload_presets(self, pick: str | None = None) -> None:
        """Fill the preset list from the data folder; keep the pick (or pick ``pick``)."""
        keep = pick or self.selected_preset()
        choices = preset_choices(self.settings.data_dir)
        self.preset_select.set_options(choices)
        if keep in [name for _, name in choices]:
            self.preset_select.value = keep

    def selected_preset(self) -> str | None:
        """The preset picked in the list, or None."""
        value = self.preset_select.value
        return value if isinstance(value, str) else None

    def action_apply_preset(self) -> None:
        """ctrl+l: apply the picked preset to the take now, or say it applies when recording starts."""
        name = self.selected_preset()
        if name is None:
            self.notify("pick a preset in the list first (or save one with ctrl+o)", severity="warning", timeout=3)
        elif self.session is not None and self.state == "recording":
            self._preset_worker("apply", name)
        else:
            self.on_preset_news(PresetNews(f"preset {name!r} will be applied when recording starts"))

    def action_save_preset(self) -> None:
        """ctrl+o: ask for a name (and before replacing one), then save each camera's own controls."""
        if self.settings.console.read_only:
            return
        session = self.session
        cameras = [c.name for c in session.cameras] if session is not None and session.cameras else \
            [n.strip() for n in self.cameras_input.value.split(",") if n.strip()]
        existing = [name for _, name in preset_choices(self.settings.data_dir)]

        def save(name: str | None) -> None:
            if name is None:
                return
            if name not in existing:
                self._preset_worker("save", name)
                return
            self.app.push_screen(ConfirmScreen("replace preset", [f"preset {name!r} is saved already.",
                                                                  "Replace it with the cameras' controls now?"],
                                               yes="Replace", no="Keep"),
                                 lambda yes: self._preset_worker("save", name) if yes else None)

        self.app.push_screen(PresetNameScreen(cameras, existing, self.selected_preset() or ""), save)

    @work(thread=True, exit_on_error=False, group="presets")
    def _preset_worker(self, what: str, name: str) -> None:
        """Apply preset ``name`` to the running take, or save each camera's own controls under it."""
        from camdeck.drivers.registry import find_spec

        session = self.session
        if what == "apply":
            self.post_message(PresetNews(apply_during_take(session, self.settings.data_dir, name)))
            return
        names = [find_spec(self.settings.cameras, n.strip()).name
                 for n in self.cameras_input.value.split(",") if n.strip()]
        text = save_from_take_or_pool(self.settings.data_dir, name, session, self.pool, names)
        self.post_message(PresetNews(text, saved=name))

    def on_preset_news(self, message: PresetNews) -> None:
        self.status.update(escape(message.text))
        self.notify(escape(message.text), timeout=4)
        if message.saved is not None:
            self.reload_presets(pick=message.saved)


def preset_choices(data_dir: Path) -> list[tuple[str, str]]:
    """(label, name) for each saved preset, for the tab's list (a folder listing: cheap)."""
    from camdeck.drivers.recording.presets import PresetStore

    return [(name, name) for name in PresetStore(data_dir).names()]


def apply_during_take(session: Any, data_dir: Path, name: str) -> str:
    """Apply preset ``name`` to the running session's cameras; returns the line for the operator.

    Raises:
        PresetNotFound, BadPreset: the preset cannot be read (bad input, shown once by the tab).
        ControlError: a camera refused a value.
    """
    from camdeck.drivers.recording.presets import BETWEEN_TAKES, PresetStore

    preset = PresetStore(data_dir).load(name)
    held = preset.holds(BETWEEN_TAKES)       # the take keeps its frame rate
    done = session.apply_preset(preset.without(BETWEEN_TAKES))
    notes = [n.split(": ", 1)[1] for n in (d.note(name) for d in done) if n]
    if held:
        notes.append(f"{', '.join(held)} waits for the next take")
    applied = ", ".join(f"{d.camera} {len(d.applied)}" for d in done)
    return f"preset {name!r} applied live ({applied} controls)" + ("; " + "; ".join(notes) if notes else "")


def save_from_take_or_pool(data_dir: Path, name: str, session: Any, pool: Any, cameras: Sequence[str]) -> str:
    """Save each camera's own current controls as preset ``name``; returns the line for the operator.

    During a take the session's cameras are read (they are lent to it); otherwise ``cameras``
    are borrowed from the pool for the moment it takes to read them.

    Raises:
        BadPreset: an unsafe name. CameraInUse: a camera is lent elsewhere. OSError: the file
        cannot be written.
    """
    from camdeck.drivers.recording.presets import PresetStore

    store = PresetStore(data_dir)
    if session is not None and session.cameras:
        preset = session.save_preset(store, name)
    else:
        with pool.borrow(list(cameras), by="the preset editor") as cams:
            preset = store.save_from_cameras(name, cams)
    counts = ", ".join(f"{cam} {len(entry.controls)}" for cam, entry in preset.cameras.items())
    return f"saved preset {name!r}: each camera's own controls ({counts})"
