"""The jobs screen (``J``): every job of the rig, wherever it was started, and a key to stop one.

It reads the same records as ``camdeck jobs`` (console/jobs.py), every second, in a thread
worker; a job started from the CLI or from another ``camdeck tui`` shows up here. ``s`` stops
the selected job as ``camdeck jobs stop`` would (a stop request and SIGTERM to its process,
then a wait for its record to end), in a worker; a job of this very console is stopped
without a signal. Escape closes the screen.
"""
from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Label, Static

from camdeck.console.jobs import ACTIVE_STATES, JobError, stop_job

REFRESH_S = 1.0
STOP_BY = "camdeck tui (jobs screen)"


class JobsListed(Message):
    """A fresh read of the records (a newer one replaces an older one still queued)."""

    def __init__(self, records: list[Any]) -> None:
        super().__init__()
        self.records = records

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobsListed)


class JobStopped(Message):
    """A stop asked from this screen came to an end (``record``: the record then), or failed (``error``)."""

    def __init__(self, job_id: str, record: Any = None, error: str = "") -> None:
        super().__init__()
        self.job_id, self.record, self.error = job_id, record, error


class JobsScreen(ModalScreen[None]):
    """Running and recent jobs; ``s`` stops the selected one.

    Args:
        host: the app's JobHost (its registry, and its own jobs, which stop without a signal).
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("s", "stop", "Stop job"),
    ]

    DEFAULT_CSS = """
    JobsScreen {
        align: center middle;
    }
    JobsScreen > Vertical {
        width: 100%;
        height: 100%;
        border: round $accent;
        background: $panel;
        padding: 0 1;
    }
    JobsScreen DataTable {
        height: 1fr;
    }
    JobsScreen #jobs-status {
        height: auto;
    }
    """

    def __init__(self, host: Any) -> None:
        super().__init__()
        self.host = host
        self.records: dict[str, Any] = {}
        self.table: DataTable = DataTable(cursor_type="row", zebra_stripes=True, id="jobs-table")
        self.status = Static("s stops the selected job; escape closes", id="jobs-status")

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "jobs"
            yield Label(f"records in {self.host.registry.folder}")
            yield self.table
            yield self.status
        yield Footer()

    def on_mount(self) -> None:
        for name in ("id", "kind", "state", "pid", "from", "started", "job / outputs"):
            self.table.add_column(name, key=name)
        self.read_jobs()
        self.set_interval(REFRESH_S, self.read_jobs)
        self.table.focus()

    @work(thread=True, exclusive=True, exit_on_error=False, group="jobs-read")
    def read_jobs(self) -> None:
        self.post_message(JobsListed(self.host.registry.listing()))

    def on_jobs_listed(self, message: JobsListed) -> None:
        selected = self._selected_id()
        self.records = {r.id: r for r in message.records}
        self.table.clear()
        for r in message.records:
            outputs = ", ".join(r.outputs[:2]) + (f" (+{len(r.outputs) - 2})" if len(r.outputs) > 2 else "")
            what = " · ".join(x for x in (r.title, r.plan, r.outcome or "", outputs) if x)
            self.table.add_row(r.id, r.kind, r.effective_state(), str(r.pid), r.origin, r.started[11:19],
                               escape(what), key=r.id)
        if selected in self.records:
            self.table.move_cursor(row=self.table.get_row_index(selected))

    def _selected_id(self) -> str | None:
        if self.table.row_count == 0:
            return None
        key = self.table.coordinate_to_cell_key((self.table.cursor_row, 0)).row_key
        return key.value

    def action_close(self) -> None:
        self.dismiss(None)

    def action_stop(self) -> None:
        job_id = self._selected_id()
        record = self.records.get(job_id) if job_id else None
        if record is None:
            return
        if record.effective_state() not in ACTIVE_STATES:
            self.status.update(f"job {job_id} is not running ({record.effective_state()})")
            return
        self.status.update(f"stopping {job_id}…")
        self._stop(job_id)

    @work(thread=True, exit_on_error=False, group="jobs-stop")
    def _stop(self, job_id: str) -> None:
        registry = self.host.registry
        try:
            if self.host.stop_own(job_id, STOP_BY):      # a job of this console: no signal to ourselves
                deadline = time.monotonic() + 60.0
                record = registry.get(job_id)
                while record.effective_state() in ACTIVE_STATES and time.monotonic() < deadline:
                    time.sleep(0.05)
                    record = registry.get(job_id)
            else:
                record = stop_job(registry, job_id, by=STOP_BY)
        except JobError as err:
            self.post_message(JobStopped(job_id, error=str(err)))
            return
        self.post_message(JobStopped(job_id, record))

    def on_job_stopped(self, message: JobStopped) -> None:
        if message.error:
            self.status.update(f"[b]error:[/b] {escape(message.error)}")
            self.notify(escape(message.error), severity="error", timeout=8)
            return
        record = message.record
        text = f"job {record.id}: {record.effective_state()}" + (f": {record.outcome}" if record.outcome else "")
        self.status.update(escape(text))
        self.notify(escape(text), title="jobs", timeout=5)
        self.read_jobs()
