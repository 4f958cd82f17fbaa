"""Jobs outlive the terminal: real `camdeck` processes in a real pty, hung up by closing its master.

The recording and the capture keep going after the hang-up; `camdeck jobs` (a new process) lists
them, and `camdeck jobs stop ID` (another one) stops the manual recording cleanly: every frame of
each .h264 decodes and the data file says "stopped by the operator".
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.console import RECORDER_RIG
from tests.console.jobs_helpers import (CAMDECK, PtyProcess, camdeck, decoded_frames, frames_on_disk, the_job,
                                        wait_until)


@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RECORDER_RIG)
    (workdir / "data").mkdir()
    return workdir


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


def test_a_reconstruction_survives_the_hang_up_and_stops_with_its_grids_saved(workdir):
    """The built-in stereo rig, a 600 s run: hung up, it goes on carving; jobs stop ends it (exit 0).

    The pair's skew limit is widened: on two loaded cores the simulated full-HD pair can fall
    out of step, which is not what this test is about."""
    from camdeck.console.config import BUILTIN_CONFIG

    text = BUILTIN_CONFIG.read_text(encoding="utf-8")
    assert "max_skew_ms = 5.0" in text
    (workdir / "config.toml").write_text(text.replace("max_skew_ms = 5.0", "max_skew_ms = 1000.0"))
    (workdir / "data").mkdir()
    grids = workdir / "grids"
    proc = PtyProcess(["reconstruct", "--rig", "asi-stereo", "--grid", "16", "--duration", "600s",
                       "--save-every", "1ms", "--out", str(grids), "--data-dir", str(workdir / "data")], workdir)
    try:
        wait_until(lambda: grids.is_dir() and any(grids.glob("*.bin")), timeout_s=120, proc=proc)
        proc.hang_up()
        before = len(list(grids.glob("*.bin")))
        wait_until(lambda: len(list(grids.glob("*.bin"))) > before, timeout_s=120, proc=proc)   # still carving
        job = the_job(workdir, "reconstruct")
        assert job["state"] == "running" and job["outputs"] == [str(grids)] and job["plan"] == "600 s"
        stopped = camdeck(workdir, "jobs", "stop", job["id"], "--json")
        assert stopped.returncode == 0, stopped.stderr
        assert proc.wait() == 0
    finally:
        proc.kill()
    record = the_job(workdir, "reconstruct")
    assert record["state"] == "stopped" and "stopped by camdeck jobs stop" in record["outcome"]
    assert "grids saved" in record["outcome"]


def test_a_fleet_run_is_listed_as_a_job_with_its_result(cli, workdir):
    """monitor run registers itself; devices without references fail, so the job says failed, 0 of 1."""
    from tests.console.test_cli_monitor_run import CONFIG

    (workdir / "config.toml").write_text(CONFIG)
    assert cli("monitor", "run", "--device", "site/ptz-1", "--stabilize-time", "0s", "--json").code == 1
    listed = cli("jobs", "--json").json()["jobs"]
    assert [(j["kind"], j["state"], j["outcome"], j["origin"]) for j in listed] == \
        [("fleet-run", "failed", "0 of 1 devices processed", "cli")]
    human = cli("jobs")
    assert human.code == 0 and listed[0]["id"] in human.out and "failed" in human.out


def test_a_timer_recording_hung_up_ends_when_its_timer_does(rig):
    out = rig / "rec"
    proc = PtyProcess(["record", "--duration", "4s", "--session", "t", "--out", str(out),
                       "--data-dir", str(rig / "data")], rig)
    try:
        wait_until(lambda: frames_on_disk(out / "t_camera_1.pts.txt") > 3, proc=proc)
        proc.hang_up()
        assert proc.wait() == 0
    finally:
        proc.kill()
    assert "Result:                     complete (the timer ran out)" in (out / "t_data.txt").read_text()
    job = the_job(rig, "record")
    assert job["state"] == "finished" and job["outcome"] == "complete (the timer ran out)"
    for i in (1, 2):
        assert decoded_frames(out / f"t_camera_{i}.h264") == frames_on_disk(out / f"t_camera_{i}.pts.txt") > 0


def test_jobs_work_with_a_config_whose_rig_has_an_error(cli, workdir):
    """Stopping a job is what is needed when the config is broken: only console.data_dir is read."""
    (workdir / "config.toml").write_text(f'[console]\ndata_dir = "{workdir / "d"}"\n\n[cameras.x]\ndriver = "nope"\n')
    assert cli("cameras", "list").code == 2                        # the config is bad for every other command
    r = cli("jobs", "--json")
    assert r.code == 0, r.err
    assert r.json()["folder"] == str(workdir / "d" / "jobs")
    (workdir / "config.toml").write_text("[console\n")
    r = cli("jobs")
    assert r.code == 2 and "config.toml" in r.err and "fix:" in r.err
