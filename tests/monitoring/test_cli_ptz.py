"""`camdeck sim bump`, `camdeck sim serve` and `camdeck monitor collect-references` from the command line."""
from __future__ import annotations

import dataclasses
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

FAST_CONFIG = (REPO / "config.toml").read_text().replace("time_factor = 1.0", "time_factor = 200.0") \
    .replace("resolution = [1280, 720]", "resolution = [320, 180]")


def test_bump_persists_in_the_data_dir(cli, user_data_dir):
    result = cli("sim", "bump", "ptz-1", "--pitch", "0.5", "--roll", "-0.25", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"camera": "ptz-1", "pitch_deg": 0.5, "yaw_deg": 0.0, "roll_deg": -0.25,
                             "file": str(user_data_dir / "sim" / "bumps.json")}
    assert cli("sim", "bump", "ptz-1", "--yaw", "1", "--json").json()["pitch_deg"] == 0.5     # others kept
    stored = json.loads((user_data_dir / "sim" / "bumps.json").read_text())
    assert stored["ptz-1"] == {"pitch_deg": 0.5, "yaw_deg": 1.0, "roll_deg": -0.25}
    assert cli("sim", "bump", "ptz-1", "--reset", "--json").json()["yaw_deg"] == 0.0


@pytest.mark.parametrize("argv,needle", [(["asi-left", "--pitch", "1"], "not a simulated PTZ camera"),
                                         (["ptz-1", "--pitch", "90"], "--pitch 90: out of range; fix: give --pitch from -45 to 45"),
                                         (["ptz-1"], "nothing to do"),
                                         (["nope", "--pitch", "1"], "unknown camera")])
def test_bump_bad_input_exits_2(cli, argv, needle):
    result = cli("sim", "bump", *argv, "--json")
    assert result.code == 2 and needle in result.json()["error"]


def test_collect_references_from_the_cli(cli, workdir):
    (workdir / "config.toml").write_text(FAST_CONFIG)
    result = cli("monitor", "collect-references", "--device", "sim-site/ptz-2", "--horizontal-stops", "2",
                 "--vertical-stops", "1", "--settle", "0.5s", "--features", "none", "--json")
    assert result.code == 0, result.err
    row = result.json()["devices"][0]
    assert row["success"] and row["frames"] == 2 and result.json()["failed"] == 0
    manifest = json.loads(Path(row["manifest"]).read_text())
    assert [f["pan_deg"] for f in manifest["frames"]] == [-180.0, 0.0]
    assert cli("monitor", "collect-references", "--device", "mars/ptz-9", "--json").code == 2


def _read_lines(proc, n, timeout_s):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    lines, buf, deadline = [], b"", time.monotonic() + timeout_s
    while len(lines) < n and time.monotonic() < deadline:
        if sel.select(timeout=0.2):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.split(b"\n")
            lines.extend(json.loads(line) for line in done if line.strip())
    return lines


def test_sim_serve_prints_devices_and_serves_the_real_client(tmp_path, mosquitto):
    from camdeck.drivers.base import CameraSpec, Secret
    from camdeck.drivers.onvif_ptz import OnvifPtzCamera

    (tmp_path / "config.toml").write_text(FAST_CONFIG)
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    proc = subprocess.Popen([sys.executable, "-m", "camdeck.console.cli.app", "sim", "serve", "--json", "--mqtt",
                             f"127.0.0.1:{mosquitto.port}", "--password", "pw2", "--data-dir", str(tmp_path / "d")],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        lines = _read_lines(proc, 2, 60.0)
        assert [(l["deployment"], l["camera"], l["host"]) for l in lines] == [("sim-site", "ptz-1", "127.0.0.1"),
                                                                             ("sim-site", "ptz-2", "127.0.0.1")]
        assert lines[0]["telemetry_topic"] == "camdeck/sim-site/ptz-1/telemetry"
        spec = CameraSpec(name="remote", driver="onvif", model="PTZ", options={
            "deployment": "sim-site", "host": "127.0.0.1", "port": lines[0]["port"], "username": "admin",
            "password": Secret("pw2"), "pan_range_deg": (-180.0, 180.0), "tilt_range_deg": (-30.0, 90.0)})
        with OnvifPtzCamera(spec) as cam:
            cam.move_absolute(45.0, 30.0, 0.0, timeout_s=20.0)
            assert cam.position() == pytest.approx((45.0, 30.0, 0.0), abs=1e-4)
            assert cam.capture().array.shape == (180, 320, 3)
        assert lines[0]["rtsp_port"] not in (lines[0]["port"], lines[1]["rtsp_port"])
        with OnvifPtzCamera(dataclasses.replace(spec, options=dict(spec.options, frames_from="rtsp"))) as cam:
            frame = cam.capture(timeout_s=20.0)
            assert frame.array.shape == (180, 320, 3) and frame.meta["source"] == "rtsp"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0, proc.stderr.read().decode()
