"""The camdeck TUI: one App with five tabs. ``make_app`` is shared by ``camdeck tui`` and the tests.

Keys: 1-5 switch tabs, q quits, ? shows the keys, ctrl+p opens the command palette
(themes, ASCII preview, pause). The Cameras tab streams only while it is shown.

The app owns the open cameras (``camera_pool``, console/tui/camera_pool.py): each camera is
opened once, the Cameras tab previews it, other tabs borrow it, and the pool closes them all
when the app exits.

Quitting (q, ctrl+q) while a job runs (a recording or its countdown, the live reconstruction,
a fleet run, a calibration solve) first asks, naming the jobs (``ConfirmQuit``). Confirmed,
each tab stops its job cleanly (``stop_for_exit``: the recording finishes its files and its
data file says the operator stopped it, the fleet run stops at its next step) and the app
waits for those workers, at most ``QUIT_WAIT_S``, then exits. A tab with jobs has
``running_jobs() -> list[str]`` and ``stop_for_exit() -> list[Worker]``; each also stops its
job on unmount, and the pool waits (bounded) for lent cameras to come back before closing them.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable, Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

from camdeck.console.tui.camera_pool import CameraPool
from camdeck.console.tui.screens.confirm import ConfirmQuit
from camdeck.console.tui.screens.help import HelpScreen
from camdeck.console.tui.tabs.calibration import CalibrationTab
from camdeck.console.tui.tabs.cameras import CamerasTab
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.tabs.reconstruction import ReconstructionTab
from camdeck.console.tui.widgets.footer import ConsoleFooter
from camdeck.themes import DEFAULT_THEME, STYLESHEET, THEME_NAMES, register_themes

# (pane id, key, title)
TABS: tuple[tuple[str, str, str], ...] = (
    ("cameras", "1", "Cameras"),
    ("recording", "2", "Recording"),
    ("calibration", "3", "Calibration"),
    ("reconstruction", "4", "Reconstruction"),
    ("monitoring", "5", "Monitoring"),
)

QUIT_WAIT_S = 60.0      # the most the app waits for stopped jobs to finish before it exits anyway


class TabBody(TabPane):
    """A tab pane that does not re-activate itself when a widget inside it takes focus.

    Textual's TabPane tells its TabbedContent to show it whenever a descendant is
    focused. The app moves the focus itself on every switch (_focus_tab), so that
    message only does harm: arriving late, it switched back to a tab the operator had
    just left ("4 5" typed quickly).
    """

    def _on_descendant_focus(self, event) -> None:
        event.stop()


class CamdeckApp(App):
    """The console. Build it with ``make_app``."""

    TITLE = "camdeck"
    CSS_PATH = str(STYLESHEET)
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        *(Binding(key, f"show_tab('{pane}')", title, show=False) for pane, key, title in TABS),
        Binding("question_mark", "help", "Keys", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, settings, *, live: bool = True, frame_limit: int | None = None,
                 clock: Callable[[], int] | None = None, camera_opener: Callable | None = None,
                 preview_fps: float | None = None, theme: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.camera_pool = CameraPool(settings.cameras, settings.driver_context(clock), camera_opener)
        self._camera_options = dict(live=live, frame_limit=frame_limit, preview_fps=preview_fps)
        register_themes(self)
        wanted = theme or settings.console.theme
        self.theme = wanted if wanted in THEME_NAMES else DEFAULT_THEME
        self.cameras_tab: CamerasTab | None = None
        self._tab_bodies: dict[str, Widget] = {}
        self.quitting = False       # the jobs are being stopped; the app exits when they have finished

    def compose(self) -> ComposeResult:
        s, pool = self.settings, self.camera_pool
        self.cameras_tab = CamerasTab(s, pool=pool, **self._camera_options)
        bodies = {
            "cameras": self.cameras_tab,
            "recording": RecordingTab(s, pool=pool),
            "calibration": CalibrationTab(s, pool=pool),
            "reconstruction": ReconstructionTab(s, pool=pool),
            "monitoring": MonitoringTab(s),
        }
        self._tab_bodies = bodies
        with TabbedContent(initial="cameras"):
            for pane, key, title in TABS:
                with TabBody(f"{key} {title}", id=pane):
                    yield bodies[pane]
        yield ConsoleFooter()

    def on_unmount(self) -> None:
        # After every tab has unmounted (and cancelled its workers): close each camera once.
        self.camera_pool.close_all()

    # ---------------------------------------------------------------- quitting

    def running_jobs(self) -> list[str]:
        """What runs now and quitting would stop, one phrase per job (tab order)."""
        jobs: list[str] = []
        for body in self._tab_bodies.values():
            running = getattr(body, "running_jobs", None)
            if callable(running):
                jobs += running()
        return jobs

    async def action_quit(self) -> None:
        """Quit; while jobs run, ask first (y stops them cleanly, then quits)."""
        if self.quitting:
            self.notify("stopping the running jobs: camdeck quits when they have finished", timeout=3)
            return
        if isinstance(self.screen, ConfirmQuit):
            return
        jobs = self.running_jobs()
        if not jobs:
            self.exit()
            return

        def answer(confirmed: bool | None) -> None:
            if confirmed:
                self.run_worker(self._stop_jobs_and_exit(), group="quit", exclusive=True, exit_on_error=False)

        self.push_screen(ConfirmQuit(jobs), answer)

    async def _stop_jobs_and_exit(self) -> None:
        self.quitting = True
        jobs = self.running_jobs()
        workers = []
        for body in self._tab_bodies.values():
            stop = getattr(body, "stop_for_exit", None)
            if callable(stop):
                workers += stop()
        if jobs:
            self.notify("stopping " + "; ".join(jobs), title="quitting", timeout=QUIT_WAIT_S)
        deadline = time.monotonic() + QUIT_WAIT_S
        while any(not w.is_finished for w in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.exit()

    def action_show_tab(self, pane: str) -> None:
        self.query_one(TabbedContent).active = pane
        # Focus now, not when the TabActivated message arrives: a key typed in the same
        # burst as the tab key ("4 r" over SSH) must reach the new tab.
        self._focus_tab(pane)

    def _focus_tab(self, pane: str) -> None:
        """Give the keyboard to the shown tab's own widget (each tab names it in focus_target)."""
        body = self._tab_bodies.get(pane)
        widget = body.focus_target() if body is not None else None
        focused = self.screen.focused
        if widget is not None and (focused is None or body not in focused.ancestors_with_self):
            self.screen.set_focus(widget)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if self.cameras_tab is not None:
            self.cameras_tab.set_active(event.pane.id == "cameras")
        self._focus_tab(event.pane.id)   # also a click on a tab header or the palette

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane, key, title in TABS:
            yield SystemCommand(f"Go to {title}", f"Show the {title} tab (key {key})",
                                lambda pane=pane: self.action_show_tab(pane))
        tab = self.cameras_tab
        if tab is not None:
            yield SystemCommand("Preview: ASCII / colour", "Switch the camera preview between half-block "
                                "colour and plain ASCII", tab.action_toggle_ascii)
            yield SystemCommand("Preview: pause / resume", "Stop or restart the live camera preview",
                                tab.action_toggle_pause)
        yield SystemCommand("camdeck keys", "Show every key of the console (?)", self.action_help)


