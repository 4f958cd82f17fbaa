"""The TUI's side of the jobs: records for what its tabs run, and what a hang-up or SIGTERM does.

Tabs register their long jobs (``JobHost.start``: a recording, a reconstruction, a fleet run),
so ``camdeck jobs`` and any other console list them and ``camdeck jobs stop ID`` reaches them.

When the terminal hangs up (SIGHUP) while jobs run, the UI ends but this process stays until
every job has reached its planned end: a timer ends, a manual recording or a live
reconstruction waits for ``camdeck jobs stop``. Why here and not a hand-over to a detached
process: the jobs hold the cameras open (a Pi camera admits one process), and reopening them
elsewhere would cut a gap into the take. So on SIGHUP: stdio go to /dev/null (the TUI logs
to its own file), ``hung_up`` is set so that tabs do not stop their jobs on unmount, the app
exits, and ``run_with_jobs`` waits for the jobs' threads and then closes the cameras.

SIGTERM (systemd, ``kill``) without a stop request stops every job and quits, as a confirmed
``q`` would; with a request (``camdeck jobs stop``) only the named job stops.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Iterable

from camdeck.console.job_signals import JobSignals, stop_reason
from camdeck.console.jobs import Job, JobRegistry

log = logging.getLogger("camdeck.console.tui")


class JobHost:
    """Jobs of one TUI process.

    Args:
        registry: the records (None: jobs are not registered, e.g. a test app without a data folder).
    """

    def __init__(self, registry: JobRegistry | None) -> None:
        self.registry = registry
        self.signals: JobSignals | None = None
        self.hung_up = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._app: Any = None
        self._own: dict[str, Callable[[str], None]] = {}

    def attach(self, app: Any) -> None:
        """Called by the app once mounted (UI thread): handlers reach it through its loop."""
        self._app = app
        self._loop = asyncio.get_running_loop()
        if self.hung_up:      # the terminal went before the app was up
            app.exit()

    # -------- the tabs' jobs (any thread)
    def start(self, kind: str, title: str, *, stop: Callable[[str], None], plan: str = "",
              outputs: Iterable[Any] = ()) -> Job | None:
        """Register a job; ``stop(reason)`` (thread-safe, returns at once) stops it. None: not registered."""
        if self.registry is None:
            return None
        try:
            job = self.registry.start(kind, title, plan=plan, origin="tui", command=["camdeck", "tui"],
                                      outputs=outputs)
        except OSError as err:
            log.warning("%s runs, but other consoles will not list it: cannot write %s (%s)",
                        kind, self.registry.folder, err.strerror or err)
            return None
        self._own[job.id] = stop
        if self.signals is not None:
            self.signals.add(job, lambda request: stop(stop_reason(request)))
        return job

    def end(self, job: Job | None, state: str, outcome: str, outputs: Iterable[Any] | None = None) -> None:
        """The job ended (``state``: finished, stopped, failed or cancelled)."""
        if job is None:
            return
        self._own.pop(job.id, None)
        if self.signals is not None:
            self.signals.remove(job)
        job.finish(state, outcome, outputs)

    def stop_own(self, job_id: str, by: str) -> bool:
        """Stop a job of this very process without a signal (the jobs screen); False if it is not ours."""
        stop = self._own.get(job_id)
        if stop is None:
            return False
        job = next((j for j in (self.signals.jobs() if self.signals else []) if j.id == job_id), None)
        if job is not None:
            job.stopping({"by": by})
        stop(by)
        return True

    def running(self) -> int:
        return len(self._own)

    # -------- from the signal handlers (main thread, inside the event loop's thread)
    def hang_up(self) -> None:
        self.hung_up = True
        log.warning("the terminal hung up: the UI ends; %d job(s) go on to their planned end: %s",
                    len(self._own), ", ".join(self._own) or "none")
        if self._loop is not None and self._app is not None:
            self._loop.call_soon_threadsafe(self._app.exit)

    def terminate(self, signal_name: str) -> None:
        log.warning("%s: stopping every job and quitting", signal_name)
        if self._loop is not None and self._app is not None and not self.hung_up:
            self._loop.call_soon_threadsafe(self._app.quit_for_signal)


def run_with_jobs(app: Any, registry: JobRegistry) -> None:
    """Run ``app`` (its ``job_host`` bound to ``registry``) with the jobs' signals; after a hang-up,
    wait until every job has ended, then close the cameras."""
    host: JobHost = app.job_host
    signals = JobSignals(registry, log_path=None, on_hangup=host.hang_up, on_terminate=host.terminate)
    host.signals = signals
    with signals:
        app.run()
        if host.hung_up:
            # asyncio.run already joined the workers' threads on Python 3.11; later versions bound
            # that wait, so wait here for the records to end too.
            while host.running():
                time.sleep(0.2)
            app.camera_pool.close_all()
