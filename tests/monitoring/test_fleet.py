"""Fleet runs end to end: simulated PTZ cameras behind the ONVIF simulator, telemetry over a real
mosquitto, S3/Athena on a real moto server, Slack on a local server that answers as Slack.

The cameras' truth is the simulator's bump (drivers.sim.ptz_state.write_bump); the fleet sees them only
through onvif-zeep and MQTT, as it would see real cameras.
"""
from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from camdeck.drivers.base import CameraSpec, Secret
from camdeck.drivers.registry import DriverContext
from camdeck.drivers.sim.ptz import SimPtzCamera
from camdeck.drivers.sim.ptz_state import Bump, write_bump, write_lighting
from camdeck.drivers.sim.ptz_world import Lighting
from camdeck.monitoring.errors import MonitoringInputError
from camdeck.monitoring.fleet import fleet_devices, parse_shard
from camdeck.monitoring.history import HistoryStore
from camdeck.monitoring.notify import ALERT_MARK, DELAYED_MARK, FAILED_MARK, OK_MARK
from tests.conftest import ServerProcess, _binary, free_port
from tests.monitoring.test_cloud import moto_server  # noqa: F401  (module-scoped fixture)
from tests.monitoring.test_notify import TOKEN, FakeSlack

CAMERAS = ("ptz-1", "ptz-2")
PASSWORD = "fleet-onvif-pass"


@dataclass
class Rig:
    sim_dir: Path            # the simulator's state (bumps, lighting)
    scans: Path              # reference scans, shared by every test
    mqtt_port: int
    onvif_ports: dict[str, int]


def _spec(name: str, driver: str, port: int = 0, mqtt_port: int = 0) -> CameraSpec:
    options = {"deployment": "site-a" if name == "ptz-1" else "site-b", "host": "127.0.0.1", "port": port,
               "username": "admin", "password": Secret(PASSWORD), "pan_range_deg": (-180.0, 180.0),
               "tilt_range_deg": (-20.0, 20.0), "hfov_deg": (60.0, 6.0), "speed_deg_s": 720.0,
               "telemetry_topic": f"camdeck/test/{name}/telemetry", "align_ypr_deg": (25.0, 0.5, -0.3),
               "frames_from": "snapshot"}
    return CameraSpec(name=name, driver=driver, model="PTZ", resolution=(640, 360), options=options)


def write_config(path: Path, rig: Rig, *, s3: str = "", bucket: str = "", athena: bool = False,
                 slack_url: str = "") -> Path:
    lines = ["[sim]", "seed = 0", "", "[deployments.site-a]", "[deployments.site-b]", ""]
    for name in CAMERAS:
        spec = _spec(name, "onvif")
        o = spec.options
        lines += [f"[cameras.{name}]", 'driver = "onvif"', 'model = "PTZ"', f'deployment = "{o["deployment"]}"',
                  'host = "127.0.0.1"', f"port = {rig.onvif_ports[name]}", 'username = "admin"',
                  f'password = "{PASSWORD}"', "resolution = [640, 360]", "pan_range_deg = [-180.0, 180.0]",
                  "tilt_range_deg = [-20.0, 20.0]", "hfov_deg = [60.0, 6.0]", "speed_deg_s = 720.0",
                  f'telemetry_topic = "{o["telemetry_topic"]}"', ""]
    lines += ["[mqtt]", 'host = "127.0.0.1"', f"port = {rig.mqtt_port}", "",
              "[monitor]", "horizontal_stops = 4", "vertical_stops = 1", "stabilize_time_s = 0.3",
              "timeout_s = 30.0", "", "[storage]", 'history_db = "history.sqlite"']
    if s3:
        lines += [f's3_bucket = "{bucket}"', f's3_endpoint_url = "{s3}"', 's3_prefix = "fleet"']
    if athena:
        lines += ['athena_database = "camdeck"', f'athena_output = "s3://{bucket}/athena-results/"']
    lines += ["", "[slack]", 'channel = "#fleet"', 'token_env = "CAMDECK_TEST_SLACK_TOKEN"']
    if slack_url:
        lines += [f'api_url = "{slack_url}"']
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """Two simulated cameras served over ONVIF, telemetry to a real mosquitto, references collected once."""
    from camdeck.console.config import load_settings
    from camdeck.monitoring.scans import collect_references

    root = tmp_path_factory.mktemp("rig")
    conf = root / "mosquitto.conf"

    def argv(port: int) -> list[str]:
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        return [_binary("mosquitto"), "-c", str(conf)]

    broker = ServerProcess(argv, free_port(), root).start()
    from camdeck.drivers.sim.onvif_server import OnvifDeviceServer

    ctx = DriverContext(data_dir=root / "sim-state", seed=0)
    cams, servers = [], []
    try:
        for name in CAMERAS:
            cam = SimPtzCamera(_spec(name, "sim"), ctx, mqtt=("127.0.0.1", broker.port))
            cams.append(cam)
            servers.append(OnvifDeviceServer(cam, "admin", Secret(PASSWORD)).start())
        rig = Rig(sim_dir=root / "sim-state", scans=root / "data" / "scans", mqtt_port=broker.port,
                  onvif_ports={c.name: s.port for c, s in zip(cams, servers)})
        settings = load_settings(write_config(root / "config.toml", rig), root / "data")
        for name in CAMERAS:
            collect_references(settings, name, settle_s=0.3)
        yield rig
    finally:
        for server in servers:
            server.stop()
        for cam in cams:
            cam.close()
        broker.stop()


