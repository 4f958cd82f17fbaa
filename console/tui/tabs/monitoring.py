"""The Monitoring tab: the PTZ fleet's mount offsets, their history, and fleet runs on a key.

Top: one row per configured PTZ camera with its newest result. Middle: the highlighted
camera's offsets over time (a sparkline per axis) and its history table, rows over the alert
threshold highlighted. Bottom: the run's live progress.

Keys: ``r`` runs the highlighted camera now, ``f`` runs the whole fleet (after a confirm),
``a`` switches between passive and active runs (to active after a confirm: active runs move
the cameras), ``l`` reloads the history (another process, e.g. cron, may have written it).
Read-only (``camdeck tui --read-only``) turns r, f and a off. ``/`` filters the fleet table,
j/k move in the tables, enter on a row shows that result in full (``RecordDetail``: a
failure's whole reason and its fix); a failed run also raises a toast with the whole reason.

Threads: history reads and fleet runs run in thread workers (monitoring.history,
monitoring.fleet); they post the messages below and never touch a widget. One
``on_worker_state_changed`` turns a worker failure into one visible error.

Quitting during a run: the app asks first (``running_jobs``), then ``stop_for_exit`` sets the
run's stop event (monitoring.fleet: checked before each device and at each step inside one)
and the app waits for the worker. The devices not reached are skipped, not failed: no history
row. Unmounting sets the event too (a safety net).
"""
from __future__ import annotations

from rich.markup import escape   # error text is shown verbatim: 'camdeck[fleet]' is not markup
import threading
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, ProgressBar, Static
from textual.worker import Worker, WorkerState

from camdeck.console.tui.screens.confirm import ConfirmScreen
from camdeck.console.tui.screens.record_detail import RecordDetail
from camdeck.console.tui.widgets.monitoring_plot import OffsetsPlot
from camdeck.console.tui.widgets.monitoring_tables import FleetTable, HistoryTable
from camdeck.console.tui.widgets.table_filter import TableFilter

READ_ONLY_OFF = ("run_device", "run_fleet", "toggle_active")   # keys read-only turns off
HISTORY_LIMIT = 200
RELOAD_EVERY_S = 30.0

# Fraction of one device's run reached at the start of each stage (for the progress bar).
_STAGE_AT = {"start": 0.0, "reference": 0.05, "move": 0.1, "capture": 0.1, "offsets": 0.5, "store": 0.9,
             "notify": 0.95, "done": 1.0, "failed": 1.0}
_STAGE_SPAN = {"move": 0.4, "capture": 0.4, "offsets": 0.4}


class HistoryLoaded(Message):
    """A worker read the history: every camera's newest record, and one camera's records (newest first)."""

    def __init__(self, latest: dict, device: str | None, records: list) -> None:
        super().__init__()
        self.latest = latest
        self.device = device
        self.records = records


