"""Deployment tunnels: an argv command (``kubectl port-forward ...``, ``ssh -N -L ...``) run before
connecting to a deployment's cameras and stopped afterwards.

Never through a shell: the argv runs as given. The tunnel is ready when ``wait_for``
(host, port) accepts a TCP connection, or, without one, when the process is still alive after
``settle_s``. A process that exits early fails with the last lines it wrote to stderr.

The process runs in a session of its own, so a signal meant for camdeck (Ctrl-C in a terminal,
a scheduler's SIGTERM to the process group) does not reach it: camdeck stops it itself, on
every way out of the ``with`` block, including a run stopped by a signal.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Sequence

from camdeck.monitoring.errors import MonitoringError


class TunnelError(MonitoringError):
    """A deployment's tunnel could not be started or did not become ready."""


class Tunnel:
    """Run ``argv`` for the lifetime of a ``with`` block.

    Args:
        argv: the command and its arguments (a list, never a shell string).
        name: the deployment, for messages.
        wait_for: (host, port) that must accept connections before the tunnel counts as ready.
        ready_timeout_s: how long to wait for readiness.
        settle_s: without ``wait_for``, how long the process must stay up.
        stop: once set (from any thread), the wait for readiness ends with drivers.errors.Stopped
            and the process is stopped.
    Raises:
        TunnelError: empty argv, command not found, early exit, or not ready in time.
    """

    def __init__(self, argv: Sequence[str], *, name: str = "", wait_for: tuple[str, int] | None = None,
                 ready_timeout_s: float = 15.0, settle_s: float = 0.5, stop: threading.Event | None = None) -> None:
        if isinstance(argv, str) or not argv or not all(isinstance(a, str) and a for a in argv):
            raise TunnelError(f"deployment {name or '?'}: tunnel must be a non-empty list of arguments",
                              'write tunnel = ["kubectl", "port-forward", ...] in config.toml')
        self.argv = list(argv)
        self.name = name
        self.wait_for = wait_for
        self.ready_timeout_s = ready_timeout_s
        self.settle_s = settle_s
        self.stop_event = stop
        self.proc: subprocess.Popen | None = None
        self._stderr = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "Tunnel":
        exe = self.argv[0]
        if os.sep not in exe and shutil.which(exe) is None:
            raise TunnelError(f"deployment {self.name}: tunnel command {exe!r} not found on PATH",
                              f"install {exe} or give its full path in deployments.{self.name}.tunnel")
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr, start_new_session=True, shell=False)
        except OSError as err:
            self._stderr.close()
            raise TunnelError(f"deployment {self.name}: cannot start tunnel {exe!r} ({err.strerror})",
                              f"check deployments.{self.name}.tunnel") from None
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + (self.ready_timeout_s if self.wait_for else self.settle_s)
        while True:
            if self.stop_event is not None and self.stop_event.is_set():
                from camdeck.drivers.errors import Stopped

                raise Stopped(f"deployment {self.name}: stopped while the tunnel was opening", "")
            if self.proc.poll() is not None:
                raise TunnelError(f"deployment {self.name}: tunnel {self.argv[0]!r} exited with code "
                                  f"{self.proc.returncode}{self._last_words()}",
                                  f"run the command of deployments.{self.name}.tunnel by hand to see why")
            if self.wait_for is not None:
                try:
                    with socket.create_connection(self.wait_for, timeout=0.5):
                        return
                except OSError:
                    pass
            if time.monotonic() >= deadline:
                if self.wait_for is None:
                    return
                raise TunnelError(f"deployment {self.name}: tunnel not accepting connections on "
                                  f"{self.wait_for[0]}:{self.wait_for[1]} within {self.ready_timeout_s:g} s",
                                  "check the tunnel's target and local port")
            time.sleep(0.05)

    def _last_words(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            lines = self._stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return f": {lines[-1][:200]}" if lines else ""

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the tunnel's process group (SIGTERM, then SIGKILL after ``timeout_s``)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    proc.kill()
                proc.wait(timeout_s)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> "Tunnel":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_tunnel(argv: Sequence[str], name: str = "", wait_for: tuple[str, int] | None = None) -> Tunnel | None:
    """A started Tunnel for a deployment's argv, or None when the deployment has none."""
    if not argv:
        return None
    return Tunnel(argv, name=name, wait_for=wait_for).start()
