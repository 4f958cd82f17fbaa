"""The job registry: what runs now and what ran lately, as plain JSON records under the data folder.

A job is a recording, a capture, a reconstruction or a fleet run, started from the CLI or the
TUI. Its process keeps one record, ``DATA_DIR/jobs/ID.json``, written atomically
(camdeck.fileio.atomic) at each change of state, so any other process (``camdeck jobs``, a
second ``camdeck tui``, later a console on another machine) reads a whole record or none:

```json
{"schema_version": 1, "id": "record-3f9a1c", "kind": "record", "title": "session take_001",
 "plan": "manual: until stopped", "origin": "cli", "command": ["camdeck", "record", "--manual"],
 "host": "pi", "user": "operator", "pid": 4242, "pid_start": 1234567,
 "started": "2026-12-03T06:30:21Z", "updated": "...", "ended": null,
 "state": "running", "outcome": null, "outputs": ["/data/recordings/take_001_data.txt"],
 "log": "/data/jobs/record-3f9a1c.log", "stop": null}
```

``state`` is written by the job: running, stopping, then one of finished, stopped, failed,
cancelled. A reader computes the state it shows (``effective_state``): a record that says
running while its process is gone (killed, power cut) shows as "died". The process is
identified by pid and its kernel start time (``pid_start``), so a reused pid is not taken for
the job. ``camdeck jobs stop`` writes ``ID.stop.json`` (who asked, when) and then signals the
process (console/job_signals.py); the job names that request in its own record and data file.
"""
from __future__ import annotations

import getpass
import json
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

from camdeck.fileio.atomic import write_text_atomic
from camdeck.fileio.leftovers import process_start_ticks

SCHEMA_VERSION = 1
KINDS = ("record", "capture", "reconstruct", "fleet-run")
ACTIVE_STATES = ("running", "stopping")
FINAL_STATES = ("finished", "stopped", "failed", "cancelled")
KEEP_FINISHED = 100       # older finished records are removed when a new job starts


class JobError(Exception):
    """A job that cannot be found or stopped; the message carries the fix."""


class NoSuchJob(JobError):
    """No record has this id (or the prefix is ambiguous): bad input."""

    bad_input = True


class ForeignJob(JobError):
    """The job runs on another host: it is stopped there (bad input here)."""

    bad_input = True


# A recording session's outcome (drivers/recording/session.py) -> the job's final state.
RECORDING_STATES = {"complete": "finished", "stopped": "stopped", "cancelled": "cancelled"}


def recording_state(outcome: str) -> str:
    """The job state for a recording outcome: finished, stopped, cancelled, else failed."""
    return RECORDING_STATES.get(outcome, "failed")


def utc_now() -> str:
    """Now, ISO 8601 UTC to the millisecond (``2026-12-03T06:30:21.318Z``)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jobs_dir(data_dir: str | os.PathLike) -> Path:
    """``DATA_DIR/jobs``: one ``ID.json`` per job, ``ID.log`` its output after a hang-up."""
    return Path(data_dir) / "jobs"


def process_alive(pid: int, start_ticks: int | None) -> bool:
    """Whether ``pid`` is still the process that wrote the record (same start time where known)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:     # another user's process: it exists
        pass
    if start_ticks is None:
        return True
    now = process_start_ticks(pid)
    return now is None or now == start_ticks


@dataclass
class JobRecord:
    """One job's record (the JSON file, field for field; see the module docstring)."""

    id: str
    kind: str
    title: str
    pid: int
    started: str
    state: str = "running"
    plan: str = ""
    origin: str = "cli"
    command: list[str] = field(default_factory=list)
    host: str = ""
    user: str = ""
    pid_start: int | None = None
    updated: str = ""
    ended: str | None = None
    outcome: str | None = None
    outputs: list[str] = field(default_factory=list)
    log: str | None = None
    stop: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "JobRecord":
        """Raises ValueError when ``doc`` is not a job record this version can read."""
        if not isinstance(doc, dict) or doc.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {doc.get('schema_version') if isinstance(doc, dict) else None!r}")
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError as err:
            raise ValueError(str(err)) from None

    def effective_state(self) -> str:
        """The state to show: "died" for an active record whose process on this host is gone."""
        if self.state in ACTIVE_STATES and self.host == socket.gethostname() \
                and not process_alive(self.pid, self.pid_start):
            return "died"
        return self.state

    def view(self) -> dict[str, Any]:
        """The record as shown (``camdeck jobs --json``): its fields, with ``state`` made effective."""
        doc = self.to_dict()
        doc["recorded_state"], doc["state"] = self.state, self.effective_state()
        return doc


