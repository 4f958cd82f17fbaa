"""`camdeck record --format mp4 / --segment / --pretrigger` as a user runs it: real subprocesses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.console import RECORDER_RIG


@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RECORDER_RIG)
    return workdir


def start_record(rig: Path, *args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMDECK_")}
    return subprocess.Popen([sys.executable, "-c", "from camdeck.console.cli.app import main; main()", "record",
                             "--cameras", "lightroom,darkroom", "--out", str(rig / "rec"), *args],
                            cwd=rig, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def timestamps_us(path: Path) -> list[int]:
    lines = path.read_text().splitlines()
    assert lines[0] == "# timecode format v2"
    return [round(float(x) * 1000) for x in lines[1:]]


def test_a_killed_mp4_take_still_plays(rig):
    """kill -9 mid-take: every fragment on disk decodes, with the pts its timestamps file says."""
    import av

    proc = start_record(rig, "--session", "k", "--manual", "--format", "mp4", "--json")
    pts_files = [rig / "rec" / f"k_camera_{i}.pts.txt" for i in (1, 2)]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:       # two fragments each (a keyframe a second)
            if all(p.exists() and len(p.read_text().splitlines()) > 40 for p in pts_files):
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for i, pts_file in enumerate(pts_files, 1):
        times = timestamps_us(pts_file)
        with av.open(str(rig / "rec" / f"k_camera_{i}.mp4")) as container:
            pts = [f.pts for f in container.decode(video=0)]
        assert len(times) > 40 and len(pts) >= len(times)     # the file may hold one fragment more, never less
        assert pts[:len(times)] == times
        assert all(b > a for a, b in zip(pts, pts[1:]))


@pytest.mark.parametrize("how", ["Enter", "SIGUSR1"])
def test_pretrigger_take_starts_on_enter_or_sigusr1(rig, how):
    import av

    proc = start_record(rig, "--session", "p", "--pretrigger", "1s", "--duration", "0.5s", "--format", "mp4",
                        "--segment", "1s", stdin=subprocess.PIPE)
    try:
        line = proc.stderr.readline()
        assert "armed" in line and "Enter or kill -USR1" in line, line
        time.sleep(3.0)             # the buffer fills (the cameras run while armed; slack for a slow start)
        if how == "Enter":
            proc.stdin.write("\n")
            proc.stdin.flush()
        else:
            proc.send_signal(signal.SIGUSR1)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    data = (rig / "rec" / "p_data.txt").read_text()
    trigger = next(x for x in data.splitlines() if x.startswith("Trigger:"))
    assert f"by {how}" in trigger
    trigger_us = float(trigger.split()[1]) * 1000
    for i in (1, 2):
        parts = sorted((rig / "rec").glob(f"p_camera_{i}_part*.mp4"))
        assert parts and f"Camera {i} part 1:" in data
        with av.open(str(parts[0])) as container:
            pts = [f.pts for f in container.decode(video=0)]
        assert pts == timestamps_us(parts[0].with_suffix(".pts.txt"))
        assert pts[0] <= trigger_us - 1_000_000          # the second before the trigger is in the take


def test_stop_while_armed_exits_1_and_writes_nothing(rig):
    proc = start_record(rig, "--session", "c", "--pretrigger", "5s", "--duration", "1s")
    try:
        line = proc.stderr.readline()
        assert "armed" in line, line
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert "nothing was written" in stderr
    assert not (rig / "rec").exists() or list((rig / "rec").iterdir()) == []


@pytest.mark.parametrize("args, words", [
    (["--format", "avi"], "--format"),
    (["--segment", "0s"], "--segment"),
    (["--segment", "soon"], "--segment"),
    (["--pretrigger", "61s"], "--pretrigger"),
    (["--pretrigger", "nan"], "--pretrigger"),
])
def test_bad_take_options_exit_2(cli, rig, args, words):
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "b", "--out", rig / "rec", "--duration", "1s",
            *args)
    assert r.code == 2, r.err
    errors = [x for x in r.err.splitlines() if x.startswith("camdeck: error:")]
    assert len(errors) == 1 and words in errors[0] and "fix:" in errors[0], r.err
    assert "Traceback" not in r.err
    assert not (rig / "rec").exists()


def test_config_default_format_is_mp4(cli, rig):
    (rig / "config.toml").write_text(RECORDER_RIG + 'format = "mp4"\n')     # RECORDER_RIG ends in [record]
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "d", "--out", rig / "rec", "--duration", "0.3s",
            "--json")
    assert r.code == 0, r.err
    assert sorted(Path(f).name for f in r.json()["files"]) == ["d_camera_1.mp4", "d_camera_1.pts.txt",
                                                                "d_camera_2.mp4", "d_camera_2.pts.txt", "d_data.txt",
                                                                "d_events.txt"]


def test_a_bad_config_format_exits_2_naming_the_key(cli, rig):
    (rig / "config.toml").write_text(RECORDER_RIG + 'format = "avi"\n')     # in [record]
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "d", "--out", rig / "rec", "--duration", "0.3s")
    assert r.code == 2, r.err
    errors = [x for x in r.err.splitlines() if x.startswith("camdeck: error:")]
    assert len(errors) == 1 and "record.format" in errors[0] and "'mp4'" in errors[0], r.err
    assert "Traceback" not in r.err and not (rig / "rec").exists()
