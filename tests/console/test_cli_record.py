"""`camdeck record`: bad input exits 2 before any camera starts; sessions on the simulated rig."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.console import RECORDER_RIG

REPO = Path(__file__).resolve().parents[2]

# The recorder pair and a third camera that unplugs itself: cheap on two cores.
RIG = RECORDER_RIG + """
[cameras.flaky]
driver = "sim"
model = "IMX708"
label = "loose cable"
camera_num = 2
resolution = [320, 240]
fault_disconnect_after = 12
"""


@pytest.fixture
def rig(workdir):
    (workdir / "config.toml").write_text(RIG)
    return workdir


@pytest.fixture
def no_camera_may_open(monkeypatch):
    """Fails the test if anything opens a camera."""
    from camdeck.drivers import registry as _registry

    def refuse(*args, **kwargs):
        raise AssertionError("a camera was opened before the input was checked")

    monkeypatch.setattr(_registry, "open_camera", refuse)


def decode_count(path: Path) -> int:
    import av

    with av.open(str(path), format="h264" if path.suffix == ".h264" else None) as container:
        return sum(1 for _ in container.decode(video=0))


def timecodes(path: Path) -> list[float]:
    lines = path.read_text().splitlines()
    assert lines[0] == "# timecode format v2"
    return [float(x) for x in lines[1:]]


def test_existing_session_without_overwrite_exits_2_and_keeps_the_files(cli, rig, no_camera_may_open):
    out = rig / "rec"
    out.mkdir()
    (out / "s1_camera_1.h264").write_bytes(b"precious")
    (out / "s1_data.txt").write_text("old data")
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "s1", "--out", out, "--duration", "1s")
    assert r.code == 2, r.err
    assert "--overwrite" in r.err and "s1" in r.err
    assert (out / "s1_camera_1.h264").read_bytes() == b"precious"
    assert (out / "s1_data.txt").read_text() == "old data"
    assert sorted(p.name for p in out.iterdir()) == ["s1_camera_1.h264", "s1_data.txt"]


@pytest.mark.parametrize("name", ["../x", "", "a/b", "..", "x y"])
def test_unsafe_session_name_exits_2(cli, rig, no_camera_may_open, name):
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", name, "--out", rig / "rec", "--duration", "1s")
    assert r.code == 2, r.err
    assert "session name" in r.err
    assert not (rig / "x").exists() and not (rig / "rec").exists()


def test_unwritable_folder_exits_2_before_any_camera(cli, rig, no_camera_may_open):
    blocker = rig / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "s", "--out", blocker / "rec", "--duration", "1s")
    assert r.code == 2, r.err
    assert "not writable" in r.err


@pytest.mark.parametrize("args, words", [
    (["--cameras", "lightroom,nope"], "unknown camera"),
    (["--cameras", "lightroom,lightroom"], "distinct"),
    (["--duration", "soon"], "not a duration"),
    (["--duration", "1s", "--manual"], "exclude"),
    (["--preset", "missing"], "no preset"),
])
def test_other_bad_input_exits_2(cli, rig, no_camera_may_open, args, words):
    base = {"--cameras": "lightroom,darkroom", "--duration": "1s"}
    argv = ["record", "--session", "s", "--out", str(rig / "rec")]
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    r = cli(*argv, *args)
    assert r.code == 2, (r.code, r.err)
    assert words in r.err


def test_timer_session_with_countdown(cli, rig):
    out = rig / "rec"
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "day1", "--out", out, "--duration", "0.6s",
            "--countdown", "0.2s", "--json")
    assert r.code == 0, r.err
    doc = r.json()
    assert doc["outcome"] == "complete" and doc["ok"] and doc["session"] == "day1"
    assert [c["name"] for c in doc["cameras"]] == ["lightroom", "darkroom"]
    for cam in doc["cameras"]:
        video = out / f"day1_camera_{cam['index']}.h264"
        assert decode_count(video) == len(timecodes(out / f"day1_camera_{cam['index']}.pts.txt")) == cam["frames"] > 0
    assert "Recording Delay (Countdown): 0.2 seconds" in (out / "day1_data.txt").read_text()
    again = cli("record", "--cameras", "lightroom,darkroom", "--session", "day1", "--out", out, "--duration", "0.3s",
                "--overwrite", "--json")
    assert again.code == 0, again.err


def test_camera_failing_mid_session_keeps_both_files(cli, rig):
    out = rig / "rec"
    r = cli("record", "--cameras", "lightroom,flaky", "--session", "f", "--out", out, "--duration", "0.6s", "--json")
    doc = json.loads(r.out)
    assert doc["outcome"] == "camera_fault" and not doc["ok"]
    assert "flaky" in r.err and "CameraDisconnected" in r.err
    # the frames the camera gave before it unplugged, but those it gave while warming up
    assert decode_count(out / "f_camera_2.h264") == doc["cameras"][1]["frames"] and 1 <= doc["cameras"][1]["frames"] <= 12
    assert decode_count(out / "f_camera_1.h264") == doc["cameras"][0]["frames"] >= 1
    assert doc["cameras"][0]["status"] == "done" and doc["elapsed_s"] >= 0.6      # it went on to the timer


def test_camera_failing_mid_session_exits_1(cli, rig):
    r = cli("record", "--cameras", "lightroom,flaky", "--session", "f", "--out", rig / "rec", "--duration", "1s")
    assert r.code == 1, r.err


def test_manual_session_ends_cleanly_on_sigterm(rig):
    """--manual in a script: record until SIGTERM, then finish the files and exit 0."""
    out = rig / "rec"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMDECK_")}
    proc = subprocess.Popen([sys.executable, "-c", "from camdeck.console.cli.app import main; main()", "record", "--manual",
                             "--cameras", "lightroom,darkroom", "--session", "m", "--out", str(out), "--json"],
                            cwd=rig, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pts = [out / "m_camera_1.pts.txt", out / "m_camera_2.pts.txt"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:   # wait for frames on disk (flushed each second)
            if all(p.exists() and len(p.read_text().splitlines()) > 4 for p in pts):   # header + 4 frames each
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    doc = json.loads(stdout)
    assert doc["outcome"] == "stopped"
    for cam in doc["cameras"]:
        assert decode_count(out / f"m_camera_{cam['index']}.h264") == cam["frames"] > 3
    assert "stopped by the operator" in (out / "m_data.txt").read_text()


def test_out_of_range_preset_exits_2_before_any_file(cli, rig, user_data_dir):
    """A preset value a camera cannot take is bad input: one line naming the preset, the control
    and the allowed range; no camera starts and no file is written."""
    presets = user_data_dir / "presets"
    presets.mkdir(parents=True)
    (presets / "hot.json").write_text(json.dumps({"name": "hot", "controls": {"ExposureTime": 20000,
                                                                              "AnalogueGain": 99.0}}))
    out = rig / "rec"
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "p", "--out", out, "--duration", "1s",
            "--preset", "hot")
    assert r.code == 2, r.err
    line = [x for x in r.err.splitlines() if x.strip()]
    assert len(line) == 1, r.err
    assert "preset 'hot'" in line[0] and "hot.json" in line[0] and "AnalogueGain=99.0" in line[0]
    assert "out of range" in line[0] and "fix: use 1 to 10.666" in line[0]   # IMX219: its own gain limit
    assert not out.exists() or list(out.iterdir()) == []


def test_cancelled_countdown_exits_1_and_writes_nothing(rig):
    """SIGTERM during the countdown: nothing was recorded, by the operator's choice: exit 1, one line."""
    out = rig / "rec"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMDECK_")}
    proc = subprocess.Popen([sys.executable, "-c", "from camdeck.console.cli.app import main; main()", "record",
                             "--cameras", "lightroom,darkroom", "--session", "c", "--out", str(out),
                             "--duration", "5s", "--countdown", "120s"],
                            cwd=rig, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()             # "starting in 120 (the origin's longest countdown)": the countdown is running
        assert "starting in" in first, first + proc.communicate(timeout=60)[1]
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, stderr
    assert "cancelled before recording started; nothing was written" in stderr
    assert list(out.iterdir()) == []


def one_error_line(r) -> str:
    """The bad-input contract: exit 2, exactly one 'camdeck: error:' line with its fix, no traceback."""
    assert r.code == 2, (r.code, r.err)
    lines = [x for x in r.err.splitlines() if x.startswith("camdeck: error:")]
    assert len(lines) == 1 and "fix:" in lines[0] and "Traceback" not in r.err, r.err
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (["--countdown", "121s"], "--countdown"),          # the origin's countdown: 0-120 s
    (["--countdown", "500s"], "--countdown"),
    (["--duration", "61m"], "--duration"),             # the origin's timer: up to 60 min
    (["--duration", "nan"], "--duration"),
    (["--fps", "nan"], "--fps"),
    (["--fps", "241"], "--fps"),
])
def test_limits_out_of_range_exit_2(cli, rig, no_camera_may_open, args, words):
    argv = ["record", "--cameras", "lightroom,darkroom", "--session", "s", "--out", str(rig / "rec")]
    if "--duration" not in args:
        argv += ["--duration", "1s"]
    line = one_error_line(cli(*argv, *args))
    assert words in line and not (rig / "rec").exists()