@pytest.fixture
def fleet(rig, tmp_path, monkeypatch):
    """A fresh data dir (history, spool, queries) that sees the rig's references; no bump, no lighting change."""
    data = tmp_path / "data"
    data.mkdir()
    os.symlink(rig.scans, data / "scans")
    monkeypatch.setenv("CAMDECK_TEST_SLACK_TOKEN", TOKEN)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(var, value)
    yield data
    for name in CAMERAS:
        write_bump(rig.sim_dir, name, None)
        write_lighting(rig.sim_dir, name, None)


@pytest.fixture
def bucket(moto_server, monkeypatch):  # noqa: F811
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", moto_server)
    name = f"fleet-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket=name)
    return name


def _keys(endpoint: str, bucket: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_a_bumped_camera_is_measured_alerted_stored_and_uploaded(cli, rig, fleet, tmp_path, moto_server,  # noqa: F811
                                                                 bucket):
    bump = Bump(pitch_deg=1.2, yaw_deg=-0.8, roll_deg=0.6)
    write_bump(rig.sim_dir, "ptz-1", bump)
    write_lighting(rig.sim_dir, "ptz-1", Lighting(gain=0.75, gamma=1.2))
    config = write_config(tmp_path / "fleet.toml", rig, s3=moto_server, bucket=bucket, athena=True)
    with FakeSlack() as slack:
        config = write_config(tmp_path / "fleet.toml", rig, s3=moto_server, bucket=bucket, athena=True,
                              slack_url=slack.url + "/api")
        res = cli("monitor", "run", "--json", "--config", config, "--data-dir", fleet)
    assert res.code == 0, res.err
    out = res.json()
    assert out["failed"] == 0
    rows = {d["camera"]: d for d in out["devices"]}
    one, two = rows["ptz-1"], rows["ptz-2"]
    errors = np.abs([one["pitch_deg"] - bump.pitch_deg, one["yaw_deg"] - bump.yaw_deg, one["roll_deg"] - bump.roll_deg])
    print(f"fleet run through ONVIF + MQTT: bump error per axis (pitch, yaw, roll) {np.round(errors, 4)} deg",
          file=sys.__stderr__)   # the cli fixture captures stdout
    assert errors.max() < 0.05
    assert one["alert"] is True and one["success"] is True and one["error"] is None
    assert two["alert"] is False and max(abs(two[k]) for k in ("pitch_deg", "yaw_deg", "roll_deg")) < 0.05
    # history on the SQLite file
    history = HistoryStore(fleet / "history.sqlite").query()
    assert sorted(r.device_id for r in history) == ["ptz-1", "ptz-2"]
    stored = next(r for r in history if r.device_id == "ptz-1")
    assert stored.mode == "passive" and stored.success and stored.capture_positions[0]["tilt_deg"] == pytest.approx(0.0, abs=0.01)
    assert stored.files_location.startswith(f"s3://{bucket}/fleet/site-a/ptz-1/query_scan/")
    # S3: both references once, both queries
    keys = _keys(moto_server, bucket)
    for dep, cam in (("site-a", "ptz-1"), ("site-b", "ptz-2")):
        assert f"fleet/{dep}/{cam}/reference_scan/manifest.json" in keys
        assert sum(k.startswith(f"fleet/{dep}/{cam}/reference_scan/images/") for k in keys) == 4
        assert any(k.startswith(f"fleet/{dep}/{cam}/query_scan/") and k.endswith("manifest.json") for k in keys)
    # Slack: one report per device, with the right marks, and the token never printed
    texts = {r["body"]["text"].split("\n")[0]: r["body"]["text"] for r in slack.requests}
    assert any(t.startswith(ALERT_MARK) and "site-a/ptz-1" in t for t in texts)
    assert any(t.startswith(OK_MARK) and "site-b/ptz-2" in t for t in texts)
    assert TOKEN not in res.out + res.err
    # monitor history shows the same
    hist = cli("monitor", "history", "--json", "--device", "site-a/ptz-1", "--config", config, "--data-dir", fleet)
    assert hist.code == 0
    [row] = hist.json()["history"]
    assert row["alert"] is True and row["pitch_offset_deg"] == pytest.approx(one["pitch_deg"])


def test_a_failed_device_is_logged_and_the_run_goes_on(cli, rig, fleet, tmp_path):
    import shutil

    # site-b/ptz-2 loses its reference (in this test's own scans); ptz-1's view goes flat: too few matches.
    os.unlink(fleet / "scans")
    (fleet / "scans" / "site-a").mkdir(parents=True)
    shutil.copytree(rig.scans / "site-a" / "ptz-1" / "reference", fleet / "scans" / "site-a" / "ptz-1" / "reference")
    write_lighting(rig.sim_dir, "ptz-1", Lighting(gain=0.0, offset=60.0))
    with FakeSlack() as slack:
        config = write_config(tmp_path / "fleet.toml", rig, slack_url=slack.url + "/api")
        res = cli("monitor", "run", "--json", "--config", config, "--data-dir", fleet)
        ok = cli("monitor", "run", "--json", "--device", "site-b", "--config", config, "--data-dir", fleet)
    assert res.code == 1
    out = res.json()
    assert out["failed"] == 2
    rows = {d["camera"]: d for d in out["devices"]}
    assert rows["ptz-1"]["pitch_deg"] is None and "matches" in rows["ptz-1"]["error"]
    assert "no reference scan" in rows["ptz-2"]["error"] and "collect-references" in rows["ptz-2"]["error"]
    assert ok.code == 1 and ok.json()["devices"][0]["camera"] == "ptz-2"
    history = HistoryStore(fleet / "history.sqlite").query()
    assert len(history) == 3 and not any(r.success for r in history)
    assert all(r.failure_logs and r.offsets_deg is None for r in history)
    assert all(r["body"]["text"].startswith(FAILED_MARK) for r in slack.requests) and len(slack.requests) == 3


def test_unreachable_s3_and_slack_are_spooled_or_logged_and_the_run_goes_on(cli, rig, fleet, tmp_path,
                                                                             moto_server, bucket):  # noqa: F811
    dead_s3 = f"http://127.0.0.1:{free_port()}"
    dead_slack = f"http://127.0.0.1:{free_port()}/api"
    config = write_config(tmp_path / "down.toml", rig, s3=dead_s3, bucket=bucket, slack_url=dead_slack)
    res = cli("monitor", "run", "--json", "--device", "site-a/ptz-1", "--config", config, "--data-dir", fleet)
    assert res.code == 0, res.err
    [row] = res.json()["devices"]
    assert row["success"] is True and row["notified"] is False and "Slack API unreachable" in row["notify_error"]
    spool = sorted((fleet / "spool").glob("*.json"))
    assert len(spool) >= 7                      # 4 reference images + manifest + the query's files + the report
    assert TOKEN not in res.out + res.err
    [stored] = HistoryStore(fleet / "history.sqlite").query()
    assert stored.notified is False and "unreachable" in stored.notify_error
    # S3 and Slack are back: the next run sends the spool first (the report marked delayed), then its own
    with FakeSlack() as slack:
        config = write_config(tmp_path / "up.toml", rig, s3=moto_server, bucket=bucket, slack_url=slack.url + "/api")
        res = cli("monitor", "run", "--json", "--device", "site-a/ptz-1", "--config", config, "--data-dir", fleet)
    assert res.code == 0
    assert res.json()["devices"][0]["notified"] is True and "notify_error" not in res.json()["devices"][0]
    assert not list((fleet / "spool").glob("*.json"))
    texts = [r["body"]["text"] for r in slack.requests]
    assert len(texts) == 2 and texts[0].startswith(DELAYED_MARK + " delayed") and texts[1].startswith(OK_MARK)
    assert all(r.notified for r in HistoryStore(fleet / "history.sqlite").query())
    keys = _keys(moto_server, bucket)
    assert "fleet/site-a/ptz-1/reference_scan/manifest.json" in keys
    assert sum(k.endswith("manifest.json") and "/query_scan/" in k for k in keys) == 2


def test_active_runs_drive_to_reference_stops(cli, rig, fleet, tmp_path):
    write_bump(rig.sim_dir, "ptz-2", Bump(yaw_deg=2.0))
    config = write_config(tmp_path / "fleet.toml", rig)
    res = cli("monitor", "run", "--json", "--active", "--device", "site-b/ptz-2", "--stabilize-time", "0.2s",
              "--config", config, "--data-dir", fleet)
    assert res.code == 0, res.out + res.err      # the device row says why it failed
    [row] = res.json()["devices"]
    assert row["yaw_deg"] == pytest.approx(2.0, abs=0.05) and row["alert"] is True
    [stored] = HistoryStore(fleet / "history.sqlite").query()
    assert stored.mode == "active" and len(stored.capture_positions) == 4
    assert sorted(p["pan_deg"] for p in stored.capture_positions) == pytest.approx([-180.0, -90.0, 0.0, 90.0],
                                                                                   abs=0.01)


def test_shards_split_the_fleet_without_overlap(rig, tmp_path):
    from camdeck.console.config import load_settings

    settings = load_settings(write_config(tmp_path / "c.toml", rig), tmp_path)
    everyone = [d.id for d in fleet_devices(settings)]
    parts = [[d.id for d in fleet_devices(settings, shard=(i, 2))] for i in range(2)]
    assert sorted(parts[0] + parts[1]) == everyone and not set(parts[0]) & set(parts[1])
    assert [d.id for d in fleet_devices(settings, "site-b/ptz-2", (0, 1))] == ["site-b/ptz-2"]
    assert parse_shard("1/3") == (1, 3) and parse_shard(None) is None
    for bad in ("3/3", "1-3", "0/0"):
        with pytest.raises(MonitoringInputError):
            parse_shard(bad)
