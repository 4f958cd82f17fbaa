"""The camdeck TUI: one App with five tabs. ``make_app`` is shared by ``camdeck tui`` and the tests.

Keys: 1-5 switch tabs, q and ctrl+c quit, ? shows the keys, ctrl+p opens the command palette
(themes, ASCII preview, pause), ctrl+s stops the recording from any tab, esc leaves a field.
A tab's own keys work whatever has the focus inside it (the app keeps the focus there: see
``on_mount``); ``--read-only`` turns off every key that records, moves or deletes (each tab's
``check_action``). A status line (widgets/status_header.py) tops every tab. The Cameras tab
streams only while it is shown.

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

Jobs outlive the terminal (console/tui/job_host.py): the tabs register their jobs in the data
folder's job records, so ``camdeck jobs`` and other consoles see them; when the terminal hangs
up, the UI ends but the process keeps its jobs to their planned end (tabs then do not stop them
on unmount). ``J`` opens the jobs screen (console/tui/screens/jobs.py): every job of the rig,
wherever it was started, and ``s`` stops one.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from camdeck.console.tui.camera_pool import CameraPool
from camdeck.console.tui.job_host import JobHost
from camdeck.console.tui.link import OPERATOR_FPS, LinkMonitor, terminal_depth
from camdeck.console.tui.terminal import too_small, too_small_message
from camdeck.console.tui.ui_state import save_theme, saved_theme
from camdeck.console.tui.screens.confirm import ConfirmQuit
from camdeck.console.tui.screens.help import HelpScreen
from camdeck.console.tui.tabs.calibration import CalibrationTab
from camdeck.console.tui.tabs.cameras import CamerasTab
from camdeck.console.tui.tabs.monitoring import MonitoringTab
from camdeck.console.tui.tabs.recording import RecordingTab
from camdeck.console.tui.tabs.reconstruction import ReconstructionTab
from camdeck.console.tui.widgets.footer import ConsoleFooter
from camdeck.console.tui.widgets.status_header import StatusHeader
from camdeck.themes import DEFAULT_THEME, STYLESHEET, THEME_NAMES, register_themes

# (pane id, key, title)
TABS: tuple[tuple[str, str, str], ...] = (
    ("cameras", "1", "Cameras"),
    ("recording", "2", "Recording"),
    ("calibration", "3", "Calibration"),
    ("reconstruction", "4", "Reconstruction"),
    ("monitoring", "5", "Monitoring"),
)

link_log = logging.getLogger("camdeck.console.tui.link")
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
        Binding("J", "jobs", "Jobs", show=False, tooltip="every job of the rig, from here or elsewhere; s stops one"),
        Binding("q", "quit", "Quit"),
        # ctrl+c quits through the same guard as q, from any widget (an Input would copy instead).
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
        # ctrl+s stops the recording (or cancels its countdown) whatever has the keyboard.
        Binding("ctrl+s", "stop_recording", "Stop", priority=True,
                tooltip="stop the recording, or cancel its countdown (from any tab or field)"),
        Binding("escape", "leave_field", "Leave the field", show=False,
                tooltip="leave a text field or a filter; close a dialog"),
    ]

    def __init__(self, settings, *, live: bool = True, frame_limit: int | None = None,
                 clock: Callable[[], int] | None = None, camera_opener: Callable | None = None,
                 preview_fps: float | None = None, theme: str | None = None, jobs=None,
                 host_root: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.job_host = JobHost(jobs)      # jobs: a console.jobs.JobRegistry, or None (nothing registered)
        self.read_only = bool(settings.console.read_only)
        self.host_root = host_root or Path("/")
        self.camera_pool = CameraPool(settings.cameras, settings.driver_context(clock), camera_opener)
        self._camera_options = dict(live=live, frame_limit=frame_limit, preview_fps=preview_fps)
        # The terminal link and the preview level it affords (console/tui/link.py); the Cameras
        # tab paces its frames by it and a status line shows link_monitor.summary().
        self.link_monitor = LinkMonitor(max_fps=preview_fps or settings.console.preview_fps,
                                        pinned_depth="ascii" if settings.console.ascii_preview else None)
        register_themes(self)
        # The theme the operator picked last (console/tui/ui_state.py) wins over the config's.
        wanted = theme or saved_theme(settings.console.theme) or settings.console.theme
        self.theme = wanted if wanted in self.available_themes else (
            settings.console.theme if settings.console.theme in THEME_NAMES else DEFAULT_THEME)
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
        yield StatusHeader(id="status-header")
        with TabbedContent(initial="cameras"):
            for pane, key, title in TABS:
                with TabBody(f"{key} {title}", id=pane):
                    yield bodies[pane]
        yield ConsoleFooter()
        yield Static("", id="too-small")

    def on_mount(self) -> None:
        self.job_host.attach(self)
        self._keep_tab_focus()
        self._check_size(self.size.width, self.size.height)
        self.theme_changed_signal.subscribe(self, self._keep_theme)
        if not self.is_headless:   # headless (Pilot): nothing is written, so nothing to pace
            self.link_monitor.set_limits(max_depth=terminal_depth(self.console.color_system))
            self.link_monitor.attach(self._driver)
            self.set_interval(1.0, self.link_monitor.tick)

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, cols: int, rows: int) -> None:
        """Below the minimum size, a message replaces the tabs (themes/camdeck.tcss: .-too-small)."""
        small = too_small(cols, rows)
        self.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(too_small_message(cols, rows))

    def _keep_theme(self, theme) -> None:
        save_theme(theme.name, self.settings.console.theme)

    def post_display_hook(self) -> None:
        # Every screen update is followed by a cursor-position query: its answer says it has drained.
        self.link_monitor.displayed()

    def on_cursor_position(self, event: events.CursorPosition) -> None:
        self.link_monitor.acknowledged(event.time)

    def _keep_tab_focus(self) -> None:
        # Keys that always work (docs/design.md, TUI): a tab's bindings fire only while the focus
        # is inside that tab, so the focus never leaves it. The tab strip takes no focus (Tab
        # cycles inside the shown tab; 1-5 switch tabs), and a focus lost to nothing (a field
        # disabled under it: ctrl+r disables the recording form) goes back to the tab.
        for strip in self.query_one(TabbedContent).query(Tabs):
            strip.can_focus = False
        self.watch(self.screen, "focused", self._focus_changed, init=False)

    def _focus_changed(self, focused: Widget | None) -> None:
        if focused is None and not self.quitting:
            self.call_later(self._refocus_shown_tab)

    def _refocus_shown_tab(self) -> None:
        body = self.active_body()
        if body is not None and self.screen is self._main_screen() and self.screen.focused is None:
            self._focus_tab(body.parent.id)

    def _main_screen(self) -> Screen:
        return self.screen_stack[0]

    def header_jobs(self) -> list[str]:
        """What the status header shows as running, from every tab (tab order)."""
        badges: list[str] = []
        for body in self._tab_bodies.values():
            badges += getattr(body, "header_badges", lambda: [])()
        return badges

    def output_folder(self) -> Path | None:
        """Where a running recording writes (the header watches that disk), else None."""
        body = self._tab_bodies.get("recording")
        return body.output_folder() if body is not None else None

    def active_body(self) -> Widget | None:
        """The shown tab's body (CamerasTab, RecordingTab, ...); None before the tabs exist."""
        if not self.screen_stack:
            return None
        tabs = self._main_screen().query(TabbedContent)
        return self._tab_bodies.get(tabs.first().active) if tabs else None

    def action_leave_field(self) -> None:
        """Esc: leave a form field (or a table filter) for the tab's own widget, so q and 1-5 work."""
        body = self.active_body()
        focused = self.screen.focused
        if body is None or focused is None or body not in focused.ancestors:
            return
        target = body.focus_target()
        if target is not None and focused is not target:
            self.screen.set_focus(target)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ctrl+s shows in the footer on every tab while a recording runs, dimmed on the
        Recording tab when none does, and nowhere else."""
        if action == "stop_recording":
            body = self._tab_bodies.get("recording")
            if body is not None and body.state not in ("idle", "stopping"):
                return True
            return None if self.active_body() is body else False
        return True

    def action_stop_recording(self) -> None:
        """ctrl+s from anywhere: stop the recording, or cancel its countdown."""
        body = self._tab_bodies.get("recording")
        if body is not None:
            body.action_stop()

    def on_unmount(self) -> None:
        link = self.link_monitor
        if link.attached:
            link_log.info("preview: %d frames shown, %d skipped behind the link; last mode %s",
                          link.frames_shown, link.frames_skipped, link.mode)
        # After every tab has unmounted (and cancelled its workers): close each camera once;
        # after a hang-up the jobs still use theirs: run_with_jobs closes them when they end.
        if not self.job_host.hung_up:
            self.camera_pool.close_all()

    def quit_for_signal(self) -> None:
        """SIGTERM without a stop request (systemd): stop every job cleanly and quit, no question asked."""
        if not self.quitting:
            self.run_worker(self._stop_jobs_and_exit(), group="quit", exclusive=True, exit_on_error=False)

    def action_jobs(self) -> None:
        """Show every job of the rig (started here, in another console or from the CLI)."""
        from camdeck.console.tui.screens.jobs import JobsScreen

        if self.job_host.registry is None:
            self.notify("no job records in this console", severity="warning", timeout=3)
        elif not isinstance(self.screen, JobsScreen):
            self.push_screen(JobsScreen(self.job_host))

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
            for depth, words in ((None, "automatic quality (follows the link)"), ("truecolor", "truecolor"),
                                 ("256", "256 colours"), ("ascii", "ASCII")):
                yield SystemCommand(f"Preview quality: {words}", "Colour depth of the camera preview (key m)",
                                    lambda depth=depth: tab.set_quality(depth))
            for fps in OPERATOR_FPS:
                yield SystemCommand(f"Preview rate: {fps:g} fps", "Most frames per second the camera preview "
                                    "draws; a thin link may lower it (keys - and +)",
                                    lambda fps=fps: tab.set_preview_fps(fps))
        yield SystemCommand("camdeck keys", "Show every key of the console (?)", self.action_help)
        yield SystemCommand("Jobs", "Running and recent jobs, from here or elsewhere; stop one (J)", self.action_jobs)


def make_app(settings, *, live: bool = True, frame_limit: int | None = None,
             clock: Callable[[], int] | None = None, camera_opener: Callable | None = None,
             preview_fps: float | None = None, theme: str | None = None, jobs=None,
             read_only: bool | None = None, host_root: Path | None = None) -> CamdeckApp:
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
        jobs: the JobRegistry the tabs register their jobs in (None: none registered).
        read_only: True turns off every key that records, moves a camera or deletes
            (``camdeck tui --read-only``); None: ``settings.console.read_only``.
        host_root: where the status header reads the Pi's health (``sys/...``); default ``/``
            (tests pass a fake sysfs tree).
    """
    if read_only is not None and read_only != settings.console.read_only:
        settings = replace(settings, console=replace(settings.console, read_only=read_only))
    return CamdeckApp(settings, live=live, frame_limit=frame_limit, clock=clock, camera_opener=camera_opener,
                      preview_fps=preview_fps, theme=theme, jobs=jobs, host_root=host_root)


def run_app(settings, *, read_only: bool | None = None) -> None:
    """Run the console in this terminal until the operator quits (``camdeck tui [--read-only]``); its
    jobs are registered under the data folder and outlive a hang-up (console/tui/job_host.py).

    Raises:
        the exception that crashed the app, once the terminal is restored (console/tui/crash.py):
        the CLI turns it into one line and keeps the trace in the TUI's log file.
    """
    from camdeck.console.jobs import JobRegistry
    from camdeck.console.tui.crash import crash_report
    from camdeck.console.tui.heap import tune_allocator
    from camdeck.console.tui.job_host import run_with_jobs

    tune_allocator()    # before any worker thread: frame buffers go back to the system when freed
    registry = JobRegistry(settings.data_dir)
    app = make_app(settings, jobs=registry, read_only=read_only)
    with crash_report(app):
        run_with_jobs(app, registry)
