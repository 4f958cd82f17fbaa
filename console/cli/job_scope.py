"""What a long-running command does to be a job: a record, hang-up survival, clean stops.

``camdeck record``, ``capture``, ``reconstruct`` and ``monitor run`` run inside ``cli_job``:
the job is registered (console/jobs.py) so ``camdeck jobs`` lists it and ``camdeck jobs stop``
reaches it, and console/job_signals.py keeps it going when the terminal hangs up. Output to
the terminal goes through ``CliJob.guard``, which drops it once the terminal is gone, so a
failed write never becomes a failed job.
"""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from camdeck.console.cli import common
from camdeck.console.job_signals import JobSignals, stop_reason, terminal_gone
from camdeck.console.jobs import Job, JobRegistry

log = logging.getLogger("camdeck.console.cli")


class CliJob:
    """The command's job: ``stop_with(callback)`` says how to stop it, ``finish`` ends its record."""

    def __init__(self, job: Job | None, signals: JobSignals) -> None:
        self.job = job
        self.signals = signals
        self.stop_reason: str | None = None    # who asked to stop, once someone did

    @property
    def id(self) -> str | None:
        return self.job.id if self.job is not None else None

    def stop_with(self, stop: Callable[[str], None]) -> None:
        """Call ``stop(reason)`` (thread-safe, returns at once) when the job is asked to stop."""
        def on_stop(request: dict[str, Any]) -> None:
            self.stop_reason = stop_reason(request)
            stop(self.stop_reason)

        if self.job is not None:
            self.signals.add(self.job, on_stop)
        else:       # not registered: signals still stop it (as "every job of the process")
            self.signals.add(_Unregistered(), on_stop)

    def requested_stop(self) -> str | None:
        """Who asked this job to stop through ``camdeck jobs stop`` (its request file), else None."""
        if self.job is None:
            return None
        request = self.signals.registry.stop_request(self.job.id)
        return stop_reason(request) if request is not None else None

    def update(self, **fields: Any) -> None:
        if self.job is not None:
            self.job.update(**fields)

    def finish(self, state: str, outcome: str, outputs: Iterable[str | os.PathLike] | None = None) -> None:
        if self.job is not None:
            self.job.finish(state, outcome, outputs)

    @property
    def hung_up(self) -> bool:
        return self.signals.hung_up.is_set()

    def guard(self, show: Callable[..., Any], on_gone: Callable[[], None] | None = None) -> Callable[..., Any]:
        """``show`` for terminal output, made harmless: once the terminal hung up (or a write to it
        failed with EIO/EPIPE) it is not called again, and ``on_gone`` runs once."""
        state = {"gone": False}

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if state["gone"]:
                return None
            if self.hung_up:
                state["gone"] = True
                _quietly(on_gone)
                return None
            try:
                return show(*args, **kwargs)
            except OSError as err:
                if not terminal_gone(err):
                    raise
                state["gone"] = True
                _quietly(on_gone)
                return None
        return guarded


def _quietly(fn: Callable[[], Any] | None) -> None:
    """Run ``fn`` (a display's clean-up) where a write to the gone terminal may fail."""
    if fn is None:
        return
    try:
        fn()
    except OSError as err:
        if not terminal_gone(err):
            raise


class _Unregistered:
    """Stands for a job whose record could not be written (``JobSignals`` needs an id)."""

    id = "unregistered"

    def asked_to_stop(self, request: dict[str, Any]) -> None:
        pass

    def stopping(self, request: dict[str, Any] | None = None) -> None:
        pass


@contextmanager
def cli_job(kind: str, title: str, *, plan: str = "", outputs: Iterable[str | os.PathLike] = (),
            stop_signals: bool = True) -> Iterator[CliJob]:
    """Run the body as job ``kind`` of this process (see the module docstring).

    ``stop_signals=False`` leaves SIGTERM/SIGINT to the command's own handling (JobSignals).

    An exception escaping the body marks the record failed. A jobs folder that cannot be
    written does not stop the command: it runs unlisted (a warning says so).
    """
    registry = JobRegistry(common.settings().data_dir)
    job: Job | None = None
    try:
        job = registry.start(kind, title, plan=plan, origin="cli", command=_command(), outputs=outputs)
    except OSError as err:
        log.warning("%s runs, but `camdeck jobs` will not list it: cannot write %s (%s); "
                    "fix: make the data folder writable or pass --data-dir", kind, registry.folder, err.strerror or err)
    signals = JobSignals(registry, log_path=job.record.log if job is not None else None, stop_signals=stop_signals)
    handle = CliJob(job, signals)
    with signals:
        try:
            yield handle
        except BaseException as err:
            if job is not None and job.record.state not in ("finished", "stopped", "failed", "cancelled"):
                job.finish("failed", " ".join((str(err) or type(err).__name__).split()))
            raise
        finally:
            if job is not None:
                signals.remove(job)
    if job is not None and job.record.state in ("running", "stopping"):
        job.finish("finished", "done")


def _command() -> list[str]:
    argv = list(sys.argv)
    return ["camdeck", *argv[1:]] if argv and Path(argv[0]).name == "camdeck" else argv