def test_the_longest_timer_and_countdown_pass_the_limits(cli, rig):
    """60 min and 120 s are the origin's maxima: accepted (the pre-flight stops this one on disk space)."""
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "s", "--out", rig / "rec", "--duration", "60m",
            "--countdown", "120s", "--min-free-mb", "1000000000")
    line = one_error_line(r)
    assert "MB free" in line and "--duration" not in line.split("fix:")[0]


def test_a_take_past_the_drop_limit_exits_1(cli, workdir):
    """Sensors 200 times faster than the wall (the simulator's own clock knob) drop most frames:
    the take ends "complete with drops", exit 1, and the drop rate is in the JSON."""
    (workdir / "config.toml").write_text(RECORDER_RIG.replace("max_drop_pct = 100.0", "max_drop_pct = 1.0")
                                         .replace("seed = 0", "seed = 0\ntime_factor = 200.0"))
    out = workdir / "rec"
    r = cli("record", "--session", "d", "--out", out, "--duration", "20s", "--json")
    assert r.code == 1, r.err
    doc = r.json()
    assert doc["outcome"] == "complete_with_drops" and not doc["ok"] and doc["result"].startswith("complete with drops")
    assert max(c["drop_pct"] for c in doc["cameras"]) > 1.0
    assert "more than record.max_drop_pct 1 %" in " ".join(r.err.split())     # rich wraps the line


