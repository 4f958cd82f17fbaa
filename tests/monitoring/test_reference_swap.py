"""A failed re-collection never takes the good reference out of use (issue 13, item 2).

Each fault is real: a camera that never settles in time (before the first frame), an ONVIF
camera that goes away mid-scan, and ``kill -9`` of a real ``camdeck monitor collect-references``
process. After each, ``reference/`` is byte for byte the old one and ``camdeck monitor run``
still measures the camera with it; the next collection resumes and swaps in its result.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from camdeck.monitoring.scans import collect_references, read_manifest
from tests.monitoring import ptz_settings

CONFIG = """\
[sim]
seed = 0
time_factor = 200.0

[deployments.site]
tunnel = []

[cameras.cam]
driver = "sim"
model = "PTZ"
deployment = "site"
host = "127.0.0.1"
port = 0
username = "admin"
password = "pw"
resolution = [640, 360]
pan_range_deg = [-180.0, 180.0]
tilt_range_deg = [-20.0, 20.0]
hfov_deg = [60.0, 6.0]
speed_deg_s = 120.0
telemetry_topic = "camdeck/site/cam/telemetry"

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}

[storage]
history_db = "history.sqlite"

[monitor]
horizontal_stops = {stops}
vertical_stops = 1
stabilize_time_s = 0.5
timeout_s = 20.0
"""


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def site(tmp_path, mosquitto):
    """A config (sim camera, 4 stops) and a data dir holding one complete reference."""
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(mqtt_port=mosquitto.port, stops=4))
    data = tmp_path / "data"
    from camdeck.console.config import load_settings

    collect_references(load_settings(config, data), "site/cam", settle_s=0.3)
    return config, data, data / "scans/site/cam/reference"


def _run_ok(cli, config, data) -> dict:
    res = cli("monitor", "run", "--json", "--config", config, "--data-dir", data)
    assert res.code == 0, res.out + res.err
    [row] = res.json()["devices"]
    assert row["success"] is True and max(abs(row[k]) for k in ("pitch_deg", "yaw_deg", "roll_deg")) < 0.05
    return row


def test_a_collection_failing_before_its_first_frame_leaves_the_reference_in_use(cli, site):
    config, data, reference = site
    before = _snapshot(reference)
    res = cli("monitor", "collect-references", "--json", "--timeout", "0.001s", "--config", config,
              "--data-dir", data)
    assert res.code == 1 and "not stable" in res.json()["devices"][0]["error"]
    assert _snapshot(reference) == before
    _run_ok(cli, config, data)
    again = cli("monitor", "collect-references", "--json", "--settle", "0.3s", "--config", config, "--data-dir", data)
    assert again.code == 0, again.out + again.err
    [row] = again.json()["devices"]
    assert row["frames"] == 4 and row["folder"].endswith("reference")
    assert read_manifest(reference)["complete"] is True and not reference.with_name("reference.partial").exists()
    archived = [p for p in reference.parent.iterdir() if p.name.startswith("reference-")]
    assert len(archived) == 1 and _snapshot(archived[0]) == before


def test_a_camera_lost_mid_scan_leaves_the_reference_in_use_and_the_scan_resumes(cli, site, mosquitto):
    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer
    from camdeck.drivers.sim.ptz import SimPtzCamera

    config, data, reference = site
    before = _snapshot(reference)
    base = ptz_settings(data, mqtt_port=mosquitto.port, resolution=(640, 360), tilt_range_deg=[-20.0, 20.0])
    sim = SimPtzCamera(base.cameras["cam"], base.driver_context(), mqtt=("127.0.0.1", mosquitto.port))
    server = OnvifDeviceServer(sim, "admin", "pw").start()
    try:
        settings = ptz_settings(data, mqtt_port=mosquitto.port, onvif_port=server.port, resolution=(640, 360),
                                tilt_range_deg=[-20.0, 20.0])
        target = data / "scans/site/cam-onvif/reference"
        collect_references(settings, "site/cam-onvif", horizontal=4, vertical=1, settle_s=0.3, features="",
                           folder=target)
        old = _snapshot(target)

        def camera_goes_away(stage, done, total):
            if stage == "capture" and done == 2:
                server.stop()                      # the camera drops off the network mid-scan

        with pytest.raises(Exception) as caught:
            collect_references(settings, "site/cam-onvif", horizontal=4, vertical=1, settle_s=0.3, features="",
                               folder=target, timeout_s=3.0, progress=camera_goes_away)
        assert not isinstance(caught.value, AssertionError)
        assert _snapshot(target) == old               # the complete reference is untouched
        partial = read_manifest(target.with_name("reference.partial"))
        assert len(partial["frames"]) == 2 and partial["complete"] is False
        server = OnvifDeviceServer(sim, "admin", "pw", port=server.port).start()
        done = collect_references(settings, "site/cam-onvif", horizontal=4, vertical=1, settle_s=0.3, features="",
                                  folder=target)
        assert (done.frames, done.resumed, done.captured) == (4, 2, 2)
        assert read_manifest(target)["complete"] and _snapshot(done.archived) == old
    finally:
        server.stop()
        sim.close()
    assert _snapshot(reference) == before
    _run_ok(cli, config, data)


def test_kill_9_of_a_collection_leaves_the_reference_in_use_and_the_next_one_resumes(cli, site, tmp_path):
    config, data, reference = site
    before = _snapshot(reference)
    slow = tmp_path / "slow.toml"          # 12 stops: time to be killed in the middle
    slow.write_text(config.read_text().replace("horizontal_stops = 4", "horizontal_stops = 12"))
    staging = reference.with_name("reference.partial")
    proc = subprocess.Popen([sys.executable, "-m", "camdeck.console.cli.app", "monitor", "collect-references",
                             "--json", "--settle", "0.3s", "--config", str(slow), "--data-dir", str(data)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (staging / "manifest.json").is_file() or len(read_manifest(staging)["frames"]) < 2:
            assert proc.poll() is None, "the collection ended before it could be killed"
            assert time.monotonic() < deadline, "the collection never captured two frames"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert _snapshot(reference) == before
    _run_ok(cli, config, data)
    res = cli("monitor", "collect-references", "--json", "--settle", "0.3s", "--config", slow, "--data-dir", data)
    assert res.code == 0, res.out + res.err
    [row] = res.json()["devices"]
    assert row["frames"] == 12 and row["resumed"] >= 2 and row["captured"] == 12 - row["resumed"]
    assert len(read_manifest(reference)["frames"]) == 12


def test_a_crash_between_the_two_renames_is_finished_by_the_next_run(cli, site):
    config, data, reference = site
    staging = reference.with_name("reference.partial")
    os.rename(reference, staging)              # the old one archived, the new one not yet renamed in
    _run_ok(cli, config, data)
    assert read_manifest(reference)["complete"] and not staging.exists()


def test_an_older_camdecks_leftover_empty_reference_no_longer_blocks_collection(cli, site):
    config, data, reference = site
    archived = reference.with_name("reference-20261121T100000Z")
    os.rename(reference, archived)
    (reference / "images").mkdir(parents=True)     # what a failed start of the old code left behind
    res = cli("monitor", "collect-references", "--json", "--settle", "0.3s", "--config", config, "--data-dir", data)
    assert res.code == 0, res.out + res.err
    assert read_manifest(reference)["complete"] is True