class RunProgress(Message):
    """One step of a fleet run (monitoring.fleet_report.FleetProgress)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        # A newer step of the same stage supersedes this one; "done"/"failed" are never dropped.
        return (isinstance(message, RunProgress) and message.event.device == self.event.device
                and message.event.stage == self.event.stage and self.event.stage not in ("done", "failed"))


class RunFinished(Message):
    """A fleet run ended: its ``FleetReport.to_dict()``."""

    def __init__(self, report: dict) -> None:
        super().__init__()
        self.report = report


def run_fraction(event: Any) -> float:
    """How far a whole run is, 0..1, from one progress event."""
    at = _STAGE_AT.get(event.stage, 0.0)
    if event.total and event.stage in _STAGE_SPAN:
        at += _STAGE_SPAN[event.stage] * min(1.0, event.done / event.total)
    return (event.index + at) / max(1, event.count)


class MonitoringTab(Vertical):
    """The fleet, one camera's offsets over time, and runs on a key."""

    DEFAULT_CSS = """
    MonitoringTab {
        height: 1fr;
    }
    MonitoringTab #monitoring-status {
        height: 1;
        padding: 0 1;
    }
    MonitoringTab #monitoring-run {
        height: 1;
        padding: 0 1;
    }
    MonitoringTab #monitoring-run ProgressBar {
        width: 30;
    }
    MonitoringTab #monitoring-run-label {
        width: 1fr;
    }
    """

    BINDINGS = [
        Binding("r", "run_device", "Run camera"),
        Binding("f", "run_fleet", "Run fleet"),
        Binding("a", "toggle_active", "Passive/active"),
        Binding("l", "reload", "Reload"),
        Binding("slash", "filter", "Filter", key_display="/",
                tooltip="filter the table as you type; enter keeps the filter, esc clears it"),
    ]

    def __init__(self, settings, **kwargs) -> None:
        super().__init__(**kwargs)
        from camdeck.monitoring.fleet import fleet_devices

        self.settings = settings
        self.threshold_deg = float(settings.slack.alert_threshold_deg)
        self.devices = [d.id for d in fleet_devices(settings)]
        self.active = False
        self.running = False
        self.last_report: dict | None = None
        self.events: list[Any] = []          # the current run's progress, newest last
        self.fleet = FleetTable(self.devices, self.threshold_deg, id="monitoring-fleet")
        self.plot = OffsetsPlot(self.threshold_deg, ascii_only=settings.console.ascii_preview, id="monitoring-plot")
        self.history = HistoryTable(self.threshold_deg, id="monitoring-history")
        self.filter = TableFilter(self.fleet, id="monitoring-filter")
        self.status = Static("", id="monitoring-status")
        self.progress = ProgressBar(total=1.0, show_eta=False, id="monitoring-progress")
        self.run_label = Static("", id="monitoring-run-label")
        self._shown_device: str | None = None
        self._run_what = ""
        self._run_device: str | None = None
        self._stop_run = threading.Event()  # the current run's stop (a fresh one per run)

    def compose(self) -> ComposeResult:
        yield self.fleet
        yield self.filter
        yield self.plot
        yield self.history
        with Horizontal(id="monitoring-run"):
            yield self.progress
            yield self.run_label
        yield self.status

    def on_mount(self) -> None:
        self._show_mode()
        self.run_label.update("" if self.devices else "no PTZ cameras configured")
        self.action_reload()
        self.set_interval(RELOAD_EVERY_S, self._reload_if_idle)


    def on_unmount(self) -> None:
        if getattr(getattr(self.app, "job_host", None), "hung_up", False):
            return              # the terminal hung up: the run goes on to its end
        self._stop_run.set()    # safety net: a run still going stops at its next step

    # ---------------------------------------------------------------- quitting (the app asks)

    def running_jobs(self) -> list[str]:
        """What quitting would stop, one phrase each (none when no run is going)."""
        if not self.running:
            return []
        done = sum(1 for e in self.events if e.stage in ("done", "failed"))
        count = self.events[-1].count if self.events else 0
        return [f"a fleet run ({self._run_what}{f', {done} of {count} done' if count else ''})"]

    def header_badges(self) -> list[str]:
        """The status header's words for a run: FLEET (or RUN for one camera) and how far."""
        if not self.running:
            return []
        label = "FLEET" if self._run_device is None else f"RUN {self._run_device.rpartition('/')[2]}"
        done = sum(1 for e in self.events if e.stage in ("done", "failed"))
        count = self.events[-1].count if self.events else 0
        return [f"{label} {done}/{count}" if count else label]

    def stop_for_exit(self) -> list[Worker]:
        """Stop the run at its next step; returns the workers to wait for."""
        self._stop_run.set()
        if self.running:
            self.run_label.update("quitting: stopping the run…")
        return [w for w in self.app.workers if w.node is self and not w.is_finished]

    def focus_target(self):
        """The widget that takes the keyboard when this tab is shown (the app focuses it)."""
        return self.fleet

    # ---------------------------------------------------------------- keys

    def action_filter(self) -> None:
        """/: show only the fleet's cameras matching what is typed (device, mode, result)."""
        self.filter.open()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """enter on a row: the result in full (a failure's whole reason and fix)."""
        event.stop()
        if event.data_table is self.history:
            self.show_detail(self.history.selected_record())
        elif event.data_table is self.fleet and self.fleet.selected:
            self.show_detail(self.fleet.latest.get(self.fleet.selected))

    def show_detail(self, record) -> None:
        if record is None:
            self.app.notify("no result to show: this camera has not run yet", timeout=3)
            return
        self.app.push_screen(RecordDetail(record, self.threshold_deg))

    def action_reload(self) -> None:
        self.load_history(self.fleet.selected if self.fleet.row_count else (self.devices[0] if self.devices else None))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Read-only (``camdeck tui --read-only``): runs write history and active runs move cameras."""
        if self.settings.console.read_only and action in READ_ONLY_OFF:
            return False
        return True

    def action_toggle_active(self) -> None:
        """a: passive -> active asks first (active runs drive the cameras); back to passive at once."""
        if self.settings.console.read_only:
            return
        if self.active:
            self.active = False
            self._show_mode()
            return

        def answer(yes: bool | None) -> None:
            if yes:
                self.active = True
                self._show_mode()

        self.app.push_screen(ConfirmScreen("switch to active runs?", [
            "Active runs drive each camera to its reference stops: the cameras move,",
            "and whatever they were watching is left until the run ends.",
            "Switch to active? (y / n)"], yes="Active", no="Stay passive", yes_id="active", no_id="passive"), answer)

    def action_run_device(self) -> None:
        if self.settings.console.read_only:
            return
        device = self.fleet.selected
        if device is None:
            self.app.notify("no PTZ camera to run", severity="warning")
            return
        self._start_run(device)

    def action_run_fleet(self) -> None:
        """f: run every camera of the fleet, after a confirm naming how many and in which mode."""
        if self.settings.console.read_only:
            return
        if not self.devices:
            self.app.notify("no PTZ cameras configured", severity="warning")
            return
        if self.running:
            self.app.notify("a run is already going; wait for it to finish", severity="warning")
            return
        n, mode = len(self.devices), "active" if self.active else "passive"
        moves = ("each camera moves to its reference stops" if self.active
                 else "each camera is captured where it stands")
        lines = [f"Run all {n} camera{'s' * (n != 1)} of the fleet, {mode}: {moves};",
                 "results go to the history and alerts are sent.", "Start the fleet run? (y / n)"]

        def answer(yes: bool | None) -> None:
            if yes:
                self._start_run(None)

        self.app.push_screen(ConfirmScreen("run the whole fleet?", lines, yes="Run", no="Cancel",
                                           yes_id="run", no_id="cancel"), answer)

    def _start_run(self, device: str | None) -> None:
        if getattr(self.app, "quitting", False):
            return      # the console is stopping its jobs to quit: start nothing new
        if self.running:
            self.app.notify("a run is already going; wait for it to finish", severity="warning")
            return
        self.running = True
        self.events = []
        self._run_what = f"{'active' if self.active else 'passive'}, {device or 'the fleet'}"
        self._run_device = device
        self._stop_run = threading.Event()
        self.progress.update(total=1.0, progress=0.0)
        self.run_label.update(f"starting {'active' if self.active else 'passive'} run of {device or 'the fleet'}")
        self.run_fleet_worker(device, self.active, self._stop_run)

    def _show_mode(self) -> None:
        mode = "[b]active[/b]: drives to reference stops" if self.active else \
            "[b]passive[/b]: captures where the camera stands"
        self.status.update(f"runs are {mode} (a switches)")

    def _reload_if_idle(self) -> None:
        if not self.running:
            self.action_reload()

    # ---------------------------------------------------------------- workers (threads)

    @work(thread=True, exclusive=True, group="monitoring-history", exit_on_error=False)
    def load_history(self, device: str | None) -> None:
        """Read every camera's newest result and ``device``'s history; post HistoryLoaded."""
        from camdeck.monitoring.history import HistoryStore

        store = HistoryStore.from_settings(self.settings.storage, self.settings.data_dir)
        latest: dict = {d: None for d in self.devices}
        records: list = []
        if store.path.exists():
            for d in self.devices:
                dep, _, cam = d.partition("/")
                latest[d] = store.latest(dep, cam)
            if device:
                dep, _, cam = device.partition("/")
                records = store.query(dep, cam, limit=HISTORY_LIMIT)
        self.post_message(HistoryLoaded(latest, device, records))

    @work(thread=True, exclusive=True, group="monitoring-run", exit_on_error=False)
    def run_fleet_worker(self, device: str | None, active: bool, stop: threading.Event | None = None) -> None:
        """A fleet run (one camera or all) until done or ``stop`` is set; progress and the result
        come back as messages."""
        from camdeck.monitoring.fleet import run_fleet

        host = getattr(self.app, "job_host", None)
        job = host.start("fleet-run", f"fleet run {device or 'all devices'}", plan="active" if active else "passive",
                         stop=lambda reason: stop.set() if stop is not None else None) if host is not None else None
        try:
            report = run_fleet(self.settings, device=device, active=active, stop=stop,
                               progress=lambda event: self.post_message(RunProgress(event)))
        except BaseException as err:
            if host is not None:
                host.end(job, "failed", " ".join((str(err) or type(err).__name__).split()))
            raise
        if host is not None:
            host.end(job, "failed" if report.failed else "finished",
                     f"{len(report.devices) - report.failed} of {len(report.devices)} devices processed")
        self.post_message(RunFinished(report.to_dict()))

    # ---------------------------------------------------------------- messages (UI thread)

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        self.fleet.show_latest(message.latest)
        if message.device != self.fleet.selected and self.fleet.selected is not None:
            return  # the highlight moved on while reading; its own load is coming
        self._shown_device = message.device
        self.history.show_records(message.records)
        oldest_first = list(reversed(message.records))
        self.plot.show(message.device or "", {
            "pitch": [r.pitch_offset_deg for r in oldest_first],
            "yaw": [r.yaw_offset_deg for r in oldest_first],
            "roll": [r.roll_offset_deg for r in oldest_first],
        })

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table is self.fleet and event.row_key is not None:
            device = str(event.row_key.value)
            if device != self._shown_device:
                self.load_history(device)

    def on_run_progress(self, message: RunProgress) -> None:
        event = message.event
        self.events.append(event)
        self.progress.update(total=1.0, progress=run_fraction(event))
        prefix = f"[{event.index + 1}/{event.count}] {event.device}"
        if event.stage == "failed":
            self.run_label.update(f"{prefix}: [red]failed[/red]: {escape(event.message)}")
            # The run line is one row: the whole reason (and its fix) goes in a toast too,
            # and enter on the history row shows it again.
            self.app.notify(escape(event.message), title=f"{event.device}: run failed", severity="error",
                            timeout=20)
        elif event.stage == "stopped":
            self.run_label.update(f"{prefix}: [yellow]stopped[/yellow]: {event.message}")
        elif event.stage == "done":
            colour = "red" if event.message.startswith("ALERT") else "green"
            self.run_label.update(f"{prefix}: [{colour}]{event.message}[/{colour}]")
        else:
            self.run_label.update(f"{prefix}: {event.stage} {event.message}")
        if event.stage in ("done", "failed"):
            self.action_reload()

    def on_run_finished(self, message: RunFinished) -> None:
        self.running = False
        self.last_report = message.report
        failed, total = message.report["failed"], len(message.report["devices"])
        alerts = sum(1 for d in message.report["devices"] if d.get("alert"))
        self.progress.update(total=1.0, progress=1.0)
        skipped = len(message.report.get("skipped", ()))
        if message.report.get("stopped"):
            summary = f"run stopped: {total - failed} of {total + skipped} processed, {skipped} skipped"
        else:
            summary = f"run finished: {total - failed} of {total} processed"
        if alerts:
            summary += f", [red]{alerts} over {self.threshold_deg:g}°[/red]"
        if failed:
            summary += f", [red]{failed} failed[/red]"
        self.run_label.update(summary)
        self.action_reload()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        text = " ".join(str(err).split()) or err.__class__.__name__
        if event.worker.group == "monitoring-run":
            self.running = False
            self.run_label.update(f"[red]run failed[/red]: {escape(text)}")
        self.app.notify(escape(text), title="Monitoring", severity="error")
