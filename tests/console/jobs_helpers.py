"""Real camdeck processes for the jobs tests: a pty whose master the test closes (a hang-up),
and short-lived `camdeck jobs` runs from another "terminal"."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

CAMDECK = [sys.executable, "-c", "from camdeck.console.cli.app import main; main()"]


class PtyProcess:
    """``camdeck ARGS`` as the session leader of a new pty (what sshd gives a login), its output drained."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.pid, self.master = pty.fork()
        if self.pid == 0:     # the child: exec at once (the test process has threads)
            try:
                os.chdir(cwd)
                os.execv(sys.executable, CAMDECK + argv)
            finally:
                os._exit(127)
        self.output = bytearray()
        self._closing = threading.Event()
        self._drain = threading.Thread(target=self._read, daemon=True)
        self._drain.start()
        self.status: int | None = None

    def _read(self) -> None:
        while not self._closing.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if not data:
                    return
                self.output += data

    def hang_up(self) -> None:
        """Close the pty master, as sshd does when the link drops: the kernel sends SIGHUP."""
        self._closing.set()
        self._drain.join()
        os.close(self.master)

    def alive(self) -> bool:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is None

    def wait(self, timeout_s: float = 60.0) -> int:
        """The exit code (-N for a signal N)."""
        deadline = time.monotonic() + timeout_s
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise AssertionError("the job did not end")
        return os.waitstatus_to_exitcode(self.status)

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)


def camdeck(rig: Path, *argv: str) -> subprocess.CompletedProcess:
    """A new camdeck process (another terminal): the same config and data folder as the job."""
    return subprocess.run(CAMDECK + list(argv) + ["--data-dir", str(rig / "data")], cwd=rig,
                          capture_output=True, text=True, timeout=120)


def frames_on_disk(pts: Path) -> int:
    try:
        return len(pts.read_text().splitlines()) - 1
    except OSError:
        return 0


def wait_until(condition, timeout_s: float = 60.0, proc: PtyProcess | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert proc is None or proc.alive(), f"the job ended: {bytes(proc.output)[-300:].decode(errors='replace')}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def decoded_frames(path: Path) -> int:
    """Decode every frame of an Annex-B file; a corrupt frame raises."""
    import av

    with av.open(str(path), format="h264") as container:
        return sum(1 for frame in container.decode(video=0) if frame.width > 0)


def the_job(rig: Path, kind: str) -> dict:
    listed = camdeck(rig, "jobs", "--json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    found = [j for j in doc["jobs"] if j["kind"] == kind]
    assert len(found) == 1, doc
    return found[0]