@pytest.fixture
def small_disk(tmp_path):
    """A real 3 MB tmpfs (mounting needs root: skipped where it cannot be mounted, with the reason)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 3 MB tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("fmt", ["h264", "mp4"])
def test_a_full_disk_ends_the_take_with_files_in_step(cli, rig, small_disk, fmt):
    """ENOSPC mid-take: every camera's video and timestamps end at the same last complete frame
    (an MP4's last whole fragment), the take ends "disk full" with exit 1, and the data file (its
    room kept) says so."""
    # the 3 MB fill within seconds: lossless for h264; an MP4 keeps whole fragments (a second each),
    # so crf 14 lets each camera finish some (lossless ones are over 1.5 MB: none would fit)
    crf = "0" if fmt == "h264" else "14"
    r = cli("record", "--cameras", "lightroom,darkroom", "--session", "full", "--out", small_disk, "--manual",
            "--min-free-mb", "0", "--crf", crf, "--format", fmt, "--json")
    assert r.code == 1, r.err
    doc = r.json()
    assert doc["outcome"] == "disk_full" and "disk full" in doc["result"]
    for cam in doc["cameras"]:
        video = small_disk / f"full_camera_{cam['index']}.{fmt}"
        times = timecodes(small_disk / f"full_camera_{cam['index']}.pts.txt")
        assert decode_count(video) == len(times) == cam["frames"] > 0
        assert 0 < cam["bytes"] <= video.stat().st_size      # the bytes kept, not those the disk refused
    text = (small_disk / "full_data.txt").read_text()
    assert "Result:                     stopped early: disk full" in text
    assert not (small_disk / ".full_data.reserve").exists()
    assert "disk full" in r.err and "Traceback" not in r.err
