"""The TUI and the jobs: a recording outlives the terminal of `camdeck tui` (a real pty, hung up), and
the jobs screen (J) shows a job started elsewhere and stops it, or stops one of its own."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from camdeck.console.config import load_settings
from camdeck.console.jobs import JobRegistry
from camdeck.console.tui.app import make_app
from camdeck.console.tui.screens.jobs import JobsScreen
from tests.console import RECORDER_RIG, run_async, until
from tests.console.jobs_helpers import (CAMDECK, PtyProcess, camdeck, decoded_frames, frames_on_disk, the_job,
                                        wait_until)
from tests.console.test_tui_recording import open_tab


@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RECORDER_RIG)
    (workdir / "data").mkdir()
    return workdir


def test_a_tui_recording_outlives_the_terminal_and_stops_from_another_process(rig, monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")     # what the pty child gets
    proc = PtyProcess(["tui", "--data-dir", str(rig / "data")], rig)
    jobs = rig / "data" / "jobs"
    try:
        wait_until(lambda: b"Recording" in proc.output, proc=proc)        # the tabs are drawn
        os.write(proc.master, b"2")
        time.sleep(0.5)       # let the tab switch land before its key (no assertion on it)
        os.write(proc.master, b"\x12")                                     # ctrl+r: the default 60 s timer
        wait_until(lambda: any(jobs.glob("record-*.json")), proc=proc)
        job = the_job(rig, "record")
        pts = [p for p in job["outputs"] if p.endswith(".pts.txt")]
        wait_until(lambda: all(frames_on_disk(Path(p)) > 3 for p in pts), proc=proc)

        proc.hang_up()
        before = frames_on_disk(Path(pts[0]))
        wait_until(lambda: frames_on_disk(Path(pts[0])) > before + 5, proc=proc)   # still recording, no terminal
        job = the_job(rig, "record")
        assert job["state"] == "running" and job["origin"] == "tui" and job["pid"] == proc.pid

        stopped = camdeck(rig, "jobs", "stop", job["id"], "--json")
        assert stopped.returncode == 0, stopped.stderr
        assert json.loads(stopped.stdout)["outcome"] == "complete (stopped by the operator)"
        assert proc.wait() == 0          # the UI had ended: with its job done, the process goes
    finally:
        proc.kill()
    data = next(Path(p) for p in job["outputs"] if p.endswith("_data.txt")).read_text()
    assert "complete (stopped by the operator)" in data and "stop requested by camdeck jobs stop" in data
    for p in pts:
        assert decoded_frames(Path(p.replace(".pts.txt", ".h264"))) == frames_on_disk(Path(p)) > before


def test_sigterm_stops_the_tui_and_its_recording_cleanly(rig, monkeypatch):
    """systemd stopping the unit (SIGTERM, no stop request): every job stops cleanly, the TUI quits."""
    monkeypatch.setenv("TERM", "xterm-256color")
    proc = PtyProcess(["tui", "--data-dir", str(rig / "data")], rig)
    jobs = rig / "data" / "jobs"
    try:
        wait_until(lambda: b"Recording" in proc.output, proc=proc)
        os.write(proc.master, b"2")
        time.sleep(0.5)
        os.write(proc.master, b"\x12")
        wait_until(lambda: any(jobs.glob("record-*.json")), proc=proc)
        job = the_job(rig, "record")
        pts = [Path(p) for p in job["outputs"] if p.endswith(".pts.txt")]
        wait_until(lambda: all(frames_on_disk(p) > 3 for p in pts), proc=proc)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait() == 0
    finally:
        proc.kill()
    job = the_job(rig, "record")
    assert job["state"] == "stopped" and job["stop"]["by"] == "SIGTERM"
    data = next(Path(p) for p in job["outputs"] if p.endswith("_data.txt")).read_text()
    assert "complete (stopped by the operator)" in data and "stop requested by SIGTERM" in data


@run_async
async def test_the_jobs_screen_shows_a_cli_job_and_stops_it(rig):
    settings = load_settings(rig / "config.toml", rig / "data")
    registry = JobRegistry(rig / "data")
    cli = subprocess.Popen(CAMDECK + ["record", "--manual", "--session", "far", "--out", str(rig / "rec"),
                                      "--data-dir", str(rig / "data")],
                           cwd=rig, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: frames_on_disk(rig / "rec" / "far_camera_1.pts.txt") > 3)
        job_id = registry.records()[0].id
        app = make_app(settings, live=False, jobs=registry)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("J")
            await until(pilot, lambda: isinstance(app.screen, JobsScreen) and job_id in app.screen.records,
                        what="the CLI job on the jobs screen")
            screen = app.screen
            assert screen.records[job_id].effective_state() == "running"
            await pilot.press("s")
            await until(pilot, lambda: registry.get(job_id).state == "stopped", what="the job stopped")
            await until(pilot, lambda: "stopped by the operator" in str(screen.status.render()), what="the news")
        assert cli.wait(timeout=60) == 0
    finally:
        if cli.poll() is None:
            cli.kill()
    data = (rig / "rec" / "far_data.txt").read_text()
    assert "complete (stopped by the operator)" in data and "camdeck tui (jobs screen)" in data


@run_async
async def test_the_jobs_screen_stops_a_recording_of_its_own_console(rig):
    settings = load_settings(rig / "config.toml", rig / "data")
    registry = JobRegistry(rig / "data")
    out = rig / "rec"
    app = make_app(settings, live=False, jobs=registry)
    async with app.run_test(size=(100, 30)) as pilot:
        tab = await open_tab(pilot, out, "own", mode="manual")
        await pilot.press("ctrl+r")
        await until(pilot, lambda: tab.state == "recording" and registry.records(), what="the recording job")
        record = registry.records()[0]
        assert record.origin == "tui" and record.pid == os.getpid() and record.plan == "manual: until stopped"
        await pilot.press("J")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and record.id in app.screen.records,
                    what="the jobs screen")
        await pilot.press("s")
        await until(pilot, lambda: registry.get(record.id).state == "stopped", what="the job stopped")
        await pilot.press("escape")
        await until(pilot, lambda: tab.state == "idle", what="the tab idle")
    data = (out / "own_data.txt").read_text()
    assert "complete (stopped by the operator)" in data and "camdeck tui (jobs screen)" in data
    for i in (1, 2):
        assert decoded_frames(out / f"own_camera_{i}.h264") == frames_on_disk(out / f"own_camera_{i}.pts.txt") > 0