class JobRegistry:
    """The records under ``DATA_DIR/jobs``.

    Args:
        data_dir: the camdeck data folder (the same one every console of this rig uses).
    """

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.folder = jobs_dir(data_dir)

    # -------- writing (the job's own process)
    def start(self, kind: str, title: str, *, plan: str = "", origin: str = "cli",
              command: Iterable[str] = (), outputs: Iterable[str | os.PathLike] = ()) -> "Job":
        """Register a job of this process as running and return its handle.

        Raises:
            OSError: the jobs folder cannot be written (the caller says so and goes on or stops).
        """
        if kind not in KINDS:
            raise ValueError(f"job kind {kind!r}: one of {', '.join(KINDS)}")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prune()
        job_id = f"{kind}-{secrets.token_hex(3)}"
        while (self.folder / f"{job_id}.json").exists():
            job_id = f"{kind}-{secrets.token_hex(3)}"
        now = utc_now()
        record = JobRecord(id=job_id, kind=kind, title=title, pid=os.getpid(), started=now, updated=now,
                           plan=plan, origin=origin, command=list(command), host=socket.gethostname(),
                           user=_user(), pid_start=process_start_ticks(os.getpid()),
                           outputs=[str(p) for p in outputs], log=str(self.folder / f"{job_id}.log"))
        job = Job(self, record)
        job.save()
        return job

    def write(self, record: JobRecord) -> None:
        record.updated = utc_now()
        write_text_atomic(self.path(record.id), json.dumps(record.to_dict(), indent=1) + "\n")

    def path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.json"

    def stop_path(self, job_id: str) -> Path:
        return self.folder / f"{job_id}.stop.json"

    # -------- reading (any process)
    def records(self) -> list[JobRecord]:
        """Every readable record, newest first (unreadable or foreign files are skipped)."""
        found = []
        if not self.folder.is_dir():
            return found
        for path in self.folder.glob("*.json"):
            if path.name.endswith(".stop.json"):
                continue
            try:
                found.append(JobRecord.from_dict(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError):
                continue
        return sorted(found, key=lambda r: r.started, reverse=True)

    def listing(self, recent: int = 20) -> list[JobRecord]:
        """Every running job, then the newest finished ones, ``recent`` records in all at least."""
        records = self.records()
        active = [r for r in records if r.effective_state() in ACTIVE_STATES]
        others = [r for r in records if r not in active]
        return active + others[:max(0, recent - len(active))]

    def get(self, job_id: str) -> JobRecord:
        """The record ``job_id`` (a unique prefix will do).

        Raises:
            NoSuchJob: none or several match, naming the fix.
        """
        records = self.records()
        matches = [r for r in records if r.id == job_id]
        if not matches and job_id:
            matches = [r for r in records if r.id.startswith(job_id)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NoSuchJob(f"job {job_id!r}: no such job in {self.folder}; fix: run `camdeck jobs` for the ids "
                            "(and pass the same --data-dir as the job)")
        raise NoSuchJob(f"job {job_id!r}: matches {', '.join(r.id for r in matches)}; fix: give the whole id")

    def request_stop(self, job_id: str, by: str) -> dict[str, Any]:
        """Leave a stop request for ``job_id`` (the job reads it when it is signalled); returns it."""
        request = {"requested": utc_now(), "by": by, "user": _user(), "host": socket.gethostname(), "pid": os.getpid()}
        write_text_atomic(self.stop_path(job_id), json.dumps(request) + "\n")
        return request

    def stop_request(self, job_id: str) -> dict[str, Any] | None:
        """The pending stop request for ``job_id``, or None."""
        try:
            doc = json.loads(self.stop_path(job_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return doc if isinstance(doc, dict) else None

    def prune(self, keep: int = KEEP_FINISHED) -> None:
        """Remove the oldest records that are no longer active, beyond ``keep`` (best effort)."""
        done = [r for r in self.records() if r.effective_state() not in ACTIVE_STATES]
        for record in done[keep:]:
            for path in (self.path(record.id), self.stop_path(record.id), Path(record.log or "")):
                try:
                    if path.name:
                        path.unlink()
                except OSError:
                    pass


class Job:
    """A running job's handle, held by the process that runs it: it keeps the record current."""

    def __init__(self, registry: JobRegistry, record: JobRecord) -> None:
        self.registry = registry
        self.record = record
        self._lock = threading.RLock()    # "stopping" (written from another thread) never overwrites the end

    @property
    def id(self) -> str:
        return self.record.id

    def save(self) -> None:
        self.registry.write(self.record)

    def update(self, **fields: Any) -> None:
        """Change some fields (``outputs=``, ``state=``, ...) and write the record (OSError is swallowed:
        a full disk must not stop a recording; the record says what it last could)."""
        with self._lock:
            for name, value in fields.items():
                setattr(self.record, name, [str(p) for p in value] if name == "outputs" else value)
            self._save_quietly()

    def asked_to_stop(self, stop: dict[str, Any]) -> None:
        """Remember who asked (in memory, at once: safe in a signal handler); the final record keeps it."""
        self.record.stop = stop

    def stopping(self, stop: dict[str, Any] | None = None) -> None:
        """The job was asked to stop (``stop``: who asked, from the stop request or the signal);
        nothing is written once the job has ended."""
        with self._lock:
            if self.record.state in ACTIVE_STATES:
                self.record.state, self.record.stop = "stopping", stop or self.record.stop
                self._save_quietly()

    def finish(self, state: str, outcome: str, outputs: Iterable[str | os.PathLike] | None = None) -> None:
        """The job ended: ``state`` is one of finished, stopped, failed, cancelled."""
        if state not in FINAL_STATES:
            raise ValueError(f"job state {state!r}: one of {', '.join(FINAL_STATES)}")
        with self._lock:
            if outputs is not None:
                self.record.outputs = [str(p) for p in outputs]
            self.record.state, self.record.outcome, self.record.ended = state, outcome, utc_now()
            self._save_quietly()
        try:
            self.registry.stop_path(self.id).unlink()
        except OSError:
            pass

    def _save_quietly(self) -> None:
        try:
            self.save()
        except OSError:
            pass


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return str(os.getuid()) if hasattr(os, "getuid") else ""


def stop_job(registry: JobRegistry, job_id: str, *, by: str = "camdeck jobs stop", timeout_s: float = 60.0,
             poll_s: float = 0.05) -> JobRecord:
    """Ask job ``job_id`` to stop (a stop request, then SIGTERM) and wait for its record to end.

    Returns the record as it stands at the end: final, "died", or still active when
    ``timeout_s`` ran out; a job that was not running is returned unchanged.

    Raises:
        NoSuchJob: no (or no unique) record for ``job_id``.
        ForeignJob: the job runs on another host.
        JobError: its process belongs to another user (the signal was refused).
    """
    record = registry.get(job_id)
    if record.host and record.host != socket.gethostname():
        raise ForeignJob(f"job {record.id} runs on host {record.host}, not here; "
                         f"fix: run `camdeck jobs stop {record.id}` on {record.host}")
    if record.effective_state() not in ACTIVE_STATES:
        return record
    registry.request_stop(record.id, by)
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass       # it ended meanwhile: its record says how
    except PermissionError:
        raise JobError(f"job {record.id}: pid {record.pid} belongs to {record.user or 'another user'}; "
                       "fix: stop it as that user") from None
    deadline = time.monotonic() + timeout_s
    while True:
        record = registry.get(record.id)
        if record.effective_state() not in ACTIVE_STATES or time.monotonic() >= deadline:
            return record
        time.sleep(poll_s)