def make_app(settings, *, live: bool = True, frame_limit: int | None = None,
             clock: Callable[[], int] | None = None, camera_opener: Callable | None = None,
             preview_fps: float | None = None, theme: str | None = None) -> CamdeckApp:
    """Build the console for ``settings`` (console.config.Settings).

    Args:
        live: stream the previewed camera until told otherwise; False captures ``frame_limit``
            frames (default 1) and stops, so screenshots are the same on every run.
        frame_limit: stop each preview stream after this many frames (None: never, when live).
        clock: monotonic ns clock handed to the drivers (simulated time in tests).
        camera_opener: ``(spec, ctx) -> Camera``, with which the app's camera pool opens each
            camera once; default ``drivers.registry.open_camera``.
        preview_fps: preview rate cap; default ``settings.console.preview_fps``.
        theme: theme name; default ``settings.console.theme``.
    """
    return CamdeckApp(settings, live=live, frame_limit=frame_limit, clock=clock, camera_opener=camera_opener,
                      preview_fps=preview_fps, theme=theme)


def run_app(settings) -> None:
    """Run the console in this terminal until the operator quits (``camdeck tui``)."""
    from camdeck.console.tui.heap import tune_allocator
    tune_allocator()    # before any worker thread: frame buffers go back to the system when freed
    make_app(settings).run()
