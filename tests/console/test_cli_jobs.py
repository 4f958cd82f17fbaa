"""Jobs outlive the terminal: real `camdeck` processes in a real pty, hung up by closing its master.

The recording and the capture keep going after the hang-up; `camdeck jobs` (a new process) lists
them, and `camdeck jobs stop ID` (another one) stops the manual recording cleanly: every frame of
each .h264 decodes and the data file says "stopped by the operator".
"""
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

import pytest

from tests.console import RECORDER_RIG

CAMDECK = [sys.executable, "-c", "from camdeck.console.cli.app import main; main()"]


@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RECORDER_RIG)
    (workdir / "data").mkdir()
    return workdir


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


def test_manual_recording_survives_the_hang_up_and_stops_from_another_process(rig):
    out = rig / "rec"
    pts = [out / f"take_camera_{i}.pts.txt" for i in (1, 2)]
    proc = PtyProcess(["record", "--manual", "--session", "take", "--out", str(out),
                       "--data-dir", str(rig / "data")], rig)
    try:
        wait_until(lambda: all(frames_on_disk(p) > 3 for p in pts), proc=proc)
        proc.hang_up()
        before = frames_on_disk(pts[0])
        # Still recording with no terminal: frames keep reaching the disk (flushed each second).
        wait_until(lambda: frames_on_disk(pts[0]) > before + 5, proc=proc)

        job = the_job(rig, "record")
        assert job["state"] == "running" and job["pid"] == proc.pid and job["origin"] == "cli"
        assert job["plan"] == "manual: until stopped"
        assert str(out / "take_camera_1.h264") in job["outputs"] and str(out / "take_data.txt") in job["outputs"]
        assert "the terminal hung up" in Path(job["log"]).read_text()

        stopped = camdeck(rig, "jobs", "stop", job["id"], "--json")
        assert stopped.returncode == 0, stopped.stderr
        record = json.loads(stopped.stdout)
        assert record["state"] == "stopped" and record["outcome"] == "complete (stopped by the operator)"
        assert proc.wait() == 0
    finally:
        proc.kill()
    data = (out / "take_data.txt").read_text()
    assert "Result:                     complete (stopped by the operator)" in data
    assert "stop requested by camdeck jobs stop" in data
    for i, p in enumerate(pts, start=1):
        recorded = frames_on_disk(p)
        assert decoded_frames(out / f"take_camera_{i}.h264") == recorded > before
    assert the_job(rig, "record")["state"] == "stopped"


def test_timer_capture_survives_the_hang_up_and_finishes_as_planned(rig):
    stills = rig / "stills"
    proc = PtyProcess(["capture", "--camera", "lightroom", "--every", "1s", "--count", "3",
                       "--sink", f"dir:{stills}", "--data-dir", str(rig / "data")], rig)
    try:
        wait_until(lambda: stills.is_dir() and any(stills.glob("*.png")), proc=proc)
        proc.hang_up()
        assert proc.wait() == 0
    finally:
        proc.kill()
    assert len(list(stills.glob("*.png"))) == 3
    job = the_job(rig, "capture")
    assert job["state"] == "finished" and job["outcome"].startswith("3 stills: 3 stored")
    assert job["outputs"] == [f"dir:{stills}"]


def test_a_job_whose_process_is_gone_shows_as_died(rig):
    """SIGKILL leaves the record saying running; readers show "died", and stop says so (exit 1)."""
    proc = subprocess.Popen(CAMDECK + ["record", "--manual", "--session", "k", "--out", str(rig / "rec"),
                                       "--data-dir", str(rig / "data")],
                            cwd=rig, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: frames_on_disk(rig / "rec" / "k_camera_1.pts.txt") > 0)
    finally:
        proc.kill()
        proc.wait()
    job = the_job(rig, "record")
    assert job["state"] == "died" and job["recorded_state"] == "running"
    stop = camdeck(rig, "jobs", "stop", job["id"])
    assert stop.returncode == 1 and "is not running (died)" in stop.stdout


def test_stop_of_an_unknown_job_exits_2_with_the_fix(rig):
    r = camdeck(rig, "jobs", "stop", "record-nope")
    assert r.returncode == 2
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "record-nope" in lines[0] and "fix: run `camdeck jobs`" in lines[0]


def test_jobs_json_with_no_jobs_is_one_empty_object(cli, rig):
    r = cli("jobs", "--json", "--data-dir", rig / "data")
    assert r.code == 0, r.err
    assert r.json() == {"folder": str(rig / "data" / "jobs"), "jobs": []}
